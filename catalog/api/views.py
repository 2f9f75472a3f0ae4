from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics

from catalog.api.filters import ProductFilter
from catalog.api.pagination import CursorPage
from catalog.api.serializers import ProductDetailSerializer, ProductListSerializer
from catalog.api.writes import ProductCreateMixin, ProductUpdateMixin, StaffWritesOthersRead
from catalog.models import Product

NOT_FOUND = OpenApiResponse(description="No such active product.")
BAD_FILTER = OpenApiResponse(description="A query parameter (a filter, k, the cursor) is invalid; the body names it.")


class ProductCursorPagination(CursorPage):
    ordering = "id"  # unique and stable: pages never skip or repeat while the catalog changes


@extend_schema_view(get=extend_schema(responses={200: ProductListSerializer(many=True), 400: BAD_FILTER}))
class ProductListApi(ProductCreateMixin, generics.ListAPIView):
    """Active products, filtered, in cursor-paginated pages; staff create products here."""

    permission_classes = [StaffWritesOthersRead]
    serializer_class = ProductListSerializer
    filterset_class = ProductFilter
    pagination_class = ProductCursorPagination
    queryset = Product.objects.filter(is_active=True).prefetch_related("images")


@extend_schema_view(get=extend_schema(responses={200: ProductDetailSerializer, 404: NOT_FOUND}))
class ProductDetailApi(ProductUpdateMixin, generics.RetrieveAPIView):
    """One active product with all its photos; staff update it here."""

    permission_classes = [StaffWritesOthersRead]
    serializer_class = ProductDetailSerializer
    queryset = Product.objects.filter(is_active=True).prefetch_related("images")
