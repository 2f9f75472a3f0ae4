"""The encoder interface: preprocess photos, embed batches into L2-normalised vectors.

torch is imported inside the methods, not at the top: the web processes import this module for
an encoder's key and dimension and should not carry PyTorch in memory for that.
"""

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from PIL import Image, ImageOps

if TYPE_CHECKING:
    import torch


class Encoder:
    """A pretrained image model.

    Subclasses set the class attributes and implement ``_build() -> (features, classifier)``,
    where ``features`` maps an NCHW float batch to pooled (N, dim) features and ``classifier``
    maps those to ImageNet logits (used by the known-answer test).
    """

    key: ClassVar[str]
    version: ClassVar[int]  # bump when weights or preprocessing change: stored vectors go stale
    dim: ClassVar[int]
    input_size: ClassVar[int]
    mean: ClassVar[tuple[float, float, float]]
    std: ClassVar[tuple[float, float, float]]

    def __init__(self, *, threads: int = 0) -> None:
        self.threads = threads
        self.features: torch.nn.Module | None = None
        self.classifier: torch.nn.Module | None = None

    @classmethod
    def model_key(cls) -> str:
        """What is stored next to each vector: vectors of different keys never mix."""
        return f"{cls.key}/v{cls.version}"

    def load(self) -> None:
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        self.features, self.classifier = self._build()
        self._mean = torch.tensor(self.mean).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(self.std).view(1, 3, 1, 1) * 255

    def _build(self) -> tuple["torch.nn.Module", "torch.nn.Module"]:
        raise NotImplementedError

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """RGB photo -> (size, size, 3) uint8. Pads to a square on white instead of cropping,
        because product photos are portrait and a centre crop would cut off the product."""
        size = self.input_size
        return np.asarray(ImageOps.pad(image, (size, size), method=Image.Resampling.BICUBIC, color=(255, 255, 255)))

    def to_batch(self, pixels: list[np.ndarray]) -> "torch.Tensor":
        """Stack NHWC uint8 arrays into a normalised NCHW float batch (channels-last in memory)."""
        import torch

        batch = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float()
        return (batch - self._mean) / self._std

    def embed(self, pixels: list[np.ndarray]) -> np.ndarray:
        """(N, size, size, 3) uint8 -> (N, dim) float32 unit vectors."""
        import torch

        with torch.inference_mode():
            features = self.features(self.to_batch(pixels))
            return torch.nn.functional.normalize(features.float(), dim=1).numpy()

    def classify(self, pixels: list[np.ndarray]) -> "torch.Tensor":
        """ImageNet logits, (N, 1000)."""
        import torch

        with torch.inference_mode():
            return self.classifier(self.features(self.to_batch(pixels)))
