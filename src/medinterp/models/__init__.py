"""The two model families: ``keras`` (keras.applications on TensorFlow) and ``torch``
(torchvision). Each turns a ``registry.ModelSpec`` into a network; never import both in one process.
:func:`load_adapter` opens a checkpoint of either family for the interpretability methods."""

from medinterp.models.loading import find_checkpoint, load_adapter

__all__ = ["find_checkpoint", "load_adapter"]
