from functools import lru_cache

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from catalog.cards import ProductCard
from catalog.models import Product, ProductImage


class ProductImageSerializer(serializers.ModelSerializer):
    url = serializers.ImageField(source="image", read_only=True)

    class Meta:
        model = ProductImage
        fields = ["id", "url", "width", "height", "is_primary"]


class ProductListSerializer(serializers.ModelSerializer):
    in_stock = serializers.BooleanField(read_only=True)
    image = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = ["id", "external_id", "name", "gender", "category", "subcategory", "article_type", "colour",
                  "price", "in_stock", "image"]  # fmt: skip

    def get_image(self, product: Product) -> str | None:
        image = product.primary_image
        if image is None:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(image.image.url) if request else image.image.url


class OtherColourSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    colour = serializers.CharField()


class ProductCardSerializer(serializers.Serializer):
    """A product as a list shows it, from a card record (catalog.cards): the same fields as
    ProductListSerializer, without reading the product again."""

    id = serializers.IntegerField()
    external_id = serializers.CharField()
    name = serializers.CharField()
    gender = serializers.ChoiceField(choices=Product._meta.get_field("gender").choices)
    category = serializers.CharField()
    subcategory = serializers.CharField()
    article_type = serializers.CharField()
    colour = serializers.CharField()
    price = serializers.DecimalField(max_digits=10, decimal_places=2)
    in_stock = serializers.BooleanField()
    image = serializers.SerializerMethodField()

    def get_image(self, card) -> str | None:
        if card.image_url is None:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(card.image_url) if request else card.image_url


class RecommendedProductSerializer(ProductCardSerializer):
    """A recommendation's product: one card stands for the product, so it carries its other colours."""

    colours = serializers.SerializerMethodField(
        help_text="The product's other colours on sale, in id order: for swatches, each opens its own product."
    )

    @extend_schema_field(OtherColourSerializer(many=True))
    def get_colours(self, card) -> list[dict]:
        return [{"id": pk, "colour": colour} for pk, colour in card.colours]


def product_card_data(card: ProductCard, request: Request, *, colours: bool = False) -> dict:
    """ProductCardSerializer's output for this card (RecommendedProductSerializer's with ``colours``),
    serialized once per card record and origin and kept (a list of 48 cards through DRF's fields cost
    the recommendations API about 10 ms). The dict is shared: read it, never change it."""
    return _card_data(card, request.build_absolute_uri("/"), colours)


@lru_cache(maxsize=20_000)
def _card_data(card: ProductCard, root: str, colours: bool) -> dict:
    data = dict((RecommendedProductSerializer if colours else ProductCardSerializer)(card).data)
    if card.image_url is not None and card.image_url.startswith("/") and not card.image_url.startswith("//"):
        data["image"] = root.removesuffix("/") + card.image_url  # build_absolute_uri's answer for a path
    return data


class ProductDetailSerializer(ProductListSerializer):
    images = ProductImageSerializer(many=True, read_only=True)

    class Meta(ProductListSerializer.Meta):
        fields = [*ProductListSerializer.Meta.fields, "description", "stock_quantity", "product_group", "images"]


class SimilarProductSerializer(ProductListSerializer):
    distance = serializers.FloatField(read_only=True, help_text="Cosine distance to the product (0 = identical).")

    class Meta(ProductListSerializer.Meta):
        fields = [*ProductListSerializer.Meta.fields, "distance"]
