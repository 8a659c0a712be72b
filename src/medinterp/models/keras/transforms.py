"""The thesis's training augmentation (section 3.4) for the Keras family: the draws of
``training.augment.draw`` applied with TensorFlow ops, as ``models.torch.transforms.augment_batch``
applies the same draws with torch ops (tests/test_augment*.py check both against one numpy reference).

On a batch of ``(N, S, S, 3)`` float32 images in [0, 1], each image independently, in this order:

1. a random crop keeping a share ``crop_scale`` of the area with aspect ratio in ``crop_ratio``,
   resized back to ``S`` (bilinear), as ``RandomResizedCrop``;
2. a random affine map about the centre: rotation within +-``rotation`` degrees, horizontal shear
   within +-``shear`` degrees, zoom in ``scale``, as ``RandomAffine``; the pixels it uncovers are
   filled by mirroring the image at its edges (half-sample symmetric: ``d c b a | a b c d``);
3. horizontal and vertical flips, each with probability 1/2 (``flips``);
4. colour jitter as ``ColorJitter``: brightness multiplies, contrast blends with the mean grey,
   saturation blends with the grey image, hue shifts by a fraction of the circle. torchvision draws
   the order of these four at random; here it is fixed.

Every random draw comes from one ``numpy.random.Generator``, so a seed gives the same batches in
either family.
The networks normalise inside (``build.InputScaling``), so the output stays in [0, 1].
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from keras import ops

from medinterp.params import Augment
from medinterp.training.augment import BatchDraws, draw

GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


def projective(affine: np.ndarray, size: int) -> np.ndarray:
    """``(n, 8)`` projective transforms (Keras's form: output pixel -> input pixel) of the ``(n, 2, 2)``
    maps about the centre of a ``size`` x ``size`` image (``augment.BatchDraws.affine``)."""
    centre = np.full(2, (size - 1) / 2.0)
    offset = centre - affine @ centre
    out = np.zeros((len(affine), 8), dtype=np.float32)
    out[:, [0, 1, 3, 4]] = affine.reshape(-1, 4)
    out[:, [2, 5]] = offset
    return out


def colour_jitter(x: tf.Tensor, draws: BatchDraws) -> tf.Tensor:
    def per_image(factors):
        return tf.constant(factors[:, None, None, None], tf.float32)

    x = tf.clip_by_value(x * per_image(draws.brightness), 0.0, 1.0)
    grey = tf.reduce_sum(x * GREY, axis=-1, keepdims=True)
    mean = tf.reduce_mean(grey, axis=(1, 2, 3), keepdims=True)
    contrast = per_image(draws.contrast)
    x = tf.clip_by_value(contrast * x + (1.0 - contrast) * mean, 0.0, 1.0)
    grey = tf.reduce_sum(x * GREY, axis=-1, keepdims=True)
    saturation = per_image(draws.saturation)
    x = tf.clip_by_value(saturation * x + (1.0 - saturation) * grey, 0.0, 1.0)
    hsv = tf.image.rgb_to_hsv(x)
    hue = tf.math.floormod(hsv[..., :1] + per_image(draws.hue), 1.0)
    return tf.image.hsv_to_rgb(tf.concat([hue, hsv[..., 1:]], axis=-1))


def augment_batch(images: np.ndarray, augment: Augment, rng: np.random.Generator) -> np.ndarray:
    """Augmented copies of ``(N, S, S, 3)`` float32 images in [0, 1]."""
    n, size = len(images), int(images.shape[1])
    if n == 0:
        return images
    draws = draw(n, augment, rng)
    x = tf.image.crop_and_resize(images, draws.boxes, tf.range(n, dtype=tf.int32), (size, size), method="bilinear")
    x = ops.image.affine_transform(
        x, projective(draws.affine, size), interpolation="bilinear", fill_mode="reflect", data_format="channels_last"
    )
    if augment.flips:
        x = tf.where(tf.constant(draws.flip_horizontal)[:, None, None, None], tf.reverse(x, axis=[2]), x)
        x = tf.where(tf.constant(draws.flip_vertical)[:, None, None, None], tf.reverse(x, axis=[1]), x)
    return np.clip(colour_jitter(x, draws).numpy(), 0.0, 1.0)
