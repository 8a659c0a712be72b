"""The two model families: ``keras`` (keras.applications on TensorFlow, the paper's backbones) and
``torch`` (torchvision, the thesis's). Each turns a ``registry.ModelSpec`` into a network and implements
the interpretability adapter; never import both in one process. :func:`load_adapter` opens a
checkpoint of either family for the interpretability methods."""

from medinterp.models.loading import find_checkpoint, load_adapter

__all__ = ["find_checkpoint", "load_adapter"]
