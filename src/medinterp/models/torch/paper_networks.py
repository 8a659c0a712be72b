"""The paper's networks (section 3) on torchvision backbones: the torch side of
``medinterp.paper.networks.PaperNetworks``, with the same method names as the Keras side
(``medinterp.models.keras.paper_networks``).

Every network takes what the Keras ones take: ``(N, S, S, 3)`` float32 images in [0, 1], NHWC.
Inside, ImageNet's mean and std (``transforms.IMAGENET_MEAN``/``IMAGENET_STD``, what torchvision's
weights expect) normalise them and channels move first; then come torchvision's convolutional
feature stages (the top-level modules before the pooling and the classifier: ``features`` of
AlexNet, VGG16, DenseNet201 and MobileNetV2, ``conv1`` .. ``layer4`` of ResNet50), held under their
torchvision names, so the registry's layer names (``layer4``, ``features.10``) are module names of
the encoder, the autoencoder and the classifier alike, and the weights files' keys are torchvision's.
The three networks of one backbone share those modules (as the Keras models share layers):
training the autoencoder or the classifier trains its encoder.

- autoencoder: the stride-2 transposed convolutions of ``medinterp.models.decoder`` (ReLU), a 3x3
  convolution to three channels and a sigmoid; output NHWC like its input; loss: binary
  cross-entropy averaged over every pixel and channel (Eq. 1);
- classifier: global average pooling, dense ``units`` (ReLU), dropout, one logit (malignant).
  Nothing in it depends on the input size, so weights trained at ``paper.image_size`` run at
  ``paper.evaluate.image_size`` as they are.

``batchnorm_momentum`` is Keras's (the share of the old moving statistics kept per step);
PyTorch's momentum is the share of the new batch, so a batch-norm module gets ``1 - momentum``.
"""

from __future__ import annotations

import copy
import random
import warnings
import zipfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.export import metadata
from medinterp.export.canonical import canonical_model
from medinterp.export.parity import checked, parity
from medinterp.io import atomic_path, readable, write_bytes
from medinterp.models.decoder import decoder_widths
from medinterp.models.torch.adapter import TorchAdapter
from medinterp.models.torch.build import build, imagenet_file
from medinterp.models.torch.export import exportable
from medinterp.models.torch.train import random_state, set_random_state, to_numpy, to_torch
from medinterp.models.torch.transforms import IMAGENET_MEAN, IMAGENET_STD
from medinterp.registry import ModelSpec

OPSET = 17
HEAD_MODULES = ("avgpool", "fc", "classifier")  # where torchvision's feature stages end
GRADIENT_BATCH = 32
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def device() -> torch.device:
    # the portable numerics hide any GPU (medinterp.numerics), so this is the CPU unless asked otherwise
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def feature_stages(network: nn.Module) -> dict[str, nn.Module]:
    """The top-level modules of a torchvision classifier before its pooling and classifier, by name."""
    stages = {}
    for name, module in network.named_children():
        if name in HEAD_MODULES:
            break
        stages[name] = module
    if isinstance(network, torchvision.models.DenseNet):
        stages["relu"] = nn.ReLU()  # DenseNet applies its last ReLU in forward(), not as a module
    return stages


class _OnBackbone(nn.Module):
    """[0, 1] NHWC images -> ImageNet normalisation -> the feature stages, held under their own names."""

    def __init__(self, stages: dict[str, nn.Module]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        for name, module in stages.items():
            self.add_module(name, module)
        self.stage_names = tuple(stages)

    def backbone_stages(self) -> dict[str, nn.Module]:
        return {name: self.get_submodule(name) for name in self.stage_names}

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.permute(0, 3, 1, 2) - self.mean) / self.std
        for name in self.stage_names:
            x = self.get_submodule(name)(x)
        return x


