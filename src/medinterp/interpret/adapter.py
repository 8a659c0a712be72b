"""What the interpretability methods need of a model, and nothing more.

Both families implement this once (``medinterp.models.keras.adapter``,
``medinterp.models.torch.adapter``), so Grad-CAM, filter statistics, feature visualization and the
sanity checks are written once, in numpy.

Conventions at this boundary, whatever the framework:

- images are ``float32`` arrays ``(N, H, W, 3)`` with values in [0, 1]; the adapter applies the
  model's own normalisation and layout;
- activations and gradients come back channel-first, ``(N, C, h, w)``;
- a "score" is a pre-activation output: the logit of a class (for a single-logit binary model,
  class 1 is the logit and class 0 its negative);
- weights are numpy copies, read and written per layer (the model-parameter randomization test,
  :mod:`medinterp.interpret.randomization`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np


class ModelAdapter(Protocol):
    def conv_layers(self) -> list[str]:
        """Names of the convolutional layers in forward order (the first and last are the defaults)."""

    def channels(self, layer: str) -> int:
        """Number of channels (filters) of ``layer``'s output."""

    def scores(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Logits ``(N, K)`` (``K = 1`` for a single-logit binary model)."""

    def activations(self, images: np.ndarray, layer: str, batch_size: int = 32) -> np.ndarray:
        """``layer``'s output ``(N, C, h, w)``."""

    def layer_activations(
        self,
        images: np.ndarray,
        layers: Sequence[str],
        batch_size: int = 32,
        reduce: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """The outputs of all of ``layers`` from ONE forward pass per batch, keyed by layer in
        ``layers``' order: per layer what :meth:`activations` returns, or, with ``reduce``, the
        concatenation of ``reduce`` applied to each batch's output ``(n, C, h, w)`` (the array
        :meth:`activations` gives for that batch). ``reduce`` bounds the memory: the spatial maxima
        of many layers for thousands of images fit where their activation maps would not."""

    def gradcam_parts(
        self, images: np.ndarray, layer: str, class_index: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``layer``'s activations, the gradient of class ``class_index``'s score with respect to them
        (both ``(N, C, h, w)``), and the scores ``(N,)``."""

    def input_gradient(
        self, images: np.ndarray, layer: str | None, targets: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """For image ``i``, the objective ``mean over positions of channel targets[i] of layer`` (or,
        with ``layer=None``, the score of class ``targets[i]``) and its gradient with respect to the
        input image: ``(N,)`` and ``(N, H, W, 3)``, in the [0, 1] image space."""

    def parameter_layers(self) -> list[str]:
        """Names of the layers that hold weights of their own (convolutions, dense/linear layers,
        batch normalisation, ...), in forward (call) order; the last is the output layer."""

    def layer_weights(self, layer: str) -> list[np.ndarray]:
        """Copies of ``layer``'s own weight arrays, in the framework's order for that layer."""

    def set_layer_weights(self, layer: str, arrays: Sequence[np.ndarray]) -> None:
        """Writes ``arrays`` (as :meth:`layer_weights` returns them: same number, shapes and dtypes,
        else ``ValueError``) into ``layer`` in place; every later call of the adapter sees them."""


def checked_weights(
    layer: str, expected: Sequence[tuple[tuple[int, ...], np.dtype]], arrays: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """``arrays`` as contiguous numpy arrays if they match ``expected``, the ``(shape, dtype)`` of
    each of ``layer``'s weights; else a ``ValueError``, so that nothing is written half-way."""
    arrays = [np.asarray(a) for a in arrays]
    arrays = [a if a.flags.c_contiguous else a.copy() for a in arrays]  # not ascontiguousarray: it makes 0-d 1-d
    if len(arrays) != len(expected):
        raise ValueError(f"layer '{layer}' holds {len(expected)} weight arrays, got {len(arrays)}")
    for i, ((shape, dtype), new) in enumerate(zip(expected, arrays)):
        if new.shape != tuple(shape) or new.dtype != dtype:
            raise ValueError(
                f"layer '{layer}' weight {i} is {np.dtype(dtype)} {tuple(shape)}, got {new.dtype} {new.shape}"
            )
    return arrays


def image_batch(images: np.ndarray) -> np.ndarray:
    """``images`` as the contiguous ``float32`` ``(N, H, W, 3)`` array both adapters take; anything
    else is refused with a ``ValueError``."""
    images = np.ascontiguousarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images (N, H, W, 3), got shape {images.shape}")
    return images
