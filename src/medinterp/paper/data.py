"""The paper's data: BreakHis (training and validation splits) and BreCaHAD (the test set, with points).

Images come from the prepare stage's arrays (``uint8``, squashed to ``S x S``); models get them as
float32 in [0, 1]. BreCaHAD points are read from each image's annotation file, normalised ``(x, y)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medinterp.datasets.brecahad import read_annotation
from medinterp.preprocessing.arrays import ImageTable, load


def as_float(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, dtype=np.float32) / 255.0


def breakhis(size: int) -> tuple[ImageTable, ImageTable]:
    """The training and validation splits of ``splits/breakhis.csv`` with their images."""
    table = load("breakhis", size)
    split = table.frame["split"]
    return table.subset(split == "train"), table.subset(split == "val")


def brecahad(size: int) -> ImageTable:
    return load("brecahad", size)


def points(table: ImageTable, data_root: Path, classes: tuple[str, ...]) -> list[np.ndarray]:
    """Per image, the ``(n, 2)`` normalised points of ``classes`` from its annotation file."""
    out = []
    for annotation in table.frame["annotation"]:
        found = read_annotation(Path(data_root) / annotation)
        out.append(np.concatenate([found[c] for c in classes]).reshape(-1, 2))
    return out
