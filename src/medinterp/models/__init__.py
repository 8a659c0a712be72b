"""The two model families: ``keras`` (keras.applications on TensorFlow, the paper's backbones) and
``torch`` (torchvision, the thesis's). Each turns a ``registry.ModelSpec`` into a network and implements
the interpretability adapter; never import both in one process. Their ISIC checkpoints share one
contract (:mod:`medinterp.models.checkpoint`), and :func:`medinterp.models.loading.load_adapter` opens
one of either family for the interpretability methods. Both families keep the same job in a file of
the same name (``build``, ``train``, ``checkpoint``, ``isic_classifier``, ``export``, ``adapter``,
``transforms``, ``paper_networks``; :mod:`medinterp.models.families` finds them) and build on
framework-free code only, never on a task package (tests/test_layering.py). Nothing is imported
here, so reading a checkpoint's paths or info (``models.checkpoint``, numpy alone) loads no
family's code."""
