"""The image sets the interpretation stages (thesis sections 5.4-5.5) look at, and the
:class:`Subject` that bundles a binary classifier with its validation images.

The image sets are validation images only, as in the thesis (section 5.5):

- ``binary``: the validation fold of the cross-validation fold whose model the ``isic_binary``
  stage kept (``test.fold`` of ``metrics/isic/<entry>/binary.json``), outliers included (the
  thesis's "all validation images with and without outliers"); classes benign and malignant;
- ``binary_without_outliers``: ``binary`` less the images the z-score rule flags, so a filter's
  count can be compared with and without them;
- ``outliers``: the images of ``binary`` that the z-score rule flags, with their benign / malignant
  labels (the thesis sorted its outlier images into artefact classes by hand; no such label exists
  here);
- ``multiclass``: the ``val`` split of the eight-class task.

Models come in as :class:`~medinterp.interpret.adapter.ModelAdapter` objects, so the stages'
reports (``outlier_report``, ``filter_report``, ``featurevis_report``, ``sanity_report``) are the
same for both families.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from medinterp.errors import ConfigError
from medinterp.interpret.adapter import ModelAdapter
from medinterp.preprocessing.arrays import ImageTable, load

BINARY, BINARY_CLEAN, OUTLIERS, MULTICLASS = "binary", "binary_without_outliers", "outliers", "multiclass"


@dataclass
class ImageSet:
    name: str
    images: np.ndarray  # (N, S, S, 3) uint8
    labels: np.ndarray  # (N,) indices into class_names
    class_names: list[str]

    def counts(self) -> dict[str, int]:
        return {c: int((self.labels == i).sum()) for i, c in enumerate(self.class_names)}


def binary_validation(report: str | Path) -> ImageTable:
    """The binary task's validation images at the size it trained on: the validation fold of the
    fold whose model ``isic_binary`` kept, as its report (``metrics/isic/<entry>/binary.json``) records."""
    report = Path(report)
    if not report.is_file():
        raise ConfigError(f"{report}: not found; run the isic_binary stage first (dvc repro isic_binary)")
    content = json.loads(report.read_text(encoding="utf-8"))
    try:
        fold, size = int(content["test"]["fold"]), int(content["image_size"])
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{report}: has no test.fold or image_size; rerun the isic_binary stage") from exc
    table = load("isic_binary", size)
    return table.subset(table.frame["fold"] == fold)


def multiclass_validation(size: int) -> ImageTable:
    table = load("isic_multiclass", size)
    return table.subset(table.frame["split"] == "val")


def image_set(name: str, table: ImageTable, class_names: Sequence[str]) -> ImageSet:
    """``table`` as a set labelled in the order of a model's ``class_names``, which must be the order
    the split table's labels follow."""
    class_names = list(class_names)
    named = table.frame["class_name"].to_numpy()
    labels = table.labels
    if len(labels) and (
        labels.min() < 0
        or labels.max() >= len(class_names)
        or any(named[i] != class_names[labels[i]] for i in range(len(labels)))
    ):
        raise ConfigError(
            f"the model's classes {class_names} do not match the labels of the {name} images; "
            "rerun the training stage on the current splits"
        )
    return ImageSet(name, np.asarray(table.images), labels, class_names)


def outlier_subset(table: ImageTable, outliers: pd.DataFrame, source: str, flagged: bool = True) -> ImageTable:
    """The rows of ``table`` that the outlier list (``source``, row for row the same images) flags,
    or (``flagged=False``) those it does not."""
    if outliers["image"].tolist() != table.frame["image"].tolist():
        raise ConfigError(f"{source} lists other images than the binary validation set; rerun interpret_outliers")
    flags = outliers["outlier"].to_numpy(dtype=bool)
    return table.subset(flags if flagged else ~flags)


@dataclass
class Subject:
    """A binary classifier the methods interpret: an ISIC model (``name`` its entry of ``models``)
    or a paper classifier (``paper/<backbone>/<variant>``), with its binary validation images."""

    name: str  # folder under metrics/interpret and plots/interpret
    model: str  # architecture, for tables and titles
    family: str
    init_used: str
    class_names: list[str]
    image_size: int  # the size it trained on and its validation images have
    validation: ImageTable
    finetuned: ModelAdapter
    checkpoint: str  # the file its weights come from, as the metrics record it
    conv_layers: tuple[str, str]  # the registry's first and last convolutional layers
