"""From the decoded ``uint8`` arrays to network inputs: augmentation for training (the thesis's
section 3.4) and the plain conversion every evaluation, export and inference uses.

Inputs are ``(N, C, H, W)`` float32: values divided by 255, then ImageNet's per-channel mean
subtracted and standard deviation divided, as torchvision's pre-trained weights expect. The
random-initialised sample runs use the same normalisation, so one preprocessing serves every model
and is what the ONNX metadata records. Their memory layout is ``channels_last`` (NHWC strides)
unless asked otherwise: the arrays are stored that way, and convolutions run faster on it.

Training images are augmented a batch at a time on the device that trains (:func:`augment_batch`),
with the draws of ``training.augment.draw``, the same as the Keras family's
(``models.keras.transforms``). They are not augmented at evaluation time: validation and test
predictions are deterministic, so an exported model reproduces them exactly.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from medinterp.training.augment import BatchDraws

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GREY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale and the Keras side


def normalise(x: torch.Tensor, memory_format: torch.memory_format) -> torch.Tensor:
    """``(N, 3, H, W)`` values in [0, 1] -> ImageNet-normalised, in ``memory_format``."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    out = torch.empty_like(x, memory_format=memory_format)
    # (x - mean) / std, not x * (1 / std) - mean / std: the same rounding as the interpretation
    # adapter and as the ONNX metadata's recipe, so every consumer sees the same input to the last bit
    return torch.sub(x, mean, out=out).div_(std)


def to_input(images: np.ndarray, memory_format: torch.memory_format = torch.channels_last) -> torch.Tensor:
    """``(N, H, W, 3) uint8`` -> normalised ``(N, 3, H, W) float32`` (NHWC strides by default: the
    permuted arrays have them already, so that layout costs no copy)."""
    x = torch.from_numpy(np.array(images, copy=True)).permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    return normalise(x, memory_format)


def crop_theta(boxes: torch.Tensor) -> torch.Tensor:
    """``(n, 2, 3)`` ``affine_grid`` maps (``align_corners=True``) of crops ``[y0, x0, y1, x1]``:
    output pixel ``i`` of ``S`` samples ``y0 + (y1 - y0) * i / (S - 1)`` of the image's pixel span,
    as TensorFlow's ``crop_and_resize``."""
    y0, x0, y1, x1 = boxes.unbind(1)
    zero = torch.zeros_like(y0)
    return torch.stack([torch.stack([x1 - x0, zero, x0 + x1 - 1], 1), torch.stack([zero, y1 - y0, y0 + y1 - 1], 1)], 1)


def affine_theta(affine: torch.Tensor, flip_horizontal: torch.Tensor, flip_vertical: torch.Tensor) -> torch.Tensor:
    """``(n, 2, 3)`` ``affine_grid`` maps (``align_corners=False``) of the ``(n, 2, 2)`` pixel maps
    about the centre, followed by the flips. On a square image normalised coordinates are pixel
    offsets from the centre times one factor, so the pixel map is the normalised map; a flip of the
    output mirrors the output coordinate, which negates a column."""
    mirror = torch.stack([1 - 2 * flip_horizontal.to(affine.dtype), 1 - 2 * flip_vertical.to(affine.dtype)], 1)
    linear = affine * mirror[:, None, :]
    return torch.cat([linear, torch.zeros_like(linear[:, :, :1])], 2)


def grey(x: torch.Tensor) -> torch.Tensor:
    """``(N, 1, H, W)`` luma of ``(N, 3, H, W)`` RGB, as a product and a sum over the channel axis
    (on the CPU a 1 x 1 convolution over three channels is much slower)."""
    return (x * torch.tensor(GREY, device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)


def shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Hue of ``(N, 3, H, W)`` RGB in [0, 1] moved by ``shift`` (fractions of the circle, ``(N,)``).

    TensorFlow's ``rgb_to_hsv`` then ``hsv_to_rgb``, written with ``v * (1 - s) = min`` and
    ``v * s = max - min``: the same map in fewer passes over the batch (no saturation or value image)."""
    r, g, b = x.unbind(1)
    high, low = x.amax(1), x.amin(1)
    span = high - low
    numerator = torch.where(r == high, g - b, torch.where(g == high, b - r, r - g))
    sextant_start = torch.where(r == high, 0.0, torch.where(g == high, 2.0, 4.0))
    # a grey pixel (span 0) has numerator 0: any hue, and its colour does not depend on it
    hue6 = torch.remainder(numerator / span.clamp_min(1e-12) + sextant_start + 6 * shift.view(-1, 1, 1), 6.0).unsqueeze(
        1
    )

    def per_channel(values):
        return torch.tensor(values, device=x.device).view(1, 3, 1, 1)

    # hsv_to_rgb's clamp(|h - 3| - 1), clamp(2 - |h - 2|), clamp(2 - |h - 4|) for R, G, B
    channel = torch.addcmul(
        per_channel([-1.0, 2.0, 2.0]), per_channel([1.0, -1.0, -1.0]), (hue6 - per_channel([3.0, 2.0, 4.0])).abs_()
    )
    return torch.addcmul(
        low.unsqueeze(1), span.unsqueeze(1), channel.clamp_(0, 1)
    )  # within the pixel's [min, max]: no clip


def colour_jitter(x: torch.Tensor, draws: BatchDraws, scale: float = 1.0) -> torch.Tensor:
    """Brightness, contrast, saturation, hue in that order, with the Keras side's formulas, on
    values ``x * scale`` in [0, 1] (the scale rides on the brightness factor: one pass fewer)."""

    def factor(values):
        return torch.as_tensor(np.asarray(values, dtype=np.float32), device=x.device).view(-1, 1, 1, 1)

    x = (x * (factor(draws.brightness) * scale)).clamp_(0, 1)
    mean = grey(x).mean((1, 2, 3), keepdim=True)
    x = torch.lerp(mean, x, factor(draws.contrast)).clamp_(0, 1)
    grey_image = grey(x)
    x = torch.lerp(grey_image, x, factor(draws.saturation)).clamp_(0, 1)
    return shift_hue(x, factor(draws.hue).view(-1))


def augment_batch(
    images: torch.Tensor, draws: BatchDraws, size: int, memory_format: torch.memory_format = torch.channels_last
) -> torch.Tensor:
    """``(N, H, W, 3) uint8`` images (on any device) -> augmented, normalised ``(N, 3, size, size)``
    float32 on the same device, in ``memory_format``.

    Two resamplings, as the Keras side: the crop resized to ``size`` (bilinear), then the affine map
    and flips, the uncovered pixels mirrored at the crop's edges (``reflection`` padding with
    ``align_corners=False`` is half-sample symmetric, as Keras's ``reflect``)."""
    n = len(images)
    if n != len(draws):
        raise ValueError(f"{n} images but {len(draws)} draws")
    x = images.permute(0, 3, 1, 2).to(torch.float32)  # 0-255 until the colour jitter (its brightness scales)

    def as_tensor(values):
        return torch.as_tensor(np.asarray(values, dtype=np.float32), device=images.device)

    grid = F.affine_grid(crop_theta(as_tensor(draws.boxes)), [n, 3, size, size], align_corners=True)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    theta = affine_theta(as_tensor(draws.affine), as_tensor(draws.flip_horizontal), as_tensor(draws.flip_vertical))
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return normalise(colour_jitter(x, draws, scale=1 / 255), memory_format)