class PaperEncoder(_OnBackbone):
    """The backbone: images -> its last convolutional feature map ``(N, C, h, w)``."""

    def __init__(self, stages: dict[str, nn.Module], name: str, image_size: int):
        super().__init__(stages)
        self.name, self.image_size = name, int(image_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.feature_map(images)

    def feature_shape(self) -> tuple[int, int]:
        """Channels and side of the feature map at the encoder's image size (a probe in eval mode,
        so no batch-norm statistic moves)."""
        training = self.training
        self.eval()
        with torch.no_grad():
            probe = torch.zeros(1, self.image_size, self.image_size, 3, device=self.mean.device)
            out = self(probe)
        self.train(training)
        return int(out.shape[1]), int(out.shape[2])


class PaperAutoencoder(_OnBackbone):
    def __init__(self, encoder: PaperEncoder, filters: int):
        super().__init__(encoder.backbone_stages())
        channels, side = encoder.feature_shape()
        widths = decoder_widths(encoder.name, encoder.image_size, side, filters)
        for i, width in enumerate(widths):
            self.add_module(
                f"decoder_up{i + 1}", nn.ConvTranspose2d(channels, width, 3, stride=2, padding=1, output_padding=1)
            )
            channels = width
        self.decoder_out = nn.Conv2d(channels, 3, 3, padding=1)
        self.steps = len(widths)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.feature_map(images)
        for i in range(self.steps):
            x = F.relu(self.get_submodule(f"decoder_up{i + 1}")(x))
        return torch.sigmoid(self.decoder_out(x)).permute(0, 2, 3, 1)


class PaperClassifier(_OnBackbone):
    def __init__(self, encoder: PaperEncoder, units: int, dropout: float):
        super().__init__(encoder.backbone_stages())
        channels, _ = encoder.feature_shape()
        self.head_dense = nn.Linear(channels, units)
        self.head_dropout = nn.Dropout(dropout)
        self.head_logit = nn.Linear(units, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = self.feature_map(images).mean(dim=(2, 3))
        return self.head_logit(self.head_dropout(F.relu(self.head_dense(pooled))))


class ChannelsLast(nn.Module):
    """An encoder whose feature map comes out ``(N, h, w, C)``, as the Keras encoders' ONNX files give it."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images).permute(0, 2, 3, 1)


def reconstruction_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Eq. (1): binary cross-entropy between input and reconstruction, averaged over every pixel and channel."""
    return F.binary_cross_entropy(outputs, targets)


def classification_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, targets)


def make_optimizer(name: str, parameters, learning_rate: float) -> torch.optim.Optimizer:
    """Table 1's optimizers as the Keras side has them: Adam (Keras's epsilon) or SGD without momentum."""
    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate, eps=1e-7)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=learning_rate)
    raise ConfigError(f"optimizer '{name}' is unknown; choose one of ['adam', 'sgd']")


def run_batched(model: nn.Module, x: np.ndarray, batch_size: int) -> np.ndarray:
    """``model``'s outputs in eval mode for float32 ``x``, in batches, on the model's device."""
    model.eval()
    on = next(model.parameters()).device
    with torch.no_grad():
        parts = [
            model(torch.as_tensor(np.asarray(x[i : i + batch_size], dtype=np.float32), device=on)).cpu().numpy()
            for i in range(0, len(x), batch_size)
        ]
    return np.concatenate(parts)


