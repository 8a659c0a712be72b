"""The thesis's training augmentation (section 3.4) for the Keras family, from the same settings
(``isic.augment``) as torchvision's pipeline in ``medinterp.models.torch.transforms``.

On a batch of ``(N, S, S, 3)`` float32 images in [0, 1], each image independently, in this order:

1. a random crop keeping a share ``crop_scale`` of the area with aspect ratio in ``crop_ratio``,
   resized back to ``S`` (bilinear), as ``RandomResizedCrop``;
2. a random affine map about the centre: rotation within +-``rotation`` degrees, horizontal shear
   within +-``shear`` degrees, zoom in ``scale``, as ``RandomAffine``; the pixels it uncovers are
   filled by mirroring the image at its edges, as the torch side's symmetric padding does;
3. horizontal and vertical flips, each with probability 1/2 (``flips``);
4. colour jitter as ``ColorJitter``: brightness multiplies, contrast blends with the mean grey,
   saturation blends with the grey image, hue shifts by a fraction of the circle. torchvision draws
   the order of these four at random; here it is fixed.

Every random draw comes from one ``numpy.random.Generator``, so a seed gives the same batches.
The networks normalise inside (``backbones.InputScaling``), so the output stays in [0, 1].
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from keras import ops

from medinterp.params import Augment

GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)   # ITU-R 601 luma, as torchvision's rgb_to_grayscale


def crop_boxes(n: int, scale: tuple[float, float], ratio: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """``(n, 4)`` boxes ``[y0, x0, y1, x1]`` in [0, 1] of a square image: area share in ``scale``,
    width/height in ``ratio`` (drawn log-uniformly), placed uniformly."""
    area = rng.uniform(*scale, size=n)
    aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1]), size=n))
    width = np.minimum(np.sqrt(area * aspect), 1.0)
    height = np.minimum(np.sqrt(area / aspect), 1.0)
    y0 = rng.uniform(0.0, 1.0 - height)
    x0 = rng.uniform(0.0, 1.0 - width)
    return np.stack([y0, x0, y0 + height, x0 + width], axis=1).astype(np.float32)


def affine_transforms(n: int, size: int, augment: Augment, rng: np.random.Generator) -> np.ndarray:
    """``(n, 8)`` projective transforms (Keras's form: output pixel -> input pixel) of random
    rotations, horizontal shears and zooms about the image centre."""
    angle = np.deg2rad(rng.uniform(-augment.rotation, augment.rotation, size=n))
    shear = np.deg2rad(rng.uniform(-augment.shear, augment.shear, size=n))
    zoom = rng.uniform(*augment.scale, size=n)
    centre = (size - 1) / 2.0
    out = np.zeros((n, 8), dtype=np.float32)
    for i in range(n):
        cos, sin = np.cos(angle[i]), np.sin(angle[i])
        rotate = np.array([[cos, -sin], [sin, cos]])
        forward = zoom[i] * rotate @ np.array([[1.0, np.tan(shear[i])], [0.0, 1.0]])
        inverse = np.linalg.inv(forward)
        offset = np.array([centre, centre]) - inverse @ np.array([centre, centre])
        out[i, :6] = [inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1]]
    return out


def colour_jitter(x: tf.Tensor, augment: Augment, rng: np.random.Generator) -> tf.Tensor:
    n = int(x.shape[0])
    per_image = lambda low_high: tf.constant(rng.uniform(*low_high, size=(n, 1, 1, 1)), tf.float32)
    x = tf.clip_by_value(x * per_image(augment.brightness), 0.0, 1.0)
    grey = tf.reduce_sum(x * GREY, axis=-1, keepdims=True)
    mean = tf.reduce_mean(grey, axis=(1, 2, 3), keepdims=True)
    contrast = per_image(augment.contrast)
    x = tf.clip_by_value(contrast * x + (1.0 - contrast) * mean, 0.0, 1.0)
    grey = tf.reduce_sum(x * GREY, axis=-1, keepdims=True)
    saturation = per_image(augment.saturation)
    x = tf.clip_by_value(saturation * x + (1.0 - saturation) * grey, 0.0, 1.0)
    hsv = tf.image.rgb_to_hsv(x)
    hue = tf.math.floormod(hsv[..., :1] + per_image(augment.hue), 1.0)
    return tf.image.hsv_to_rgb(tf.concat([hue, hsv[..., 1:]], axis=-1))


def augment_batch(images: np.ndarray, augment: Augment, rng: np.random.Generator) -> np.ndarray:
    """Augmented copies of ``(N, S, S, 3)`` float32 images in [0, 1]."""
    n, size = len(images), int(images.shape[1])
    if n == 0:
        return images
    x = tf.image.crop_and_resize(images, crop_boxes(n, augment.crop_scale, augment.crop_ratio, rng),
                                 tf.range(n, dtype=tf.int32), (size, size), method="bilinear")
    x = ops.image.affine_transform(x, affine_transforms(n, size, augment, rng), interpolation="bilinear",
                                   fill_mode="reflect", data_format="channels_last")
    if augment.flips:
        horizontal = tf.constant(rng.random(n) < 0.5)[:, None, None, None]
        vertical = tf.constant(rng.random(n) < 0.5)[:, None, None, None]
        x = tf.where(horizontal, tf.reverse(x, axis=[2]), x)
        x = tf.where(vertical, tf.reverse(x, axis=[1]), x)
    return np.clip(colour_jitter(x, augment, rng).numpy(), 0.0, 1.0)
