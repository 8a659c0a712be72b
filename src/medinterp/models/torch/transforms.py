"""From the decoded ``uint8`` arrays to network inputs: augmentation for training (the thesis's
section 3.4) and the plain conversion every evaluation, export and inference uses.

Inputs are ``(N, C, H, W)`` float32: values divided by 255, then ImageNet's per-channel mean
subtracted and standard deviation divided, as torchvision's pre-trained weights expect. The
random-initialised sample runs use the same normalisation, so one preprocessing serves every model
and is what the ONNX metadata records.

Training images are not augmented at evaluation time: validation and test predictions are
deterministic, so an exported model reproduces them exactly.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms import v2

from medinterp.params import Augment

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_input(images: np.ndarray) -> torch.Tensor:
    """``(N, H, W, 3) uint8`` -> normalised ``(N, 3, H, W) float32``."""
    x = torch.from_numpy(np.array(images, copy=True)).permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def train_transform(size: int, augment: Augment) -> v2.Compose:
    """Random crop, affine, flips and colour jitter on a ``(3, H, W) uint8`` tensor, then the
    normalisation of :func:`to_input`.

    The affine step fills the pixels it uncovers by mirroring the image at its edges (the thesis:
    "filled symmetrically"): the crop is padded symmetrically by half its size, transformed, and its
    centre cut out again.
    """
    steps = [
        v2.RandomResizedCrop(size, scale=augment.crop_scale, ratio=augment.crop_ratio, antialias=True),
        v2.Pad(size // 2, padding_mode="symmetric"),
        v2.RandomAffine(degrees=augment.rotation, shear=augment.shear, scale=augment.scale,
                        interpolation=v2.InterpolationMode.BILINEAR),
        v2.CenterCrop(size),
    ]
    if augment.flips:
        steps += [v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()]
    steps += [
        v2.ColorJitter(brightness=augment.brightness, contrast=augment.contrast, saturation=augment.saturation, hue=augment.hue),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ]
    return v2.Compose(steps)
