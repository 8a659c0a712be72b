"""The torch family: torchvision networks on PyTorch, as the thesis used.

- :mod:`.build`: a registry spec -> network: a torchvision classifier with its final layer replaced
  (ImageNet, random or a local weights file), the ISIC classifier;
- :mod:`.transforms`, :mod:`.data`: images to the network's input, the training augmentation of a
  batch, and the training batches read by loader processes;
- :mod:`.train`: :class:`medinterp.training.loop.Trainable` for torch models, the class-weighted loss,
  prediction, precision and memory format;
- :mod:`.checkpoint`: the ISIC checkpoint contract of :mod:`medinterp.models.checkpoint` and an ISIC
  checkpoint behind the adapter;
- :mod:`.isic_classifier`: fine-tuning for the ISIC tasks;
- :mod:`.export`: ONNX export with metadata and the ONNX Runtime parity check, of an ISIC checkpoint,
  and the checkpoint's eager forward pass;
- :mod:`.adapter`: :class:`medinterp.interpret.adapter.ModelAdapter` for any torch model;
- :mod:`.paper_networks`: the paper's autoencoder and classifier, the paper stages' surface of this
  family (``medinterp.paper.networks``) and a paper ONNX file's eager forward pass.

Its jobs (``medinterp.models.families.JOBS``): ``train_classifier`` in :mod:`.isic_classifier`,
``export_checkpoint`` and ``checkpoint_eager_runner`` in :mod:`.export`, ``checkpoint_adapter`` in
:mod:`.checkpoint`, ``paper_networks`` and ``paper_eager_runner`` in :mod:`.paper_networks`; the
same file names as the Keras family's. Nothing here depends on a task package (``medinterp.isic``,
``medinterp.paper``, ``medinterp.stages``): tests/test_layering.py checks it.
"""

import os

# OpenMP threads that spin while waiting collapse when other processes want the same cores: our
# own data-loading workers, or other stages and jobs. Spinning threads hold the cores those
# processes need, so on a machine with few cores a training step under such load is several times
# slower with the default policy than with PASSIVE, whose waiting threads sleep.
# It only takes effect if set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
