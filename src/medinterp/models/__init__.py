"""The two model families: ``keras`` (keras.applications on TensorFlow) and ``torch``
(torchvision). Each turns a ``registry.ModelSpec`` into a network; never import both in one process."""
