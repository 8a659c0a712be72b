"""The models the interpretation stages take as their subject, behind one :class:`Subject`: an ISIC
model of one entry of ``models`` (its binary checkpoint and the validation fold it kept), or a
paper classifier (``interpret.paper``)."""

from __future__ import annotations

from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.interpret.adapter import ModelAdapter
from medinterp.interpret.image_sets import (
    MULTICLASS,
    ImageSet,
    Subject,
    binary_validation,
    image_set,
    multiclass_validation,
)
from medinterp.isic import layout
from medinterp.models.loading import load_adapter


def isic_subject(entry: str) -> Subject:
    """The binary ISIC model of ``entry`` with the validation fold of the fold ``isic_binary`` kept."""
    path = layout.checkpoint(entry, "binary")
    adapter, info = load_adapter(path)
    spec = registry.get(info["architecture"], info["family"])
    return Subject(
        entry,
        spec.name,
        spec.family,
        info["init_used"],
        list(info["class_names"]),
        int(info["image_size"]),
        binary_validation(layout.report(entry, "binary")),
        adapter,
        str(path),
        (spec.first_conv_layer, spec.last_conv_layer),
    )


def isic_initial(entry: str) -> ModelAdapter:
    """The network the binary model of ``entry`` was fine-tuned from (the thesis's pre-trained model)."""
    return load_adapter(layout.checkpoint(entry, "binary"), initial=True)[0]


def isic_multiclass(entry: str, subject: Subject) -> tuple[ImageSet, ModelAdapter, str]:
    """The multiclass model of ``entry`` and its validation images, for the filter statistics."""
    path = layout.checkpoint(entry, "multiclass")
    adapter, info = load_adapter(path)
    if (info["architecture"], info["family"]) != (subject.model, subject.family):
        raise ConfigError(
            f"{subject.checkpoint} is a {subject.model} and {path} a {info['architecture']}: "
            "retrain both for one model (dvc repro)"
        )
    return (
        image_set(MULTICLASS, multiclass_validation(int(info["image_size"])), info["class_names"]),
        adapter,
        str(path),
    )
