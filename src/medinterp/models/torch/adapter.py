"""The torch side of :class:`medinterp.interpret.adapter.ModelAdapter`: an ``nn.Module`` plus its
input normalisation, seen through forward hooks on named modules.

Images come in as ``(N, H, W, 3)`` float32 in [0, 1]; the adapter normalises them with the model's
mean and std, moves channels first, and returns activations and gradients channel-first, with
input gradients back in the [0, 1] ``(N, H, W, 3)`` image space (autograd runs through the
normalisation, so they are exact).

A forward pass that only needs one layer stops right after that layer (the hook raises), so
activations and feature visualization of an early layer do not pay for the rest of the network.
A hooked module that runs more than once in a forward pass (a shared ReLU) is seen at its first call.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from medinterp.errors import ConfigError
from medinterp.interpret.adapter import image_batch


class _StopForward(Exception):
    """Raised by a hook once the layer it watches has produced its output."""


class TorchAdapter:
    def __init__(self, module: nn.Module, mean: Sequence[float], std: Sequence[float], image_size: int,
                 device: str | torch.device | None = None):
        """``image_size`` is the side of the probe image used to find the layers' order and shapes."""
        self.device = torch.device(device) if device is not None else next(module.parameters()).device
        self.module = module.to(self.device).eval()
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.image_size = int(image_size)
        self._named = dict(module.named_modules())
        self._conv_layers: list[str] | None = None
        self._channels: dict[str, int] = {}

    # -- what the protocol asks -------------------------------------------------------------

    def conv_layers(self) -> list[str]:
        if self._conv_layers is None:
            order: dict[str, None] = {}   # first call of each convolution, in call order

            def seen(name: str):
                return lambda module, inputs, output: order.setdefault(name)

            handles = [mod.register_forward_hook(seen(name)) for name, mod in self._named.items() if isinstance(mod, nn.Conv2d)]
            try:
                with torch.no_grad():
                    self.module(self._probe())
            finally:
                for handle in handles:
                    handle.remove()
            self._conv_layers = list(order)
        return list(self._conv_layers)

    def channels(self, layer: str) -> int:
        if layer not in self._channels:
            with torch.no_grad():
                self._channels[layer] = int(self._layer_output(self._probe(), layer).shape[1])
        return self._channels[layer]

    def scores(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                out.append(self.module(self._input(images[start:start + batch_size])).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def activations(self, images: np.ndarray, layer: str, batch_size: int = 32) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                out.append(self._layer_output(self._input(images[start:start + batch_size]), layer).cpu().numpy())
        if not out:
            return np.zeros((0, self.channels(layer), 0, 0), np.float32)
        return np.concatenate(out)

    def gradcam_parts(self, images: np.ndarray, layer: str, class_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self._input(images)
        with self._capture(layer, stop=False) as seen:
            logits = self.module(x)
        acts = seen["output"]
        score = class_scores(logits, torch.full((len(x),), class_index, device=self.device))
        (grad,) = torch.autograd.grad(score.sum(), acts)
        return acts.detach().cpu().numpy(), grad.cpu().numpy(), score.detach().cpu().numpy()

    def input_gradient(self, images: np.ndarray, layer: str | None, targets: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        pixels = torch.as_tensor(image_batch(images), device=self.device).requires_grad_(True)
        x = self._normalise(pixels)
        index = torch.as_tensor(np.asarray(targets, dtype=np.int64), device=self.device)
        if len(index) != len(x):
            raise ValueError(f"{len(x)} images but {len(index)} targets")
        if layer is None:
            objective = class_scores(self.module(x), index)
        else:
            acts = self._layer_output(x, layer)
            objective = acts[torch.arange(len(x), device=self.device), index].mean(dim=(1, 2))
        (grad,) = torch.autograd.grad(objective.sum(), pixels)
        return objective.detach().cpu().numpy(), grad.cpu().numpy()

    # -- plumbing -----------------------------------------------------------------------------

    def _probe(self) -> torch.Tensor:
        return self._normalise(torch.full((1, self.image_size, self.image_size, 3), 0.5, device=self.device))

    def _input(self, images: np.ndarray) -> torch.Tensor:
        return self._normalise(torch.as_tensor(image_batch(images), device=self.device))

    def _normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels.permute(0, 3, 1, 2) - self.mean) / self.std

    def _layer_output(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """``layer``'s output for the normalised batch ``x``; the forward pass ends there."""
        with self._capture(layer, stop=True) as seen:
            try:
                self.module(x)
            except _StopForward:
                pass
        if "output" not in seen:
            raise ConfigError(f"layer '{layer}' did not run in the forward pass")
        return seen["output"]

    @contextmanager
    def _capture(self, layer: str, stop: bool) -> Iterator[dict[str, torch.Tensor]]:
        if layer not in self._named:
            raise ConfigError(f"layer '{layer}' is not a module of this model; convolutional layers: {self.conv_layers()}")
        seen: dict[str, torch.Tensor] = {}

        def hook(module, inputs, output):
            if "output" in seen:
                return
            if not (isinstance(output, torch.Tensor) and output.dim() == 4):
                raise ConfigError(f"layer '{layer}' does not output a (N, C, h, w) tensor")
            seen["output"] = output
            if stop:
                raise _StopForward

        handle = self._named[layer].register_forward_hook(hook)
        try:
            yield seen
        finally:
            handle.remove()


def class_scores(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Per row, the score of ``classes[i]``; a single-logit model's class 0 is the negated logit."""
    if logits.shape[1] == 1:
        return torch.where(classes == 1, logits[:, 0], -logits[:, 0])
    return logits[torch.arange(len(logits), device=logits.device), classes]
