"""Two maps that know nothing of the model, the floor every explanation method must beat.

Both go through the same heatmap, Otsu and metric path as the class activation maps
(:mod:`medinterp.interpret.gradcam`), so a method is compared with them on equal terms; the
benchmark draws the noise at the layer's resolution (placed like a class activation map) and the
prior at the network input's (a layer of 2 x 2 cells has no centre cell):

- :func:`random_maps`: uniform noise, drawn per image from ``numpy.random.default_rng([seed, index])``
  (``index``: the image's row in the test table), so an image gets the same map whatever else is
  explained and in whatever order;
- :func:`centre_maps`: the image-centre prior, ``1 - d / d_max`` with ``d`` the distance of a cell's
  centre from the image centre in units of the image's sides (so it is round on a square input and
  follows the image's shape otherwise). Tumours are often photographed in the middle of the field;
  a method that only beats noise but not this prior has learnt where pathologists point the camera.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def random_maps(count: int, height: int, width: int, seed: int, indices: Sequence[int]) -> np.ndarray:
    """``(count, height, width)`` uniform maps in [0, 1), image ``i``'s from ``default_rng([seed, indices[i]])``."""
    _check(height, width)
    if len(indices) != count:
        raise ValueError(f"{count} images but {len(indices)} indices")
    return (
        np.stack([np.random.default_rng([seed, int(i)]).random((height, width)) for i in indices])
        if count
        else np.zeros((0, height, width))
    )


def centre_maps(count: int, height: int, width: int) -> np.ndarray:
    """``(count, height, width)`` copies of the centre prior: 1 at the centre, 0 at the corners' distance."""
    _check(height, width)
    rows = (np.arange(height) + 0.5) / height - 0.5
    cols = (np.arange(width) + 0.5) / width - 0.5
    distance = np.hypot(rows[:, None], cols[None, :])
    prior = 1.0 - distance / np.hypot(0.5, 0.5)
    return np.broadcast_to(prior, (count, height, width)).copy()


def _check(height: int, width: int) -> None:
    if height < 1 or width < 1:
        raise ValueError(f"a map needs at least one cell, got {height} x {width}")
