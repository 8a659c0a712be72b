"""What the paper's stages need of a model family, and where each family keeps it.

The stages are written once against :class:`PaperNetworks`; ``medinterp.models.keras.paper_networks``
and ``medinterp.models.torch.paper_networks`` implement it with the same method names, and
:func:`networks_for` imports only the backbone's own framework (TensorFlow and PyTorch must not
share a process). Networks take ``(N, S, S, 3)`` float32 images in [0, 1] in both families, and a
classifier's single output is the malignant logit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from medinterp.interpret.adapter import ModelAdapter
from medinterp.models.families import family_function
from medinterp.registry import ModelSpec


class Exporter(Protocol):
    def export(self, path: str | Path, meta: dict, parity_inputs: np.ndarray, tolerance: float) -> tuple[dict, dict]:
        """Write the network's current weights as ONNX with ``meta``; the parity record and its measurement."""


class Trainer(Protocol):
    """A :class:`medinterp.training.loop.Trainable` that can start another run and predict."""

    def restart(self, batches: Callable | None = None) -> None: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...


class PaperNetworks(Protocol):
    family: str
    weights_suffix: str  # of the weights files in models/paper (``.weights.h5``, ``.npz``)

    def configure(self, seed: int) -> None:
        """Seed the framework (and Python's and numpy's global generators)."""

    def build_encoder(self, spec: ModelSpec, size: int, weights: str = "random") -> tuple[Any, str]:
        """The backbone for ``size`` px inputs and the initialisation really used (``random``, ImageNet, a file)."""

    def set_batchnorm_momentum(self, encoder: Any, momentum: float | None) -> None: ...

    def build_autoencoder(self, encoder: Any, filters: int) -> Any:
        """``encoder`` + the decoder of ``medinterp.models.decoder``; the encoder's weights are shared."""

    def build_classifier(self, encoder: Any, units: int, dropout: float) -> Any:
        """``encoder`` + pooling, dense ``units`` (ReLU), dropout, one logit; the encoder's weights are shared."""

    def classifier_at_size(self, model: Any, spec: ModelSpec, size: int, units: int, dropout: float) -> Any:
        """A classifier of ``model``'s architecture that runs at ``size`` px (``model`` itself where it can)."""

    def reconstruction_loss(self) -> Any: ...

    def classification_loss(self) -> Any: ...

    def trainable(
        self,
        model: Any,
        loss: Any,
        optimizer: str,
        learning_rate: float,
        val_x: np.ndarray,
        val_y: np.ndarray,
        batch_size: int,
        metrics: Callable | None = None,
    ) -> Trainer: ...

    def get_weights(self, model: Any) -> Any: ...

    def set_weights(self, model: Any, weights: Any) -> None: ...

    def save_weights(self, model: Any, path: str | Path) -> None: ...

    def load_weights(self, model: Any, path: str | Path) -> None: ...

    def exporter(self, model: Any, output_name: str, trainer: Trainer | None = None) -> Exporter: ...

    def framework(self) -> dict:
        """The ``framework`` field of the ONNX metadata."""

    def resize(self, images: np.ndarray, size: int) -> np.ndarray:
        """[0, 1] NHWC images resized to ``size`` x ``size`` (bilinear)."""

    def adapter(self, model: Any, image_size: int) -> ModelAdapter: ...


def networks_for(spec: ModelSpec) -> PaperNetworks:
    """The paper's networks of ``spec``'s family, its framework imported now."""
    return family_function("paper_networks", spec.family)()
