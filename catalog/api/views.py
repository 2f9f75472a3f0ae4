from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api.filters import ProductFilter
from catalog.api.pagination import CursorPage
from catalog.api.serializers import ProductDetailSerializer, ProductListSerializer, SimilarProductSerializer
from catalog.api.writes import ProductCreateMixin, ProductUpdateMixin, StaffWritesOthersRead
from catalog.models import Product
from recommendations.selectors import products_similar_to_product

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
    queryset = Product.objects.filter(is_active=True).defer("embedding").prefetch_related("images")


@extend_schema_view(get=extend_schema(responses={200: ProductDetailSerializer, 404: NOT_FOUND}))
class ProductDetailApi(ProductUpdateMixin, generics.RetrieveAPIView):
    """One active product with all its photos; staff update it here."""

    permission_classes = [StaffWritesOthersRead]
    serializer_class = ProductDetailSerializer
    queryset = Product.objects.filter(is_active=True).defer("embedding").prefetch_related("images")


class SimilarQuery(serializers.Serializer):
    k = serializers.IntegerField(min_value=1, max_value=50, default=12, help_text="How many, 1 to 50.")


class SimilarProductsApi(APIView):
    """Products that look like this one: in stock, of a compatible gender, never itself (the product page's list)."""

    @extend_schema(
        parameters=[SimilarQuery],
        responses={200: SimilarProductSerializer(many=True), 400: BAD_FILTER, 404: NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        query = SimilarQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        product = get_object_or_404(Product.objects.filter(is_active=True), pk=pk)
        similar = products_similar_to_product(product=product, k=query.validated_data["k"])
        return Response(SimilarProductSerializer(similar, many=True, context={"request": request}).data)
