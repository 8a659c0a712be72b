"""The two model families: ``keras`` (keras.applications on TensorFlow, the paper's backbones) and
``torch`` (torchvision, the thesis's). Each turns a ``registry.ModelSpec`` into a network and implements
the interpretability adapter; never import both in one process."""
