"""The random draws of the thesis's training augmentation (section 3.4), written once for both
families: :func:`draw` takes every parameter of a batch from one ``numpy.random.Generator``, and
each family applies them with its own ops (``models.keras.transforms``, ``models.torch.transforms``).

The draws depend only on the generator, the batch size and the settings, never on the device, the
framework or the number of loader processes, so a seed gives the same augmentation everywhere.
The order of the draws is fixed (crop, affine, flips, colour) and is part of the contract: the
Keras batches of a seed stay what they were before this module existed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medinterp.params import Augment


@dataclass(frozen=True)
class BatchDraws:
    """The augmentation of ``n`` images, one row each (float64 as drawn; the boxes float32)."""

    boxes: np.ndarray  # (n, 4) crop [y0, x0, y1, x1] in [0, 1] of the image's height and width
    affine: np.ndarray  # (n, 2, 2) output -> input map of (x, y) pixel offsets from the image centre
    flip_horizontal: np.ndarray  # (n,) bool
    flip_vertical: np.ndarray  # (n,) bool
    brightness: np.ndarray  # (n,) factors
    contrast: np.ndarray  # (n,) factors
    saturation: np.ndarray  # (n,) factors
    hue: np.ndarray  # (n,) shifts, fractions of the hue circle

    def __len__(self) -> int:
        return len(self.boxes)


def crop_boxes(n: int, scale: tuple[float, float], ratio: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """``(n, 4)`` float32 boxes ``[y0, x0, y1, x1]`` in [0, 1] of a square image: area share in
    ``scale``, width/height in ``ratio`` (drawn log-uniformly), placed uniformly."""
    area = rng.uniform(*scale, size=n)
    aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1]), size=n))
    width = np.minimum(np.sqrt(area * aspect), 1.0)
    height = np.minimum(np.sqrt(area / aspect), 1.0)
    y0 = rng.uniform(0.0, 1.0 - height)
    x0 = rng.uniform(0.0, 1.0 - width)
    return np.stack([y0, x0, y0 + height, x0 + width], axis=1).astype(np.float32)


def affine_maps(n: int, augment: Augment, rng: np.random.Generator) -> np.ndarray:
    """``(n, 2, 2)`` inverses (output pixel -> input pixel, about the centre) of random rotations
    within +-``rotation`` degrees, horizontal shears within +-``shear`` degrees and zooms in ``scale``."""
    angle = np.deg2rad(rng.uniform(-augment.rotation, augment.rotation, size=n))
    shear = np.deg2rad(rng.uniform(-augment.shear, augment.shear, size=n))
    zoom = rng.uniform(*augment.scale, size=n)
    cos, sin = np.cos(angle), np.sin(angle)
    rotate = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    shear_x = np.stack([np.stack([np.ones(n), np.tan(shear)], -1), np.stack([np.zeros(n), np.ones(n)], -1)], -2)
    return np.linalg.inv(zoom[:, None, None] * rotate @ shear_x)


def draw(n: int, augment: Augment, rng: np.random.Generator) -> BatchDraws:
    """Every random parameter of a batch of ``n`` images. Flips draw nothing when ``augment.flips``
    is off (the generator then stands where it did before flips existed)."""
    boxes = crop_boxes(n, augment.crop_scale, augment.crop_ratio, rng)
    affine = affine_maps(n, augment, rng)
    if augment.flips:
        horizontal, vertical = rng.random(n) < 0.5, rng.random(n) < 0.5
    else:
        horizontal = vertical = np.zeros(n, dtype=bool)
    colour = [
        rng.uniform(*augment.brightness, size=n),
        rng.uniform(*augment.contrast, size=n),
        rng.uniform(*augment.saturation, size=n),
        rng.uniform(*augment.hue, size=n),
    ]
    return BatchDraws(boxes, affine, horizontal, vertical, *colour)
