"""Image encoders: a registry of pretrained vision models that turn photos into unit vectors.

``get_encoder()`` returns the encoder named by settings.EMBEDDING_ENCODER, loaded once per process.
"""

import warnings
from functools import cache

from django.conf import settings

# TorchScript says it is deprecated on every import; it is still the fastest CPU path here.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")

from .base import Encoder  # noqa: E402
from .efficientnet import EfficientNetLite0  # noqa: E402
from .resnet import ResNet50  # noqa: E402

REGISTRY: dict[str, type[Encoder]] = {
    EfficientNetLite0.key: EfficientNetLite0,
    ResNet50.key: ResNet50,
}


def encoder_class(key: str | None = None) -> type[Encoder]:
    key = key or settings.EMBEDDING_ENCODER
    try:
        return REGISTRY[key]
    except KeyError:
        raise ValueError(f"Unknown encoder {key!r}; choose one of {sorted(REGISTRY)}.") from None


@cache
def get_encoder(key: str | None = None) -> Encoder:
    encoder = encoder_class(key)(threads=settings.EMBEDDING_TORCH_THREADS)
    encoder.load()
    return encoder


__all__ = ["REGISTRY", "Encoder", "encoder_class", "get_encoder"]
