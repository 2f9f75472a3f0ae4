"""Search by photo: embed the shopper's photo with the catalog's encoder, then the same HNSW query
and filters as "Looks similar". The first search loads PyTorch into the web process (a few
seconds, about 300 MB); the store's pages never do."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api.serializers import SimilarProductSerializer
from catalog.api.writes import check_upload_size
from catalog.gender import compatible_genders
from catalog.images import ImageRejected, image_decode
from catalog.models import Gender
from recommendations.encoders import get_encoder
from recommendations.selectors import products_similar_to_vector


class PhotoSearchSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="JPEG, PNG or WebP.")
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, help_text="Only compatible products.")
    k = serializers.IntegerField(min_value=1, max_value=50, default=12)


class PhotoSearchApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request=PhotoSearchSerializer,
        responses={200: SimilarProductSerializer(many=True),
                   400: OpenApiResponse(description="Not an image, corrupt, truncated or a decompression bomb."),
                   413: OpenApiResponse(description="Larger than the upload limit.")},
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        serializer = PhotoSearchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["image"]
        check_upload_size(upload)
        try:
            photo = image_decode(upload)
        except ImageRejected as exc:
            raise serializers.ValidationError({"image": [str(exc)]}) from None
        encoder = get_encoder()
        vector = encoder.embed([encoder.preprocess(photo)])[0]
        gender = serializer.validated_data.get("gender")
        products = products_similar_to_vector(
            vector=vector, genders=compatible_genders(gender) if gender else None, k=serializer.validated_data["k"]
        )
        return Response(SimilarProductSerializer(products, many=True, context={"request": request}).data)
