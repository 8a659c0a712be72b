"""One registry for both model families: a name picks the architecture, its family, its layers and
the seeds' default hyper-parameters.

Nothing here imports TensorFlow or PyTorch: each family's package (``medinterp.models.keras``,
``medinterp.models.torch``) turns a :class:`ModelSpec` into a network. The layer names are what the
methods need: ``gradcam_layer`` (the last convolutional feature map, for Grad-CAM),
``first_conv_layer`` and ``last_conv_layer`` (class-specific filters, feature visualization).

``defaults`` holds the seeds' per-model settings in the same nested shape as ``params.yaml``
(``paper.autoencoder.epochs``, ``isic.binary.epochs``, ...), so :mod:`medinterp.params`
can lay the active profile and the user's params over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medinterp.errors import ConfigError

FAMILIES = ("keras", "torch")


def _paper(autoencoder_epochs: int) -> dict:
    """The paper's Table 1: the same for every backbone except the autoencoder epochs (70 for the
    models the paper did not train, as for two of its three).

    Table 1 lists the learning rates "[0.001, 0.0001]" and the optimizers "Adam, SGD" without saying
    which goes with which phase; read in order, the autoencoder gets Adam at 1e-3 and the classifier
    SGD at 1e-4.
    """
    return {
        "paper": {
            "autoencoder": {"epochs": autoencoder_epochs, "learning_rate": 1e-3, "optimizer": "adam"},
            "classifier": {"epochs": 100, "learning_rate": 1e-4, "optimizer": "sgd"},
        }
    }


def _thesis(binary_epochs: int = 25, binary_batch: int = 64, multiclass_epochs: int = 40) -> dict:
    """The thesis's Table 4 (binary) and section 5.2 (multiclass); models it did not train get the
    settings it chose for VGG16 and ResNet50."""
    return {
        "isic": {
            "binary": {"epochs": binary_epochs, "batch_size": binary_batch},
            "multiclass": {"epochs": multiclass_epochs, "batch_size": 64},
        }
    }


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the value of ``model=`` (e.g. "densenet201")
    family: str  # "keras" or "torch"
    constructor: str  # "keras.applications.DenseNet201" / "torchvision.models.densenet201"
    imagenet_weights: str  # what the framework's loader fetches: a torchvision enum member or keras's file name
    # ({rows}: the input size Keras picks the file by, MobileNetV2 only)
    gradcam_layer: str  # last convolutional feature map
    first_conv_layer: str
    last_conv_layer: str
    defaults: dict[str, Any] = field(default_factory=dict)
    in_seeds: str = ""  # which seed used this architecture, for the report

    @property
    def key(self) -> str:
        return f"{self.family}:{self.name}"


# Keras layer names are those of keras.applications (Keras 3); ``output`` is the identity layer that
# medinterp.models.keras.build puts on the backbone's output tensor (the last convolutional
# feature map of an include_top=False model), whose own layer name Keras numbers per session for NASNet.
_SPECS = [
    ModelSpec(
        "nasnet_mobile",
        "keras",
        "keras.applications.NASNetMobile",
        "nasnet_mobile_no_top.h5",
        gradcam_layer="output",
        first_conv_layer="stem_conv1",
        last_conv_layer="output",
        defaults={**_paper(50), **_thesis()},
        in_seeds="paper",
    ),
    ModelSpec(
        "densenet201",
        "keras",
        "keras.applications.DenseNet201",
        "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5",
        gradcam_layer="relu",
        first_conv_layer="conv1_conv",
        last_conv_layer="relu",
        defaults={**_paper(70), **_thesis()},
        in_seeds="paper",
    ),
    ModelSpec(
        "mobilenet_v2",
        "keras",
        "keras.applications.MobileNetV2",
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5",
        gradcam_layer="out_relu",
        first_conv_layer="Conv1",
        last_conv_layer="out_relu",
        defaults={**_paper(70), **_thesis()},
        in_seeds="paper",
    ),
    ModelSpec(
        "vgg16",
        "keras",
        "keras.applications.VGG16",
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        gradcam_layer="block5_conv3",
        first_conv_layer="block1_conv1",
        last_conv_layer="block5_conv3",
        defaults={**_paper(70), **_thesis()},
    ),
    ModelSpec(
        "resnet50",
        "keras",
        "keras.applications.ResNet50",
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        gradcam_layer="conv5_block3_out",
        first_conv_layer="conv1_conv",
        last_conv_layer="conv5_block3_out",
        defaults={**_paper(70), **_thesis()},
    ),
    ModelSpec(
        "alexnet",
        "torch",
        "torchvision.models.alexnet",
        "AlexNet_Weights.IMAGENET1K_V1",
        gradcam_layer="features.10",
        first_conv_layer="features.0",
        last_conv_layer="features.10",
        defaults={**_paper(70), **_thesis(binary_epochs=15, binary_batch=32)},
        in_seeds="thesis",
    ),
    ModelSpec(
        "vgg16",
        "torch",
        "torchvision.models.vgg16",
        "VGG16_Weights.IMAGENET1K_V1",
        gradcam_layer="features.28",
        first_conv_layer="features.0",
        last_conv_layer="features.28",
        defaults={**_paper(70), **_thesis(multiclass_epochs=45)},
        in_seeds="thesis",
    ),
    ModelSpec(
        "resnet50",
        "torch",
        "torchvision.models.resnet50",
        "ResNet50_Weights.IMAGENET1K_V1",
        gradcam_layer="layer4",
        first_conv_layer="conv1",
        last_conv_layer="layer4.2.conv3",
        defaults={**_paper(70), **_thesis()},
        in_seeds="thesis",
    ),
    ModelSpec(
        "densenet201",
        "torch",
        "torchvision.models.densenet201",
        "DenseNet201_Weights.IMAGENET1K_V1",
        gradcam_layer="features.norm5",
        first_conv_layer="features.conv0",
        last_conv_layer="features.denseblock4.denselayer32.conv2",
        defaults={**_paper(70), **_thesis()},
    ),
    ModelSpec(
        "mobilenet_v2",
        "torch",
        "torchvision.models.mobilenet_v2",
        "MobileNet_V2_Weights.IMAGENET1K_V1",
        gradcam_layer="features.18",
        first_conv_layer="features.0.0",
        last_conv_layer="features.18.0",
        defaults={**_paper(70), **_thesis()},
    ),
]
REGISTRY: dict[str, ModelSpec] = {spec.key: spec for spec in _SPECS}

# Where a name exists in both families, ``family: auto`` picks the one whose seed used it for the
# per-model (ISIC) stages: torchvision, as the thesis.
PREFERRED_FAMILY = "torch"


def names(family: str | None = None) -> list[str]:
    """Registered names, optionally of one family, in registration order without repeats."""
    return list(dict.fromkeys(s.name for s in _SPECS if family in (None, s.family)))


def families_of(name: str) -> list[str]:
    return [s.family for s in _SPECS if s.name == name]


def get(name: str, family: str = "auto", preferred: str = PREFERRED_FAMILY) -> ModelSpec:
    """The spec for ``model=name``; ``family`` is ``auto``, ``keras`` or ``torch``; ``auto`` picks
    ``preferred`` where both families have the name."""
    found = families_of(name)
    if not found:
        raise ConfigError(f"model '{name}' is not registered; choose one of {names()}")
    if family == "auto":
        family = found[0] if len(found) == 1 else preferred
    elif family not in FAMILIES:
        raise ConfigError(f"family '{family}' is unknown; choose auto or one of {list(FAMILIES)}")
    elif family not in found:
        raise ConfigError(f"model '{name}' exists only in the {found[0]} family, not in {family}")
    return REGISTRY[f"{family}:{name}"]


# ``<family>-<name>`` in a list of models picks the family: DVC allows no other punctuation than
# ``_`` and ``-`` in a stage name (``paper_autoencoder@torch-resnet50``), and the entry is also a folder name.
FAMILY_SEPARATOR = "-"


def lookup(entry: str, family: str = "auto", preferred: str = PREFERRED_FAMILY) -> ModelSpec:
    """The spec of an entry of ``models`` or ``paper.backbones``: a registered name (``family``, else
    ``preferred`` where both families have it) or ``<family>-<name>`` (``torch-resnet50``)."""
    prefix, separator, name = entry.partition(FAMILY_SEPARATOR)
    if separator and prefix in FAMILIES:
        return get(name, prefix)
    return get(entry, family, preferred)