class PaperTrainable:
    """A paper network as :class:`medinterp.training.loop.Trainable`: trains on ``batches(epoch)``
    (float32 ``(x, y)`` pairs, set by :meth:`restart`), validates on ``(val_x, val_y)``; the state
    is the ``state_dict`` (batch-norm statistics included). A batch of one image is skipped: batch
    normalisation cannot train on it (the balanced epoch's last batch can be one image)."""

    def __init__(
        self,
        model: nn.Module,
        loss: Loss,
        optimizer: str,
        learning_rate: float,
        val_x: np.ndarray,
        val_y: np.ndarray,
        batch_size: int,
        metrics: Callable[[np.ndarray, np.ndarray], dict] | None = None,
    ):
        self.model = model.to(device())
        self.loss, self.val_x, self.val_y, self.batch_size, self.metrics = loss, val_x, val_y, batch_size, metrics
        self.optimizer = make_optimizer(optimizer, self.model.parameters(), learning_rate)
        self.batches = None

    def restart(self, batches=None) -> None:
        """Zero the optimizer's moments and step count, keeping its learning rate; draw the next
        run's training data from ``batches`` when given."""
        self.optimizer.state.clear()
        if batches is not None:
            self.batches = batches

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        on = next(self.model.parameters()).device
        total, seen = 0.0, 0
        for x, y in self.batches(epoch):
            if len(x) < 2:
                continue
            loss = self.loss(self.model(torch.from_numpy(x).to(on)), torch.from_numpy(y).to(on))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * len(x)
            seen += len(x)
        if not seen:
            raise ConfigError("an epoch without a batch of two or more training images: nothing to train on")
        return {"loss": total / seen}

    def predict(self, x: np.ndarray) -> np.ndarray:
        return run_batched(self.model, x, self.batch_size)

    def evaluate(self) -> dict[str, float]:
        outputs = self.predict(self.val_x)
        result = {
            "loss": float(self.loss(torch.from_numpy(outputs), torch.from_numpy(np.asarray(self.val_y, np.float32))))
        }
        if self.metrics is not None:
            result |= self.metrics(self.val_y, outputs)
        return result

    def get_state(self) -> dict[str, torch.Tensor]:
        return get_weights(self.model)

    def set_state(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)

    def set_learning_rate(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def training_state(self) -> dict[str, Any]:
        """Weights, optimizer moments, the batch source's generator and torch's random streams, as
        numpy arrays and plain values (``training.resume``)."""
        return {
            "model": to_numpy(self.model.state_dict()),
            "optimizer": to_numpy(self.optimizer.state_dict()),
            "batches": self.batches.rng.bit_generator.state,
            "random": random_state(),
        }

    def set_training_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(to_torch(state["model"]))
        self.optimizer.load_state_dict(to_torch(state["optimizer"]))
        self.batches.rng.bit_generator.state = state["batches"]
        set_random_state(state["random"])


def get_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def framework() -> dict:
    return metadata.framework_info("torch", torch.__version__)


class PaperExporter:
    """One network to ONNX with the Keras paper files' interface: ``input`` ``(N, S, S, 3)``
    float32 in [0, 1], output ``output_name`` (``logit`` ``(N, 1)``, or ``features`` ``(N, h, w, C)``);
    ``S`` is the side of the parity images (the network runs at any size); dynamic batch."""

    def __init__(self, model: nn.Module, output_name: str):
        self.model, self.output_name = model, output_name

    def network(self) -> nn.Module:
        """A CPU copy of the model's current weights in eval mode (the training copy stays as it is)."""
        network = copy.deepcopy(self.model).cpu().eval()
        return ChannelsLast(network) if self.output_name == "features" else network

    def convert(self, network: nn.Module, size: int) -> onnx.ModelProto:
        example = torch.zeros(2, size, size, 3)
        network = exportable(network, example)
        buffer = BytesIO()
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", category=DeprecationWarning
            )  # the legacy exporter announces its retirement
            torch.onnx.export(
                network,
                (example,),
                buffer,
                dynamo=False,
                opset_version=OPSET,
                input_names=["input"],
                output_names=[self.output_name],
                dynamic_axes={"input": {0: "batch"}, self.output_name: {0: "batch"}},
            )
        return canonical_model(onnx.load_from_string(buffer.getvalue()))

    def export(self, path: str | Path, meta: dict, parity_inputs: np.ndarray, tolerance: float) -> tuple[dict, dict]:
        """Write ``path`` with ``meta`` inside and in a sidecar JSON, its ``metrics.onnx_parity``
        the record of ONNX Runtime against PyTorch on ``parity_inputs`` (``export.parity.checked``);
        returns that record and the measurement. Raises ``RuntimeError`` beyond ``tolerance``."""
        metadata.validate(meta)
        network = self.network()
        write_bytes(path, self.convert(network, int(parity_inputs.shape[1])).SerializeToString())
        measured = parity(readable(path), parity_inputs, run_batched(network, parity_inputs, 32))
        record = checked(path, measured, tolerance, "PyTorch")
        metadata.attach(path, {**meta, "metrics": {**meta["metrics"], "onnx_parity": record}})
        return record, measured


