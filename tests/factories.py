import io

import factory
import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog.models import Gender, Product, ProductImage
from recommendations.models import EmbeddingStatus, ProductEmbedding


def photo_bytes(colour=(200, 30, 30), size=(200, 300), fmt="JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, fmt)
    return buffer.getvalue()


def photo_upload(name="photo.jpg", **kwargs) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, photo_bytes(**kwargs), content_type="image/jpeg")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    external_id = factory.Sequence(lambda n: f"t{n:09d}")
    name = factory.Faker("word")
    gender = Gender.WOMEN
    category = "Garment Upper body"
    article_type = "T-shirt"
    colour = "Black"
    price = 10
    stock_quantity = 5


class EmbeddedProductFactory(ProductFactory):
    """A product with a stored unit vector for the default encoder (no photo needed).

    ``embedding=vector`` sets the vector; ``embedding__model=...``/``embedding__status=...`` the rest.
    ``build()`` makes no row (bulk writers create the rows with ``embedding_rows``)."""

    class Meta:
        skip_postgeneration_save = True

    @factory.post_generation
    def embedding(product, create, vector, model="efficientnet_lite0/v1", status=EmbeddingStatus.DONE, **kwargs):
        if not create:
            return
        if vector is None:
            vector = np.random.default_rng().normal(size=1280)
            vector = vector / np.linalg.norm(vector)
        ProductEmbedding.objects.create(
            product=product, vector=vector, model=model, status=status, photo_version=product.photo_version
        )


class ProductImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductImage

    product = factory.SubFactory(ProductFactory)
    image = factory.django.ImageField(width=200, height=300, color="red", format="JPEG")
    is_primary = True


def admin_product_form(product: Product, photo, **fields) -> dict:
    """The admin's change form for ``product`` with one new primary photo in the inline."""
    return {
        "external_id": product.external_id, "name": product.name, "description": "", "gender": product.gender,
        "price": "10", "stock_quantity": "3", "is_active": "on", "category": "", "subcategory": "",
        "article_type": "", "colour": "",
        "images-TOTAL_FORMS": "1", "images-INITIAL_FORMS": "0", "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000", "images-0-image": photo, "images-0-is_primary": "on",
        "images-0-position": "0", **fields,
    }  # fmt: skip


def embedding_rows(products, vectors, model: str = "efficientnet_lite0/v1") -> list[ProductEmbedding]:
    """Embedding rows for saved products, in one INSERT."""
    return ProductEmbedding.objects.bulk_create(
        [
            ProductEmbedding(product=p, vector=v, model=model, status=EmbeddingStatus.DONE)
            for p, v in zip(products, vectors, strict=True)
        ]
    )
