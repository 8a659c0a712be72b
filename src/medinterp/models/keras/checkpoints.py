"""Checkpoints: a model's weights as a Keras ``.weights.h5`` file, written atomically.

The architecture is not stored: :mod:`medinterp.models.keras` rebuilds it from the registry and the
settings recorded beside each checkpoint, and loads the weights by layer name. (A whole-model
``.keras`` file takes three times as long to read back for these backbones; the portable form of a
trained model is its ONNX export.)
"""

from __future__ import annotations

from pathlib import Path

import keras

from medinterp.errors import ConfigError
from medinterp.io import atomic_path, readable

SUFFIX = ".weights.h5"


def save_weights(model: keras.Model, path: str | Path) -> None:
    path = Path(path)
    if not path.name.endswith(SUFFIX):
        raise ValueError(f"{path}: a checkpoint's name must end with {SUFFIX}")
    with atomic_path(path, suffix=SUFFIX) as tmp:   # Keras insists on the suffix
        model.save_weights(str(tmp), overwrite=True)


def load_weights(model: keras.Model, path: str | Path) -> None:
    path = Path(path)
    if not readable(path).is_file():
        raise ConfigError(f"{path}: checkpoint not found; run the stage that writes it (dvc repro)")
    model.load_weights(str(readable(path)))   # this stage's own, not yet renamed, if it wrote one
