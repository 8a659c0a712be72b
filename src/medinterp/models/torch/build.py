"""torchvision classifiers from the registry's specs, as the thesis fine-tuned them (section 4.2-4.3).

- The network is ``torchvision.models.<name>``, initialised one of three ways: ``imagenet``
  (torchvision's own weight enum and loader, which reads the file from torch.hub's checkpoints
  folder; this never downloads: a missing file is a :class:`ConfigError` naming it and where it
  goes), ``random`` (torchvision's initialisation under the caller's seed), or a path to a weights
  file (a state dict of the torchvision architecture, e.g. one saved by
  ``torchvision.models.resnet50(...).state_dict()``; its final layer may have any width).
- The final ``Linear`` (``fc``, ``classifier`` or ``classifier.6``/``classifier.1``) is replaced by
  ``Sequential(Dropout(dropout), Linear(in, num_outputs))``: one logit for the binary task, one per
  class for the multiclass task. MobileNetV2's own dropout in front of that layer becomes Identity,
  so every architecture has exactly one dropout of rate ``dropout`` before its logits.
- ``freeze`` lists layer names (dotted prefixes of parameter names, e.g. ``features.0`` or
  ``layer1``) whose parameters do not train; ``classifier`` names the classifier block of any
  architecture (ResNet's is called ``fc``). The new final layer always trains. The thesis froze the
  classifier block: for AlexNet and VGG16 that keeps the two 4096-wide hidden layers fixed; for
  ResNet50, DenseNet201 and MobileNetV2 the block is the final layer alone, so nothing is frozen.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from medinterp.errors import ConfigError
from medinterp.registry import ModelSpec

# In ``freeze``, the classifier block of any architecture: the top-level layer holding its final
# Linear (``classifier``, or ResNet's ``fc``).
CLASSIFIER = "classifier"


@dataclass(frozen=True)
class Built:
    model: nn.Module
    head: str  # name of the new final block (Sequential(Dropout, Linear))
    init_used: str  # "random", "imagenet (<enum>)" or "file <path> (md5 <hash>)"
    frozen: tuple[str, ...]  # names of the parameters that do not train


def imagenet_file(spec: ModelSpec) -> tuple[Path, str]:
    """Where torchvision looks for ``spec``'s ImageNet weights, and the address they come from."""
    url = torchvision.models.get_weight(spec.imagenet_weights).url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name, url


def build(
    spec: ModelSpec,
    num_outputs: int,
    weights: str = "random",
    dropout: float = 0.1,
    freeze: tuple[str, ...] | list[str] = (),
) -> Built:
    """The network of ``spec`` with its new final layer; call under ``torch.manual_seed`` for a
    reproducible random initialisation (the new layer is always drawn at random)."""
    if spec.family != "torch":
        raise ConfigError(f"model '{spec.name}' is a {spec.family} model, not a torchvision one")
    name = spec.constructor.rsplit(".", 1)[1]
    if weights == "imagenet":
        path, url = imagenet_file(spec)
        if not path.is_file():
            raise ConfigError(
                f"ImageNet weights for {spec.name} ({spec.imagenet_weights}) need the file {path}, and this machine "
                f"cannot download it: fetch {url} elsewhere and put it at that path (torch.hub's checkpoints folder, "
                f"$TORCH_HOME/hub/checkpoints), or set isic.weights to random or to a local weights file"
            )
        model = torchvision.models.get_model(name, weights=spec.imagenet_weights)
        init_used = f"imagenet ({spec.imagenet_weights})"
    elif weights == "random":
        model = torchvision.models.get_model(name, weights=None)
        init_used = "random"
    else:
        model = torchvision.models.get_model(name, weights=None)
        init_used = _load_file(model, Path(weights), spec.name)
    head = _replace_head(model, num_outputs, dropout)
    frozen = _freeze(model, tuple(freeze), head, spec.name)
    return Built(model, head, init_used, frozen)


def final_linear(model: nn.Module) -> str:
    """Name of the last ``nn.Linear`` in forward order: the layer a classifier ends with."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no Linear layer to replace")
    return names[-1]


def _replace_head(model: nn.Module, num_outputs: int, dropout: float) -> str:
    name = final_linear(model)
    old = model.get_submodule(name)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, nn.Sequential(nn.Dropout(dropout), nn.Linear(old.in_features, num_outputs)))
    if isinstance(parent, nn.Sequential) and child.isdigit() and int(child) > 0:
        before = str(int(child) - 1)
        if isinstance(parent.get_submodule(before), nn.Dropout):
            setattr(parent, before, nn.Identity())
    return name


def _freeze(model: nn.Module, prefixes: tuple[str, ...], head: str, model_name: str) -> tuple[str, ...]:
    block = head.split(".")[0]
    prefixes = tuple(block if p == CLASSIFIER else p for p in prefixes)
    names = [n for n, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(_under(n, prefix) for n in names):
            raise ConfigError(
                f"freeze: '{prefix}' names no layer of {model_name} (its top-level layers: "
                f"{sorted({n.split('.')[0] for n in names})})"
            )
    frozen = []
    for n, p in model.named_parameters():
        if any(_under(n, prefix) for prefix in prefixes) and not _under(n, head):
            p.requires_grad_(False)
            frozen.append(n)
    return tuple(frozen)


def _under(parameter: str, prefix: str) -> bool:
    return parameter == prefix or parameter.startswith(prefix + ".")


def read_torch_file(path: Path, missing: str, kind: str) -> Any:
    """``torch.load`` of a file of tensors and plain values (no code runs), with errors naming it."""
    if not path.is_file():
        raise ConfigError(f"{path}: {missing}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"{path}: not a readable {kind} ({type(exc).__name__}: {exc})") from exc


def _load_file(model: nn.Module, path: Path, model_name: str) -> str:
    """Load a state dict file into the unmodified torchvision ``model``; the final layer's entries
    are skipped when their shape differs (that layer is replaced anyway)."""
    state = read_torch_file(path, "not a file (weights: imagenet, random or a weights file)", "PyTorch weights file")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: expected a state dict (parameter name -> tensor), found {type(state).__name__}")
    own = model.state_dict()
    last = final_linear(model)
    state = {
        k: v for k, v in state.items() if not (_under(k, last) and k in own and tuple(v.shape) != tuple(own[k].shape))
    }
    missing = sorted(set(own) - set(state) - {f"{last}.weight", f"{last}.bias"})
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ConfigError(
            f"{path}: does not fit torchvision's {model_name}: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        raise ConfigError(f"{path}: shapes differ from torchvision's {model_name} at {wrong[:3]}")
    model.load_state_dict(state, strict=False)
    return f"file {path} (md5 {hashlib.md5(path.read_bytes()).hexdigest()})"
