from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api.serializers import ProductCardSerializer, SimilarProductSerializer, product_card_data
from catalog.models import Product
from recommendations.selectors import looks_similar
from recommendations.selectors.product_page import goes_well_with


class SimilarQuery(serializers.Serializer):
    k = serializers.IntegerField(min_value=1, max_value=50, default=12, help_text="How many, 1 to 50.")


class SimilarProductsApi(APIView):
    """Products that look like this one: in stock, of a compatible gender, never itself (the product page's list)."""

    @extend_schema(
        parameters=[SimilarQuery],
        responses={200: SimilarProductSerializer(many=True),
                   400: OpenApiResponse(description="k is out of range; the body says so."),
                   404: OpenApiResponse(description="No such active product.")},
    )  # fmt: skip
    def get(self, request: Request, pk: int) -> Response:
        query = SimilarQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        product = get_object_or_404(Product.objects.filter(is_active=True), pk=pk)
        similar = looks_similar(product=product, k=query.validated_data["k"])
        # SimilarProductSerializer's fields (the schema), from the cards' data serialized once each.
        return Response(
            [
                {**product_card_data(card, request), "distance": distance}
                for card, distance in zip(similar.products, similar.distances, strict=True)
            ]
        )


class GoesWellWithApi(APIView):
    """What is bought with this product (the product page's "Goes well with"): the after-a-click
    ranking of the active ranker, in stock, of a compatible gender, never itself; empty until a
    ranker is trained."""

    @extend_schema(
        parameters=[SimilarQuery],
        responses={200: ProductCardSerializer(many=True),
                   400: OpenApiResponse(description="k is out of range; the body says so."),
                   404: OpenApiResponse(description="No such active product.")},
    )  # fmt: skip
    def get(self, request: Request, pk: int) -> Response:
        query = SimilarQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        product = get_object_or_404(Product.objects.filter(is_active=True), pk=pk)
        cards = goes_well_with(product=product, k=query.validated_data["k"])
        return Response([product_card_data(card, request) for card in cards])
