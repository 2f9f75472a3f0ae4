from django.conf import settings
from django.contrib import admin
from django.urls import path, re_path
from django.views.static import serve

from storefront import views

urlpatterns = [
    path("", views.home, name="home"),
    path("products/<int:pk>/", views.product_detail, name="product-detail"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

if settings.SERVE_MEDIA:
    # The demo serves photos itself; production leaves SERVE_MEDIA off and uses nginx or a CDN.
    urlpatterns += [
        re_path(rf"^{settings.MEDIA_URL.strip('/')}/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    ]
