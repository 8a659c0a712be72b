"""Grad-CAM (Selvaraju et al. 2017) from a layer's activations and the gradient of a class score.

Conventions, for every model of either family (the adapter supplies both arrays channel-first):

- channel weights: ``alpha_k = mean over positions of d score / d A_k`` (global average pooling of
  the gradient);
- map: ``ReLU(sum_k alpha_k * A_k)``, at the layer's resolution ``(h, w)``; the ReLU keeps what
  speaks *for* the class, as in the Grad-CAM paper;
- heatmap: that map resized to the image's full size ``(height, width)`` by bilinear interpolation
  with pixel centres aligned (half-pixel convention) and edge values repeated, no antialiasing
  (what ``skimage.transform.resize(order=1, mode="edge", anti_aliasing=False)`` computes; done here as
  two small matrix products, since bilinear interpolation is separable: cheaper than a general resize on
  the full-size BreCaHAD images, which the explanation benchmark resizes hundreds of times). A network
  that saw the image squashed to a square sees the same squash undone: cell ``(i, j)`` of an ``h x w``
  map covers the same share of the original image in both directions;
- normalisation: divided by its maximum, so values lie in [0, 1]; a map that is zero everywhere
  (no positive evidence) stays zero. Dividing by a positive number changes neither the Otsu mask
  nor the IRA; it only fixes the colour scale of the overlays.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def channel_weights(gradients: np.ndarray) -> np.ndarray:
    """``(N, C, h, w)`` gradients -> ``(N, C)`` weights: their mean over positions."""
    return np.asarray(gradients, dtype=np.float64).mean(axis=(2, 3))


def class_maps(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """``ReLU(sum_k alpha_k A_k)`` per image: ``(N, C, h, w)`` twice -> ``(N, h, w)``."""
    activations = np.asarray(activations, dtype=np.float64)
    if activations.shape != np.shape(gradients) or activations.ndim != 4:
        raise ValueError(
            f"activations {activations.shape} and gradients {np.shape(gradients)} must be the same (N, C, h, w)"
        )
    maps = np.einsum("nc,nchw->nhw", channel_weights(gradients), activations)
    return np.maximum(maps, 0.0)


def heatmap(class_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """One ``(h, w)`` map as a ``(height, width)`` heatmap in [0, 1] (bilinear, then divided by its maximum)."""
    class_map = np.asarray(class_map, dtype=np.float64)
    if class_map.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {class_map.shape}")
    up = _interpolation(class_map.shape[0], height) @ (class_map @ _interpolation(class_map.shape[1], width).T)
    peak = up.max()
    if peak > 0:
        up /= peak
        return up
    return np.zeros_like(up)


@lru_cache(maxsize=64)
def _interpolation(size: int, target: int) -> np.ndarray:
    """``(target, size)`` weights of 1-D linear interpolation with half-pixel centres, edges repeated."""
    position = np.clip((np.arange(target) + 0.5) * size / target - 0.5, 0, size - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, size - 1)
    weights = np.zeros((target, size))
    rows = np.arange(target)
    np.add.at(weights, (rows, low), 1 - (position - low))
    np.add.at(weights, (rows, high), position - low)
    weights.flags.writeable = False
    return weights
