"""Feature visualization by activation maximization (thesis sections 4.4.2-4.4.3, Table 3).

Start from noise and climb the gradient of one objective per image: the mean activation of a
channel of a layer (``img* = argmax sum_xy h_{n,x,y,z}(img)``) or, with ``layer=None``, a class
score. The channels of one layer are optimised together: image ``i`` of the batch maximises
target ``i``, and the model sees the whole batch in one forward and backward pass.

The optimizer is our own, small and framework-free (the model is reached only through
``ModelAdapter.input_gradient``, so both families get it). It follows Olah et al. 2017
("Feature Visualization", Distill) and the transforms of lucid / lucent (Apache-2.0), in the
pixel space of the [0, 1] image, with normalised-gradient ascent as in Mordvintsev et al.'s
DeepDream:

1. draw each image's random transform (:mod:`medinterp.interpret.regularizers`) and apply it;
2. get the objective and its gradient for the transformed images, and map the gradient back
   through the transform's exact adjoint;
3. divide each image's gradient by its mean absolute value, so ``lr`` is the mean change of a
   pixel value per step whatever the layer's scale;
4. step ``x += lr * (g_normalised - l1 * sign(x - 0.5))``: the L1 penalty on the distance from
   mid-grey, weighted relative to the normalised objective gradient, then clip to [0, 1];
5. every ``bilateral_every`` steps, smooth each image with a bilateral filter.

``Settings.unregularized()`` switches off the transforms, the filter and the penalty: the thesis's
Fig. 29, plain gradient ascent from the same noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from tqdm import tqdm

from medinterp.interpret.adapter import ModelAdapter
from medinterp.interpret.regularizers import Transforms, bilateral, l1_gradient, random_brightness, random_warp
from medinterp.params import Featurevis


@dataclass(frozen=True)
class Settings:
    steps: int = 120
    lr: float = 0.05  # mean change of a pixel value per step
    init_std: float = 0.1  # noise start: 0.5 + init_std * N(0, 1), clipped to [0, 1]
    transforms: Transforms = field(default_factory=Transforms)
    l1: float = 0.0
    bilateral_every: int = 0  # 0: never
    sigma_color: float = 75.0  # 0-255 scale, as OpenCV's bilateralFilter
    sigma_spatial: float = 1.0
    diameter: int = 5
    batch_size: int = 32  # images optimised together
    seed: int = 0

    def unregularized(self) -> Settings:
        return replace(self, transforms=Transforms(), l1=0.0, bilateral_every=0)


def settings_from_params(block: Featurevis, seed: int) -> Settings:
    """:class:`Settings` from the resolved ``interpret.featurevis`` block (``Params.interpret_settings()``)."""
    reg = block.regularizers
    return Settings(
        steps=block.steps,
        lr=block.lr,
        init_std=block.init_std,
        transforms=Transforms(jitter=reg.jitter, rotate=reg.rotate, translate=reg.translate, resize=reg.resize),
        l1=reg.l1,
        bilateral_every=reg.bilateral.every,
        sigma_color=reg.bilateral.sigma_color,
        sigma_spatial=reg.bilateral.sigma_spatial,
        diameter=reg.bilateral.diameter,
        batch_size=block.batch_size,
        seed=seed,
    )


@dataclass
class Visualizations:
    images: np.ndarray  # (N, S, S, 3) float32 in [0, 1]; image i maximises targets[i]
    targets: np.ndarray  # (N,) channel (or class) indices
    start: np.ndarray  # (N,) objective of the noise start
    end: np.ndarray  # (N,) objective of the final image, untransformed
    trace: np.ndarray  # (steps, N) objective of the transformed image at each step


def visualize(
    adapter: ModelAdapter,
    layer: str | None,
    targets: Sequence[int],
    image_size: int,
    settings: Settings,
    progress: bool = True,
) -> Visualizations:
    """One image per target maximising channel ``targets[i]`` of ``layer`` (or class score)."""
    targets = np.asarray(targets, dtype=np.int64)
    rng = np.random.default_rng(settings.seed)
    noise = 0.5 + settings.init_std * rng.standard_normal((len(targets), image_size, image_size, 3))
    images = np.clip(noise, 0, 1).astype(np.float32)
    start, trace_parts, end = [], [], []
    batches = range(0, len(targets), settings.batch_size)
    bar = tqdm(
        total=len(batches) * settings.steps, desc=f"featurevis {layer or 'scores'}", unit="step", disable=not progress
    )
    for first in batches:
        chunk = slice(first, first + settings.batch_size)
        start.append(adapter.input_gradient(images[chunk], layer, targets[chunk])[0])
        images[chunk], trace = _ascend(adapter, layer, images[chunk], targets[chunk], settings, rng, bar)
        trace_parts.append(trace)
        end.append(adapter.input_gradient(images[chunk], layer, targets[chunk])[0])
    bar.close()
    return Visualizations(
        images,
        targets,
        _join(start),
        _join(end),
        np.concatenate(trace_parts, axis=1) if trace_parts else np.zeros((settings.steps, 0)),
    )


def _ascend(
    adapter: ModelAdapter,
    layer: str | None,
    images: np.ndarray,
    targets: np.ndarray,
    settings: Settings,
    rng: np.random.Generator,
    bar: tqdm,
) -> tuple[np.ndarray, np.ndarray]:
    t = settings.transforms
    trace = np.zeros((settings.steps, len(images)), dtype=np.float64)
    for step in range(settings.steps):
        brightness = random_brightness(len(images), t.jitter, rng) if t.jitter > 0 else np.float32(1.0)
        warp = random_warp(images.shape[:3], t, rng) if t.spatial else None
        seen = images * brightness
        if warp is not None:
            seen = warp.apply(seen)
        objective, grad = adapter.input_gradient(seen, layer, targets)
        if warp is not None:
            grad = warp.adjoint(grad)
        grad = grad * brightness
        grad = grad / (np.abs(grad).mean(axis=(1, 2, 3), keepdims=True) + 1e-12)
        if settings.l1 > 0:
            grad = grad - settings.l1 * l1_gradient(images)
        images = np.clip(images + settings.lr * grad, 0, 1).astype(np.float32)
        if settings.bilateral_every and (step + 1) % settings.bilateral_every == 0:
            images = bilateral(images, settings.sigma_color, settings.sigma_spatial, settings.diameter)
        trace[step] = objective
        bar.update(1)
    return images, trace


def _join(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0)
