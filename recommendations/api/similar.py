from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api.serializers import ProductCardSerializer, SimilarProductSerializer, product_card_data
from catalog.models import Product
from recommendations.selectors import looks_similar
from recommendations.selectors.generation import serving_values
from recommendations.selectors.product_page import ProductPageLists, goes_well_with, lists_merchandised


class SimilarQuery(serializers.Serializer):
    k = serializers.IntegerField(min_value=1, max_value=50, default=12, help_text="How many, 1 to 50.")


class _ProductListApi(APIView):
    """A list of one active product's page, ``k`` long (SimilarQuery): a clear 400 for a bad ``k``,
    a 404 for no such product; the subclass says what the list holds."""

    def get(self, request: Request, pk: int) -> Response:
        query = SimilarQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        product = get_object_or_404(Product.objects.filter(is_active=True), pk=pk)
        return Response(self.items(product, query.validated_data["k"], request))

    def items(self, product: Product, k: int, request: Request) -> list[dict]:
        raise NotImplementedError


_ERRORS = {
    400: OpenApiResponse(description="k is out of range; the body says so."),
    404: OpenApiResponse(description="No such active product."),
}


class SimilarProductsApi(_ProductListApi):
    """Products that look like this one: in stock, of a compatible gender, never itself (the product page's list)."""

    @extend_schema(parameters=[SimilarQuery], responses={200: SimilarProductSerializer(many=True), **_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return super().get(request, pk)

    def items(self, product: Product, k: int, request: Request) -> list[dict]:
        # Through staff's rules as the product page's "Looks similar" (row product.similar).
        lists, _ = lists_merchandised(ProductPageLists(similar=looks_similar(product=product, k=k)), product,
                                      serving_values(), size=k)  # fmt: skip
        similar = lists.similar
        # SimilarProductSerializer's fields (the schema), from the cards' data serialized once each.
        return [
            {**product_card_data(card, request), "distance": distance}
            for card, distance in zip(similar.products, similar.distances, strict=True)
        ]


class GoesWellWithApi(_ProductListApi):
    """What is bought with this product (the product page's "Goes well with"): the after-a-click
    ranking of the active ranker, in stock, of a compatible gender, never itself; empty until a
    ranker is trained."""

    @extend_schema(parameters=[SimilarQuery], responses={200: ProductCardSerializer(many=True), **_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return super().get(request, pk)

    def items(self, product: Product, k: int, request: Request) -> list[dict]:
        lists, _ = lists_merchandised(ProductPageLists(goes_with=goes_well_with(product=product, k=k)), product,
                                      serving_values(), size=k)  # fmt: skip
        return [product_card_data(card, request) for card in lists.goes_with]
