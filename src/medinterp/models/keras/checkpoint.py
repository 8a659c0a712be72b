"""This family's checkpoints, both kinds, written atomically.

- The paper's networks: a model's weights as a Keras ``.weights.h5`` file (:func:`save_weights`,
  :func:`load_weights`). The architecture is not stored: :mod:`medinterp.models.keras` rebuilds it
  from the registry and the settings recorded beside each checkpoint, and loads the weights by layer
  name. (A whole-model ``.keras`` file takes three times as long to read back for these backbones;
  the portable form of a trained model is its ONNX export.)
- The ISIC classifiers: the checkpoint contract both families share (:mod:`medinterp.models.checkpoint`),
  each Keras variable's ``path`` as its array's name (:func:`save_checkpoint`, :func:`load_checkpoint`,
  which rebuilds the network with ``build.build_finetune``). :func:`checkpoint_adapter` is the Keras
  side of ``medinterp.models.loading.load_adapter``, with the fine-tuned weights or with those the
  fine-tuning started from (:func:`initial_network`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.io import atomic_path, readable
from medinterp.models import checkpoint as checkpoint_files
from medinterp.models.keras.adapter import KerasAdapter
from medinterp.models.keras.build import build_finetune
from medinterp.models.keras.train import configure_tensorflow

SUFFIX = ".weights.h5"


def save_weights(model: keras.Model, path: str | Path) -> None:
    path = Path(path)
    if not path.name.endswith(SUFFIX):
        raise ValueError(f"{path}: a checkpoint's name must end with {SUFFIX}")
    with atomic_path(path, suffix=SUFFIX) as tmp:  # Keras insists on the suffix
        model.save_weights(str(tmp), overwrite=True)


def load_weights(model: keras.Model, path: str | Path) -> None:
    path = Path(path)
    if not readable(path).is_file():
        raise ConfigError(f"{path}: checkpoint not found; run the stage that writes it (dvc repro)")
    model.load_weights(str(readable(path)))  # this stage's own, not yet renamed, if it wrote one


# -- the ISIC checkpoint (medinterp.models.checkpoint) and what reads it -------------------------

FAMILY = "keras"


def save_checkpoint(path: str | Path, model: keras.Model, info: dict[str, Any]) -> None:
    checkpoint_files.save(path, info, {variable.path: np.asarray(variable.numpy()) for variable in model.weights})


def _network(info: dict[str, Any], weights: str = "random", freeze: tuple[str, ...] = ()) -> keras.Model:
    spec = registry.get(info["architecture"], FAMILY)
    model, _, _ = build_finetune(
        spec, int(info["image_size"]), int(info["num_outputs"]), weights, float(info["dropout"]), freeze
    )
    return model


def load_checkpoint(path: str | Path) -> tuple[keras.Model, dict[str, Any]]:
    """The network of a checkpoint with its weights, and its ``info``."""
    info, arrays = checkpoint_files.read(path)
    checkpoint_files.require_family(info, FAMILY, path)
    model = _network(info)
    checkpoint_files.match_arrays([v.path for v in model.weights], arrays, path)
    for variable in model.weights:
        variable.assign(arrays[variable.path])
    return model, info


def initial_network(info: dict[str, Any]) -> keras.Model:
    """The network a checkpoint's fine-tuning started from: built as ``isic_classifier.train_classifier``
    builds it, under the same seed and with the same initialisation (``settings.weights``)."""
    configure_tensorflow(int(info["seed"]))
    return _network(info, str(info["settings"]["weights"]), tuple(info["settings"]["freeze"]))


def checkpoint_adapter(path: str | Path, initial: bool = False) -> tuple[KerasAdapter, dict[str, Any]]:
    """``medinterp.models.loading.load_adapter``'s Keras side."""
    model, info = load_checkpoint(path)
    if initial:
        model = initial_network(info)
    return KerasAdapter(model), info
