"""The versioned API for mobile clients: /api/v1/ (schema at /api/v1/schema/, docs at /api/v1/docs/)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from catalog.api.views import ProductDetailApi, ProductListApi
from catalog.api.writes import ProductPhotoUploadApi
from experiments.services.impressions import ApiMeasurement
from merchandising.api.views import RuleViewSet
from recommendations.api.history import MyEventsApi
from recommendations.api.photo_search import PhotoSearchApi
from recommendations.api.search import SearchApi
from recommendations.api.similar import GoesWellWithApi, SimilarProductsApi
from recommendations.api.views import EventsApi, RecommendationsApi
from storefront.api_auth import AuthTokenApi

app_name = "api"
urlpatterns = [
    path("products/", ProductListApi.as_view(), name="product-list"),
    path("products/<int:pk>/", ProductDetailApi.as_view(), name="product-detail"),
    path("products/<int:pk>/similar/", SimilarProductsApi.as_view(), name="product-similar"),
    path("products/<int:pk>/goes-with/", GoesWellWithApi.as_view(), name="product-goes-with"),
    path("products/<int:pk>/images/", ProductPhotoUploadApi.as_view(), name="product-images"),
    path("recommendations/", RecommendationsApi.as_view(measurement=ApiMeasurement), name="recommendations"),
    path("events/", EventsApi.as_view(), name="events"),
    path("me/events/", MyEventsApi.as_view(), name="my-events"),
    path("search/", SearchApi.as_view(), name="search"),
    path("search/photo/", PhotoSearchApi.as_view(), name="photo-search"),
    path("auth/token/", AuthTokenApi.as_view(), name="auth-token"),
    path("merchandising/rules/", RuleViewSet.as_view({"get": "list", "post": "create"}), name="rule-list"),
    path(
        "merchandising/rules/<int:pk>/",
        RuleViewSet.as_view({"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}),
        name="rule-detail",
    ),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    # The split view serves Swagger UI's start-up script as a file, so the docs need no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]
