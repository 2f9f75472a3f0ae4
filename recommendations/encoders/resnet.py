"""ResNet50 through torchvision's own weights API, for machines with internet.

The weights download on first use into $TORCH_HOME (or ~/.cache/torch). Offline, load() fails
with a message that says so; the default encoder works offline.
"""

from .base import Encoder


class ResNet50(Encoder):
    key = "resnet50"
    version = 1
    dim = 2048
    input_size = 224
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)

    def _build(self):
        import torch
        from torchvision.models import ResNet50_Weights, resnet50

        try:
            model = resnet50(weights=ResNet50_Weights.IMAGENET1K_V2)
        except Exception as exc:  # URLError, HTTPError, socket errors: all mean "no weights"
            raise RuntimeError(
                "Could not download torchvision's ResNet50 weights (no internet?). Put them in "
                "$TORCH_HOME/hub/checkpoints or use EMBEDDING_ENCODER=efficientnet_lite0."
            ) from exc
        model.eval()
        classifier = model.fc
        model.fc = torch.nn.Identity()
        return model.to(memory_format=torch.channels_last), classifier
