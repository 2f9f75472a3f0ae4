from allauth.account import views as allauth_views
from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic.base import RedirectView

from storefront import account, cart, categories, demo_login, media, photo_search, search, views
from storefront.accounts import own_password_only

# Staff sign in through the store's sign-in page too, so its rate limits guard the admin as well
# (the admin's own form has none): /admin/login/ redirects there and back.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    # Browsers ask for /favicon.ico whatever the page says: every page logged a 404 for it.
    path("favicon.ico", RedirectView.as_view(url=static("storefront/favicon.ico"), permanent=True)),
    path("", views.home, name="home"),
    path("browse/", views.browse, name="browse"),
    path("search/", search.search_page, name="search"),
    path("search/photo/", photo_search.photo_search_page, name="photo-search"),
    path("shop/", categories.shop_page, name="shop"),
    path("products/<int:pk>/", views.product_detail, name="product-detail"),
    path("preferences/gender/", views.gender_choose, name="gender-choose"),
    path("cart/", cart.cart_show, name="cart"),
    path("cart/add/<int:pk>/", cart.cart_add, name="cart-add"),
    path("cart/update/<int:pk>/", cart.cart_update, name="cart-update"),
    path("cart/checkout/", cart.checkout, name="checkout"),
    path("logout/", demo_login.sign_out, name="logout"),
    # Before allauth's own: the same pages, refused to accounts without a password of their own.
    path("accounts/password/set/", own_password_only(allauth_views.password_set), name="account_set_password"),
    path(
        "accounts/password/change/", own_password_only(allauth_views.password_change), name="account_change_password"
    ),  # fmt: skip
    path("accounts/email/", own_password_only(allauth_views.email), name="account_email"),
    path("accounts/", include("allauth.urls")),
    path("account/", account.account_page, name="account"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("storefront.api_urls")),
]

if settings.DEMO_LOGIN_ENABLED:
    urlpatterns += [
        path("demo/customers/", demo_login.customers, name="demo-customers"),
        path("demo/login/<int:pk>/", demo_login.login_as, name="demo-login"),
    ]

if settings.SERVE_MEDIA:
    # The demo serves photos itself; production leaves SERVE_MEDIA off and uses nginx or a CDN.
    urlpatterns += [
        re_path(rf"^{settings.MEDIA_URL.strip('/')}/(?P<path>.*)$", media.media_serve),
    ]

handler500 = "storefront.errors.server_error"
handler404 = "storefront.errors.not_found"
