"""Autoencoder reconstructions as one picture: validation images over what the autoencoder made of them."""

from __future__ import annotations

import numpy as np

TILE = 128  # side of a reconstruction tile, pixels
GAP = 4


def reconstruction_grid(originals: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Originals (top row, ``uint8``) over their reconstructions (bottom row, [0, 1]) as one RGB image."""
    k, size = len(originals), originals.shape[1]
    scale = max(1, TILE // size)
    rows = [
        np.asarray(originals, np.uint8),
        np.clip(np.rint(np.asarray(reconstructions) * 255), 0, 255).astype(np.uint8),
    ]
    side = size * scale
    grid = np.full((2 * side + 3 * GAP, k * side + (k + 1) * GAP, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            y, x = GAP + r * (side + GAP), GAP + c * (side + GAP)
            grid[y : y + side, x : x + side] = image.repeat(scale, axis=0).repeat(scale, axis=1)
    return grid
