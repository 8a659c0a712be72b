"""The torch family: torchvision classifiers built from the registry (``build``), their input
pipeline (``transforms``, ``data``), fine-tuning through the shared epoch loop (``classifier``),
the checkpoint contract (``checkpoint``) and ONNX export (``to_onnx``); the paper's autoencoder and
classifier on a torchvision backbone (``paper_networks``, the same methods as the Keras family's)."""

import os

# OpenMP threads that spin while waiting collapse when other processes want the same cores: our
# own data-loading workers, or other stages and jobs. On this 2-core machine a ResNet50 training
# step took 3.4-5.5 s with the default policy and 0.8-1.1 s with PASSIVE under such load (measured).
# It only takes effect if set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
