"""The paper's training-set augmentation (section 4.2): rotation and mirroring against the 2:1 imbalance.

The paper names the effects, not the amounts. Here: each epoch the minority class is drawn again at
random (with replacement) until both classes have as many images as the larger one
(``balanced_order``), and every image of a batch is turned by a random element of the square's
symmetry group, a rotation by 0, 90, 180 or 270 degrees followed or not by a mirroring
(``dihedral``). These transforms move whole pixels, so nothing is interpolated and a histology
image stays a plausible histology image. Plain numpy, on ``(N, S, S, 3)`` batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def balanced_order(labels: np.ndarray, rng: np.random.Generator, balance: bool = True) -> np.ndarray:
    """A shuffled epoch of indices; with ``balance``, each class filled up to the largest by redrawing its images."""
    labels = np.asarray(labels)
    if not balance:
        return rng.permutation(len(labels))
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    largest = max(len(g) for g in groups)
    parts = [np.concatenate([g, rng.choice(g, largest - len(g), replace=True)]) for g in groups]
    return rng.permutation(np.concatenate(parts))


def dihedral(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each ``(S, S, C)`` image rotated by a random multiple of 90 degrees and mirrored with probability 1/2."""
    out = np.empty_like(images)
    turns = rng.integers(0, 4, size=len(images))
    mirror = rng.random(len(images)) < 0.5
    for i, image in enumerate(images):
        image = np.rot90(image, k=turns[i], axes=(0, 1))
        out[i] = image[:, ::-1] if mirror[i] else image
    return out


def epoch_batches(
    images: np.ndarray,
    targets: np.ndarray | None,
    labels: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    balance: bool,
    augment: bool,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of float32 batches in [0, 1] from ``uint8`` images: ``(x, targets)``, or ``(x, x)`` when
    ``targets`` is ``None`` (an autoencoder reconstructs its input, augmented or not)."""
    order = balanced_order(labels, rng, balance)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        batch = images[index]
        x = (dihedral(batch, rng) if augment else batch).astype(np.float32) / 255.0
        yield x, (x if targets is None else np.asarray(targets, dtype=np.float32)[index])
