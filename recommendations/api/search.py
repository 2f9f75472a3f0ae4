"""GET /api/v1/search/?q=: the store's search for apps, ranked for the caller as the page is."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api.serializers import ProductCardSerializer, product_card_data
from catalog.cards import product_cards
from catalog.search import MAX_QUERY_LENGTH, search_log
from recommendations.selectors.search import search_served


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=MAX_QUERY_LENGTH, help_text="What to look for; misspellings are corrected.")
    order = serializers.ChoiceField(
        choices=["personal", "relevance"], default="personal",
        help_text="personal: text relevance blended with the caller's own order (SEARCH_PERSONAL_WEIGHT); "
                  "relevance: text relevance alone.",
    )  # fmt: skip
    page = serializers.IntegerField(min_value=1, max_value=10_000, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=100, default=24)


class SearchResultsSerializer(serializers.Serializer):
    query = serializers.CharField()
    searched = serializers.CharField(help_text="The words searched for, after corrections.")
    corrections = serializers.DictField(child=serializers.CharField(), help_text="Misspelt word -> catalog word.")
    all_words = serializers.BooleanField(help_text="False: no product matched every word; these match some.")
    personalised_by = serializers.CharField(help_text='"ranker", "visual", "popularity", or "" (relevance alone).')
    count = serializers.IntegerField(help_text="Matches in all (at most SEARCH_MAX_MATCHES).")
    page = serializers.IntegerField()
    results = ProductCardSerializer(many=True)
    fallback_category = serializers.CharField(
        allow_blank=True, help_text="No match: the category nearest the query, whose best sellers follow."
    )
    fallback = ProductCardSerializer(many=True, help_text="No match: best sellers instead.")


class SearchApi(APIView):
    @extend_schema(
        parameters=[SearchQuerySerializer],
        responses={200: SearchResultsSerializer, 400: OpenApiResponse(description="No q, or a bad parameter.")},
    )
    def get(self, request: Request) -> Response:
        """Products matching ``q`` (name, type, colour, department, categories, description), in stock,
        of the caller's chosen gender if any, ordered for the caller (a signed-in user, a token's user,
        or the anonymous visitor of X-Visitor-Id)."""
        params = SearchQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query, size, number = (
            params.validated_data["q"],
            params.validated_data["page_size"],
            params.validated_data["page"],
        )
        user_id = request.user.pk if request.user.is_authenticated else None
        personalise = params.validated_data["order"] == "personal"
        results = search_served(query=query, user_id=user_id, visitor=request.visitor, personalise=personalise)
        if number == 1:
            search_log(query=query, results=len(results.product_ids))
        shown = results.product_ids[(number - 1) * size : number * size]
        cards = product_cards(versions={}, unversioned=shown + results.fallback_ids)
        data = {
            "query": results.text.query,
            "searched": results.text.searched,
            "corrections": results.text.corrections,
            "all_words": results.text.all_words,
            "personalised_by": results.personalised_by,
            "count": len(results.product_ids),
            "page": number,
            "results": [product_card_data(cards[pid], request) for pid in shown if pid in cards],
            "fallback_category": results.fallback_category,
            "fallback": [product_card_data(cards[pid], request) for pid in results.fallback_ids if pid in cards],
        }
        return Response(data)
