"""Known answers: the default encoder carries real ImageNet weights, not random ones."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from recommendations.encoders import REGISTRY, encoder_class, get_encoder
from recommendations.encoders.efficientnet import EfficientNetLite0

CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


@pytest.fixture(scope="module")
def encoder():
    return get_encoder("efficientnet_lite0")


def top5(encoder, photo: np.ndarray) -> list[int]:
    logits = encoder.classify([encoder.preprocess(Image.fromarray(photo))])
    return logits[0].topk(5).indices.tolist()


def test_chelsea_is_a_cat(encoder):
    assert top5(encoder, data.chelsea())[0] in CATS


def test_coffee_is_espresso(encoder):
    assert top5(encoder, data.coffee())[0] == ESPRESSO


def test_embeddings_are_unit_vectors_of_the_declared_size(encoder):
    pixels = [encoder.preprocess(Image.fromarray(photo)) for photo in (data.chelsea(), data.coffee(), data.astronaut())]
    vectors = encoder.embed(pixels)
    assert vectors.shape == (3, EfficientNetLite0.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] < 0.9  # a cat is not a coffee cup


def test_the_frozen_graph_gives_the_same_vectors_as_eager_pytorch(encoder, settings):
    settings.EMBEDDING_JIT = False
    eager = EfficientNetLite0()
    eager.load()
    pixels = [encoder.preprocess(Image.fromarray(photo)) for photo in (data.chelsea(), data.coffee())]
    np.testing.assert_allclose(encoder.embed(pixels), eager.embed(pixels), atol=1e-4)
    assert isinstance(encoder.features, torch.jit.ScriptModule)


def test_portrait_photos_are_padded_not_cropped(encoder):
    tall = Image.new("RGB", (200, 300), (10, 20, 30))
    pixels = encoder.preprocess(tall)
    assert pixels.shape == (224, 224, 3)
    assert tuple(pixels[112, 0]) == (255, 255, 255)  # white side bands, the product is whole
    assert tuple(pixels[112, 112]) == (10, 20, 30)


def test_the_registry_offers_resnet50_through_torchvision():
    assert set(REGISTRY) >= {"efficientnet_lite0", "resnet50"}
    resnet = encoder_class("resnet50")
    assert (resnet.dim, resnet.model_key()) == (2048, "resnet50/v1")
    with pytest.raises(ValueError, match="Unknown encoder"):
        encoder_class("vgg1")
