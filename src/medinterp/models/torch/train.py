"""Training a torch network with the shared epoch loop (``training.loop.fit``): the pieces that
do not depend on the task.

:class:`TorchTrainable` is the PyTorch side of ``training.loop.Trainable``: Adam on the trainable
parameters, a class-weighted loss, one pass over augmented batches per epoch, evaluation on the
un-augmented validation images.

Loss (:func:`weighted_loss`): the class-weighted mean ``sum(w[y] * loss) / sum(w[y])`` over the
images of a batch (and of the whole set for the reported epoch losses), with ``BCEWithLogitsLoss``
on one logit for the binary task and cross-entropy on one logit per class for the multiclass task,
which is how ``nn.CrossEntropyLoss(weight=w)`` averages. Validation losses use the training set's
class weights.

Training batches are read by loader processes and augmented on the training device
(``data.training_batches``). ``isic.memory_format`` ``channels_last`` puts the network and its
inputs in NHWC layout, in training and in :func:`predict_logits` (:data:`MEMORY_FORMATS`).
``isic.precision`` bf16 or fp16 runs the forward pass and the loss under ``torch.autocast``
(:func:`autocast`, training and prediction); fp16 scales the loss (``torch.amp.GradScaler``) and
needs a CUDA device: on a CPU it stops with a :class:`ConfigError` rather than run a slow, untested
path (bf16 is the CPU's mixed precision). fp32, the default, uses no autocast.

A resumable training state (:meth:`TorchTrainable.training_state`) holds numpy arrays, not tensors
(:func:`to_numpy`, :func:`to_torch`), and torch's random streams (:func:`random_state`).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from medinterp.errors import ConfigError
from medinterp.evaluation.scalars import scalars
from medinterp.models.torch.data import AugmentedBatches, chunks
from medinterp.models.torch.transforms import to_input
from medinterp.training.classifier import Throughput, probabilities

MEMORY_FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(run_on: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The mixed precision of ``isic.precision`` on ``run_on``: none for fp32."""
    if precision == "fp16" and run_on.type != "cuda":
        raise ConfigError(
            f"isic.precision fp16 needs a CUDA device (its loss scaling), this run has {run_on.type}; use bf16 or fp32"
        )
    dtype = AUTOCAST_DTYPES[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(run_on.type, dtype)


def weighted_loss(
    logits: torch.Tensor, labels: torch.Tensor, class_weights: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Class-weighted BCE-with-logits (``logits`` of shape ``(N, 1)``) or cross-entropy (``(N, K)``);
    ``reduction="sum"`` gives ``sum(w[y] * loss)`` for averaging over several batches."""
    weights = class_weights[labels]
    if logits.shape[1] == 1:
        per_image = F.binary_cross_entropy_with_logits(logits[:, 0], labels.to(logits.dtype), reduction="none")
    else:
        per_image = F.cross_entropy(logits, labels, reduction="none")
    total = (weights * per_image).sum()
    return total if reduction == "sum" else total / weights.sum()


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images: np.ndarray,
    batch_size: int = 64,
    precision: str = "fp32",
    memory_format: str = "channels_last",
) -> np.ndarray:
    """Logits ``(N, K)`` of ``images`` (``(N, H, W, 3) uint8``) with the model in eval mode, its
    inputs in ``memory_format`` and under ``precision`` (``isic.memory_format``, ``isic.precision``)."""
    model.eval()
    run_on = next(model.parameters()).device
    parts = []
    for batch in chunks(images, batch_size):
        with autocast(run_on, precision):
            parts.append(model(to_input(batch, MEMORY_FORMATS[memory_format]).to(run_on)).float().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)


class TorchTrainable:
    """One network, its training batches and validation images, for ``training.loop.fit``."""

    def __init__(
        self,
        model: nn.Module,
        batches: AugmentedBatches,
        val_images: np.ndarray,
        val_labels: np.ndarray,
        class_weights: np.ndarray,
        class_names: list[str],
        desc: str = "",
        precision: str = "fp32",
        memory_format: str = "channels_last",
    ):
        self.model, self.batches, self.desc = model, batches, desc
        self.val_images, self.val_labels, self.class_names = val_images, np.asarray(val_labels), class_names
        self.device = next(model.parameters()).device
        self.precision, self.memory_format = precision, memory_format
        autocast(self.device, precision)  # a precision this device cannot run stops here, before training
        self.class_weights = torch.tensor(class_weights, dtype=torch.float32, device=self.device)
        self.optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad])
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=precision == "fp16")
        self.throughput = Throughput()

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        start = time.perf_counter()
        weighted_sum = weight_sum = 0.0
        logits_all, labels_all = [], []
        for x, y in tqdm(self.batches, desc=f"{self.desc} epoch {epoch}".strip(), unit="batch", leave=False):
            with autocast(self.device, self.precision):
                logits = self.model(x)
                loss_sum = weighted_loss(logits.float(), y, self.class_weights, reduction="sum")
            batch_weight = self.class_weights[y].sum()
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss_sum / batch_weight).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            weighted_sum += float(loss_sum.detach())
            weight_sum += float(batch_weight)
            logits_all.append(logits.detach().float().cpu().numpy())
            labels_all.append(y.cpu().numpy())
        labels = np.concatenate(labels_all)
        self.throughput.add(len(labels), time.perf_counter() - start)
        return {
            "loss": weighted_sum / weight_sum,
            **scalars(labels, probabilities(np.concatenate(logits_all)), self.class_names),
        }

    def evaluate(self) -> dict[str, float]:
        logits = predict_logits(self.model, self.val_images, precision=self.precision, memory_format=self.memory_format)
        loss = weighted_loss(
            torch.from_numpy(logits), torch.tensor(self.val_labels, dtype=torch.long), self.class_weights.cpu()
        )
        return {"loss": float(loss), **scalars(self.val_labels, probabilities(logits), self.class_names)}

    def get_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def set_state(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)

    def set_learning_rate(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def training_state(self) -> dict[str, Any]:
        """Weights, optimizer and loss-scaler state, both batch generators and torch's random streams
        (dropout), as numpy arrays and plain values: what continues bit-identically on this device."""
        return {
            "model": to_numpy(self.model.state_dict()),
            "optimizer": to_numpy(self.optimizer.state_dict()),
            "scaler": self.scaler.state_dict(),
            "batches": self.batches.state(),
            "random": random_state(),
        }

    def set_training_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(to_torch(state["model"]))
        self.optimizer.load_state_dict(to_torch(state["optimizer"]))
        self.scaler.load_state_dict(state["scaler"])
        self.batches.set_state(state["batches"])
        set_random_state(state["random"])


def to_numpy(value: Any) -> Any:
    """``value`` with every tensor in it (nested in dicts, lists, tuples) copied to a numpy array."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_numpy(v) for v in value)
    return value


def to_torch(value: Any) -> Any:
    """The inverse of :func:`to_numpy`."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, dict):
        return {k: to_torch(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_torch(v) for v in value)
    return value


def random_state() -> dict[str, Any]:
    """torch's CPU and CUDA random streams (dropout) as numpy arrays, for a resumable training state."""
    return {
        "cpu": torch.get_rng_state().numpy(),
        "cuda": [s.numpy() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
    }


def set_random_state(state: dict[str, Any]) -> None:
    """The inverse of :func:`random_state`; a CUDA stream saved elsewhere is ignored without CUDA."""
    torch.set_rng_state(torch.from_numpy(state["cpu"]))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.from_numpy(s) for s in state["cuda"]])
