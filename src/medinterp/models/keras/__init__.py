"""The Keras family: ``keras.applications`` backbones on TensorFlow, as the paper used.

- :mod:`.build`: a registry spec -> network: the backbone without its top (input ``S x S x 3`` in
  [0, 1], normalisation inside; ImageNet, random or a local weights file) and the ISIC classifier on it;
- :mod:`.transforms`: the training augmentation of a batch;
- :mod:`.train`: :class:`medinterp.training.loop.Trainable` for Keras models (a traced step), precision;
- :mod:`.optimizers`: the fused Adam and SGD updates the traced step applies;
- :mod:`.checkpoint`: the checkpoints (the paper's weights files, the ISIC checkpoint contract of
  :mod:`medinterp.models.checkpoint`) and an ISIC checkpoint behind the adapter;
- :mod:`.isic_classifier`: fine-tuning for the ISIC tasks;
- :mod:`.export`: ONNX export with metadata and the ONNX Runtime parity check, of any model and of
  an ISIC checkpoint, and the checkpoint's eager forward pass;
- :mod:`.adapter`: :class:`medinterp.interpret.adapter.ModelAdapter` for any Keras model;
- :mod:`.paper_networks`: the paper's autoencoder and classifier, the paper stages' surface of this
  family (``medinterp.paper.networks``) and a paper ONNX file's eager forward pass.

Its jobs (``medinterp.models.families.JOBS``): ``train_classifier`` in :mod:`.isic_classifier`,
``export_checkpoint`` and ``checkpoint_eager_runner`` in :mod:`.export`, ``checkpoint_adapter`` in
:mod:`.checkpoint`, ``paper_networks`` and ``paper_eager_runner`` in :mod:`.paper_networks`; the
same file names as the torch family's. Nothing here depends on a task package (``medinterp.isic``,
``medinterp.paper``, ``medinterp.stages``): tests/test_layering.py checks it.
"""

from medinterp import numerics

# Before any module of this family imports it: TensorFlow without its start-up lines on stderr
# (MEDINTERP_TF_LOGS=1 shows them).
numerics.import_tensorflow()
