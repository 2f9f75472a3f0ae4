"""Search by photo: the upload is checked here (a clear 400 or 413), embedded by a Celery worker
(recommendations.selectors.photo_search), then matched with the same filters as "Looks similar"."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api.serializers import SimilarProductSerializer
from catalog.api.uploads import photo_refusals
from catalog.models import Gender
from catalog.validators import validate_product_photo
from recommendations.selectors.photo_search import PhotoSearchUnavailable, products_similar_to_photo


class PhotoSearchSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="JPEG, PNG or WebP.")
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, help_text="Only compatible products.")
    k = serializers.IntegerField(min_value=1, max_value=50, default=12)


class PhotoSearchApi(APIView):
    parser_classes = [MultiPartParser]
    # PHOTO_SEARCH_PER_MINUTE per client address, counted with the store's page (storefront.throttling).
    throttle_scope = "photo_search"

    @extend_schema(
        request=PhotoSearchSerializer,
        responses={200: SimilarProductSerializer(many=True),
                   400: OpenApiResponse(description="Not an image, corrupt, truncated or a decompression bomb."),
                   413: OpenApiResponse(description="Larger than the upload limit."),
                   429: OpenApiResponse(description="Over PHOTO_SEARCH_PER_MINUTE from this address; see Retry-After."),
                   503: OpenApiResponse(description="No embedding worker answered in time, or too many searches "
                                                    "wait already; retry after Retry-After seconds.")},
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        serializer = PhotoSearchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["image"]
        with photo_refusals():  # refuse a bad photo here, with the reason, before queueing it
            validate_product_photo(upload)
        try:
            products = products_similar_to_photo(
                data=upload.read(), gender=serializer.validated_data.get("gender"), k=serializer.validated_data["k"]
            )
        except PhotoSearchUnavailable as exc:
            response = Response({"detail": str(exc)}, status=503, headers={"Retry-After": str(exc.retry_after)})
            # An expected refusal, logged by the selector: not one of Django's ERROR lines for a 5xx.
            response._has_been_logged = True
            return response
        return Response(SimilarProductSerializer(products, many=True, context={"request": request}).data)