class PaperAdapter(TorchAdapter):
    """:class:`TorchAdapter` for a network that takes [0, 1] NHWC images itself (it normalises
    inside), so nothing is done to the images on the way in; Grad-CAM parts in batches."""

    def __init__(self, module: nn.Module, image_size: int):
        super().__init__(module, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), image_size)

    def _normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        return pixels

    def gradcam_parts(
        self, images: np.ndarray, layer: str, class_index: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(images) <= GRADIENT_BATCH:
            return super().gradcam_parts(images, layer, class_index)
        parts = []
        for start in range(0, len(images), GRADIENT_BATCH):  # the backward pass holds a batch's activations
            parts.append(super().gradcam_parts(images[start : start + GRADIENT_BATCH], layer, class_index))
        acts, grads, scores = (np.concatenate([part[k] for part in parts]) for k in range(3))
        return acts, grads, scores


class PaperNetworks:
    """The torch family's side of ``medinterp.paper.networks.PaperNetworks``."""

    family = "torch"
    weights_suffix = ".npz"

    def configure(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def build_encoder(self, spec: ModelSpec, size: int, weights: str = "random") -> tuple[PaperEncoder, str]:
        """The backbone and the initialisation really used: ``random`` (under the seed),
        ``imagenet`` (torchvision's file, never downloaded) or a state dict file of the torchvision
        architecture (``build``'s loader)."""
        if weights == "imagenet":
            path, url = imagenet_file(spec)
            if not path.is_file():
                raise ConfigError(
                    f"ImageNet weights for torch {spec.name} ({spec.imagenet_weights}) need the file {path}, "
                    f"which is missing and cannot be downloaded offline: fetch {url} elsewhere and put it "
                    f"there ($TORCH_HOME/hub/checkpoints), or point paper.weights at a local state dict "
                    f"file of torchvision's {spec.name}, or use paper.weights=random"
                )
        built = build(spec, 1, weights)
        return PaperEncoder(feature_stages(built.model), spec.name, size), built.init_used

    def set_batchnorm_momentum(self, encoder: nn.Module, momentum: float | None) -> None:
        if momentum is None:
            return
        for module in encoder.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = 1.0 - float(momentum)

    def build_autoencoder(self, encoder: PaperEncoder, filters: int) -> PaperAutoencoder:
        return PaperAutoencoder(encoder, filters)

    def build_classifier(self, encoder: PaperEncoder, units: int, dropout: float) -> PaperClassifier:
        return PaperClassifier(encoder, units, dropout)

    def classifier_at_size(
        self, model: PaperClassifier, spec: ModelSpec, size: int, units: int, dropout: float
    ) -> PaperClassifier:
        return model  # nothing in the network depends on the input size

    def reconstruction_loss(self) -> Loss:
        return reconstruction_loss

    def classification_loss(self) -> Loss:
        return classification_loss

    def trainable(
        self,
        model: nn.Module,
        loss: Loss,
        optimizer: str,
        learning_rate: float,
        val_x: np.ndarray,
        val_y: np.ndarray,
        batch_size: int,
        metrics=None,
    ) -> PaperTrainable:
        return PaperTrainable(model, loss, optimizer, learning_rate, val_x, val_y, batch_size, metrics)

    def get_weights(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return get_weights(model)

    def set_weights(self, model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
        model.load_state_dict(weights)

    def save_weights(self, model: nn.Module, path: str | Path) -> None:
        """The ``state_dict`` as named numpy arrays: ``torch.save`` writes a random serialization id
        into every file, so the same weights would get another DVC hash each run; ``np.savez`` does not."""
        path = Path(path)
        if not path.name.endswith(self.weights_suffix):
            raise ValueError(f"{path}: a torch paper checkpoint's name must end with {self.weights_suffix}")
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **{k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})

    def load_weights(self, model: nn.Module, path: str | Path) -> None:
        path = Path(path)
        found = readable(path)  # this stage's own, not yet renamed, if it wrote one
        if not found.is_file():
            raise ConfigError(f"{path}: checkpoint not found; run the stage that writes it (dvc repro)")
        try:
            with np.load(found, allow_pickle=False) as archive:
                state = {name: torch.from_numpy(archive[name]) for name in archive.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"{path}: not a readable weights file ({exc})") from None
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise ConfigError(
                f"{path}: its weights do not fit this network ({str(exc).splitlines()[0]}); "
                f"rerun the stage that writes it (dvc repro)"
            ) from None

    def exporter(self, model: nn.Module, output_name: str, trainer: PaperTrainable | None = None) -> PaperExporter:
        return PaperExporter(model, output_name)

    def framework(self) -> dict:
        return framework()

    def resize(self, images: np.ndarray, size: int) -> np.ndarray:
        """Bilinear (half-pixel centres, no antialiasing), clipped to [0, 1]."""
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).permute(0, 3, 1, 2)
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return np.clip(x.permute(0, 2, 3, 1).numpy(), 0.0, 1.0)

    def adapter(self, model: nn.Module, image_size: int) -> PaperAdapter:
        return PaperAdapter(model.to(device()), image_size)


def eager_runner(onnx_path: str | Path, meta: dict[str, Any]):
    """PyTorch's own forward pass of the weights a paper ONNX file was exported from
    (``<name>.npz`` beside ``<name>.onnx``), taking the ONNX model's input; and the framework. The
    network is rebuilt from the registry and the head settings recorded in the metadata."""
    onnx_path = Path(onnx_path)
    nets = PaperNetworks()
    encoder, _ = nets.build_encoder(registry.get(meta["architecture"], "torch"), int(meta["input"]["shape"][1]))
    if meta["output"]["kind"] == "logits":
        head = meta["params"]["paper"]["classifier"]
        model = nets.build_classifier(encoder, int(head["head_units"]), float(head["dropout"]))
    else:
        model = encoder
    nets.load_weights(model, onnx_path.with_name(f"{onnx_path.stem}{nets.weights_suffix}"))
    network = model.eval() if meta["output"]["kind"] == "logits" else ChannelsLast(model).eval()

    def run(inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network(torch.from_numpy(inputs)).numpy()

    return run, framework()
