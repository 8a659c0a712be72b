"""The torch side of :class:`medinterp.interpret.adapter.ModelAdapter`: an ``nn.Module`` plus its
input normalisation, seen through forward hooks on named modules.

Images come in as ``(N, H, W, 3)`` float32 in [0, 1]; the adapter normalises them with the model's
mean and std, moves channels first, and returns activations and gradients channel-first, with
input gradients back in the [0, 1] ``(N, H, W, 3)`` image space (autograd runs through the
normalisation, so they are exact).

A forward pass that only needs one layer stops right after that layer (the hook raises), so
activations and feature visualization of an early layer do not pay for the rest of the network;
one that needs several (``layer_activations``) has a hook on each and stops after the last to run.
A hooked module that runs more than once in a forward pass (a shared ReLU) is seen at its first call.

The parameter layers are the modules that hold weights of their own: parameters or floating-point
buffers saved in the state dict (batch norm's running statistics; not ``num_batches_tracked``, a
counter, nor non-persistent buffers, which are derived constants rather than learned state). They
are ordered by their first call in a probe pass, so a module that never runs is not one; a container
holding its own weights (a ViT's class token on the root, named ``""``) comes before what it calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from medinterp.errors import ConfigError
from medinterp.interpret.adapter import checked_weights, image_batch


class _StopForward(Exception):
    """Raised by a hook once the layer it watches has produced its output."""


class TorchAdapter:
    def __init__(
        self,
        module: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        image_size: int,
        device: str | torch.device | None = None,
    ):
        """``image_size`` is the side of the probe image used to find the layers' order and shapes."""
        self.device = torch.device(device) if device is not None else next(module.parameters()).device
        self.module = module.to(self.device).eval()
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.image_size = int(image_size)
        self._named = dict(module.named_modules())
        self._conv_layers: list[str] | None = None
        self._parameter_layers: list[str] | None = None
        self._channels: dict[str, int] = {}

    # -- what the protocol asks -------------------------------------------------------------

    def conv_layers(self) -> list[str]:
        if self._conv_layers is None:
            self._conv_layers = self._call_order(lambda module: isinstance(module, nn.Conv2d))
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
                out.append(self.module(self._input(images[start : start + batch_size])).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def activations(self, images: np.ndarray, layer: str, batch_size: int = 32) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                out.append(self._layer_output(self._input(images[start : start + batch_size]), layer).cpu().numpy())
        if not out:
            return np.zeros((0, self.channels(layer), 0, 0), np.float32)
        return np.concatenate(out)

    def layer_activations(
        self,
        images: np.ndarray,
        layers: Sequence[str],
        batch_size: int = 32,
        reduce: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        images = image_batch(images)
        layers = list(dict.fromkeys(layers))
        parts: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
        with torch.no_grad():
            # an empty set still makes one (empty) pass, so every layer's shape comes back, as in Keras
            for start in range(0, max(len(images), 1), batch_size):
                seen = self._reduced_outputs(self._input(images[start : start + batch_size]), layers, reduce)
                for layer in layers:
                    parts[layer].append(seen[layer])
        return {layer: np.concatenate(parts[layer]) for layer in layers}

    def gradcam_parts(
        self, images: np.ndarray, layer: str, class_index: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self._input(images)
        with self._capture(layer, stop=False) as seen:
            logits = self.module(x)
        acts = seen["output"]
        score = class_scores(logits, torch.full((len(x),), class_index, device=self.device))
        (grad,) = torch.autograd.grad(score.sum(), acts)
        return acts.detach().cpu().numpy(), grad.cpu().numpy(), score.detach().cpu().numpy()

    def input_gradient(
        self, images: np.ndarray, layer: str | None, targets: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
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

    def parameter_layers(self) -> list[str]:
        if self._parameter_layers is None:
            self._parameter_layers = self._call_order(own_weights)
        return list(self._parameter_layers)

    def layer_weights(self, layer: str) -> list[np.ndarray]:
        return [tensor.detach().to("cpu", copy=True).numpy() for tensor in self._weights(layer)]

    def set_layer_weights(self, layer: str, arrays: Sequence[np.ndarray]) -> None:
        tensors = self._weights(layer)
        expected = [(tuple(t.shape), torch.empty((), dtype=t.dtype).numpy().dtype) for t in tensors]
        arrays = checked_weights(layer, expected, arrays)
        with torch.no_grad():
            for tensor, array in zip(tensors, arrays):
                # torch.from_numpy warns on a read-only array; a copy is cheaper than a warning per layer
                tensor.copy_(torch.from_numpy(array if array.flags.writeable else array.copy()))

    # -- plumbing -----------------------------------------------------------------------------

    def _weights(self, layer: str) -> list[torch.Tensor]:
        layers = self.parameter_layers()
        if layer not in layers:
            raise ConfigError(
                f"layer '{layer}' is not a parameter layer of this model "
                f"({len(layers)} parameter layers; see parameter_layers())"
            )
        return own_weights(self._named[layer])

    def _call_order(self, chosen) -> list[str]:
        """The modules ``chosen(module)`` picks, in the order of their first call in a forward pass
        (a pre-hook: a container is seen before the modules it calls)."""
        order: dict[str, None] = {}

        def called(name: str):
            return lambda module, inputs: order.setdefault(name)

        handles = [mod.register_forward_pre_hook(called(name)) for name, mod in self._named.items() if chosen(mod)]
        try:
            with torch.no_grad():
                self.module(self._probe())
        finally:
            for handle in handles:
                handle.remove()
        return list(order)

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

    def _reduced_outputs(
        self, x: torch.Tensor, layers: list[str], reduce: Callable[[np.ndarray], np.ndarray] | None
    ) -> dict[str, np.ndarray]:
        """Each of ``layers``' output for the normalised batch ``x`` (``reduce``d), from one forward
        pass that ends once the last of them has run. Reduced inside the hook, so that with
        ``reduce`` a batch's maps of all the layers are never held at once."""
        for layer in layers:
            if layer not in self._named:
                raise ConfigError(
                    f"layer '{layer}' is not a module of this model; convolutional layers: {self.conv_layers()}"
                )
        seen: dict[str, np.ndarray] = {}

        def hook_for(layer: str):
            def hook(module, inputs, output):
                if layer in seen:
                    return
                if not (isinstance(output, torch.Tensor) and output.dim() == 4):
                    raise ConfigError(f"layer '{layer}' does not output a (N, C, h, w) tensor")
                acts = output.detach().cpu().numpy()
                # a copy: the next module may work in place (VGG's ReLU(inplace=True)) and rewrite a view
                seen[layer] = np.array(reduce(acts) if reduce is not None else acts)
                if len(seen) == len(layers):
                    raise _StopForward

            return hook

        handles = [self._named[layer].register_forward_hook(hook_for(layer)) for layer in layers]
        try:
            self.module(x)
        except _StopForward:
            pass
        finally:
            for handle in handles:
                handle.remove()
        missing = [layer for layer in layers if layer not in seen]
        if missing:
            raise ConfigError(f"layers {missing} did not run in the forward pass")
        return seen

    @contextmanager
    def _capture(self, layer: str, stop: bool) -> Iterator[dict[str, torch.Tensor]]:
        if layer not in self._named:
            raise ConfigError(
                f"layer '{layer}' is not a module of this model; convolutional layers: {self.conv_layers()}"
            )
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


def own_weights(module: nn.Module) -> list[torch.Tensor]:
    """``module``'s own parameters, then its floating-point buffers saved in the state dict, in state dict order."""
    transient = getattr(module, "_non_persistent_buffers_set", set())  # private, but the state dict's own test
    buffers = [b for name, b in module.named_buffers(recurse=False) if name not in transient and b.is_floating_point()]
    return [p for _, p in module.named_parameters(recurse=False)] + buffers


def class_scores(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Per row, the score of ``classes[i]``; a single-logit model's class 0 is the negated logit."""
    if logits.shape[1] == 1:
        return torch.where(classes == 1, logits[:, 0], -logits[:, 0])
    return logits[torch.arange(len(logits), device=logits.device), classes]
