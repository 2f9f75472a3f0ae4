"""Staff-only catalog writes: the same services as the admin, so photos queue embedding the same way."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api.serializers import ProductDetailSerializer, ProductImageSerializer
from catalog.api.uploads import photo_refusals
from catalog.models import Product
from catalog.services import PRODUCT_WRITABLE, product_create, product_image_add, product_update

INVALID = OpenApiResponse(description="Field-level errors.")
NOT_SIGNED_IN = OpenApiResponse(description="No credentials.")
NOT_STAFF = OpenApiResponse(description="Only staff change the catalog.")
NO_PRODUCT = OpenApiResponse(description="No such product.")


class ProductWriteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = PRODUCT_WRITABLE


class StaffWritesOthersRead(permissions.BasePermission):
    """Anyone reads the catalog; only staff change it."""

    def has_permission(self, request, view) -> bool:
        return request.method in permissions.SAFE_METHODS or bool(request.user and request.user.is_staff)


class ProductCreateMixin:
    @extend_schema(
        request=ProductWriteSerializer,
        responses={201: ProductDetailSerializer, 400: INVALID, 401: NOT_SIGNED_IN, 403: NOT_STAFF},
    )
    def post(self, request: Request) -> Response:
        serializer = ProductWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = product_create(**serializer.validated_data)
        return Response(ProductDetailSerializer(product, context={"request": request}).data, status=201)


class ProductUpdateMixin:
    @extend_schema(
        request=ProductWriteSerializer,
        responses={200: ProductDetailSerializer, 400: INVALID, 401: NOT_SIGNED_IN, 403: NOT_STAFF, 404: NO_PRODUCT},
    )
    def patch(self, request: Request, pk: int) -> Response:
        product = get_object_or_404(Product, pk=pk)
        serializer = ProductWriteSerializer(product, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        product = product_update(product=product, **serializer.validated_data)
        return Response(ProductDetailSerializer(product, context={"request": request}).data)


class PhotoUploadSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="JPEG, PNG or WebP; at most MAX_IMAGE_UPLOAD_BYTES.")
    make_primary = serializers.BooleanField(default=True)


class ProductPhotoUploadApi(APIView):
    permission_classes = [permissions.IsAdminUser]
    parser_classes = [MultiPartParser]

    @extend_schema(
        request=PhotoUploadSerializer,
        responses={201: ProductImageSerializer,
                   200: OpenApiResponse(ProductImageSerializer, description="The product already has these bytes."),
                   400: OpenApiResponse(description="Not an image, corrupt, or a bomb."),
                   401: NOT_SIGNED_IN, 403: NOT_STAFF, 404: NO_PRODUCT,
                   413: OpenApiResponse(description="Larger than the upload limit.")},
    )  # fmt: skip
    def post(self, request: Request, pk: int) -> Response:
        product = get_object_or_404(Product, pk=pk)
        serializer = PhotoUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with photo_refusals():  # the service validates the photo, as the admin's form does
            added = product_image_add(
                product=product, file=serializer.validated_data["image"],
                make_primary=serializer.validated_data["make_primary"],
            )  # fmt: skip
        data = ProductImageSerializer(added.image, context={"request": request}).data
        return Response(data, status=201 if added.created else 200)
