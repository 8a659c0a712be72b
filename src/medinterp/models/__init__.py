"""The two model families: ``keras`` (keras.applications on TensorFlow, the paper's backbones) and
``torch`` (torchvision, the thesis's). Each turns a ``registry.ModelSpec`` into a network and implements
the interpretability adapter; never import both in one process. Their ISIC checkpoints share one
contract (:mod:`medinterp.models.checkpoint`), and :func:`load_adapter` opens one of either family
for the interpretability methods."""

from medinterp.models.loading import load_adapter

__all__ = ["load_adapter"]
