"""The Keras family: ``keras.applications`` backbones on TensorFlow, as the paper used.

- :mod:`.backbones`: a registry spec -> backbone without its top, input ``S x S x 3`` in [0, 1];
  ImageNet, random or a local weights file;
- :mod:`.autoencoder`, :mod:`.classifier`: the paper's two networks on a backbone;
- :mod:`.training`: :class:`medinterp.training.loop.Trainable` for Keras models (a traced step);
- :mod:`.export`: tf2onnx export with metadata and the ONNX Runtime parity check;
- :mod:`.adapter`: :class:`medinterp.interpret.adapter.ModelAdapter` for any Keras model;
- :mod:`.paper_networks`: the paper stages' surface of this family (``medinterp.paper.networks``).
"""
