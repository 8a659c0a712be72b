"""The regularizers of the thesis's Table 3 for activation maximization, in numpy.

Transformation robustness (Olah et al. 2017, "Feature Visualization", Distill; the random
jitter / scale / rotate transforms of lucid and its PyTorch port lucent): before every gradient
step each image gets its own random

- brightness jitter: multiplied by a factor drawn from ``[1 - jitter, 1 + jitter]`` (Table 3 calls
  a random brightness change "jitter");
- rotation by an angle drawn from ``[-rotate, rotate]`` degrees (15);
- translation by up to ``translate`` of the image side along each axis (0.1);
- resize by a factor drawn log-uniformly from ``[1 / resize, resize]`` (1.2), about the centre.

The spatial transforms are one affine warp with bilinear sampling (edge pixels repeated outside
the image). The warp is linear in the image, so the gradient of the objective with respect to the
untransformed image is the warp's exact adjoint applied to the gradient the model returns: a
scatter-add of that gradient with the same bilinear weights (:meth:`Warp.adjoint`).

Frequency penalisation: a bilateral filter (Tyka 2016) applied to the image every few steps,
scikit-image's ``denoise_bilateral`` (no OpenCV dependency). ``sigma_color`` is given as for
OpenCV's ``bilateralFilter`` (the thesis's 75): on the 0-255 scale, where OpenCV measures a colour
difference as the sum of the three channels' absolute differences; scikit-image measures it on
[0, 1] as the Euclidean distance divided by the number of channels. :func:`skimage_sigma_color`
converts so that both give the same weights to differences equal in all channels (grey edges).
And an L1 penalty pulling pixels towards mid-grey (:func:`l1_gradient`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.restoration import denoise_bilateral


@dataclass(frozen=True)
class Transforms:
    """Ranges of the random transforms; zero (or a resize of 1) switches one off."""

    jitter: float = 0.0  # brightness factor in [1 - jitter, 1 + jitter]
    rotate: float = 0.0  # degrees
    translate: float = 0.0  # share of the image side
    resize: float = 1.0  # scale factor in [1 / resize, resize]

    @property
    def spatial(self) -> bool:
        return self.rotate > 0 or self.translate > 0 or self.resize != 1.0


@dataclass(frozen=True)
class Warp:
    """A batch of bilinear warps: output pixel ``p`` of image ``n`` is ``sum_k weight[k, p] *
    input[index[k, p]]`` over the four neighbours of its source position (flat indices over the
    whole batch)."""

    index: np.ndarray  # (4, N*H*W) int64
    weight: np.ndarray  # (4, N*H*W) float32
    shape: tuple[int, int, int]

    def apply(self, images: np.ndarray) -> np.ndarray:
        flat = images.reshape(-1, 3)
        out = sum(self.weight[k, :, None] * flat[self.index[k]] for k in range(4))
        return out.reshape(*self.shape, 3).astype(np.float32)

    def adjoint(self, grad: np.ndarray) -> np.ndarray:
        """The transpose of :meth:`apply`: maps a gradient at the output to the input."""
        flat = grad.reshape(-1, 3)
        size = flat.shape[0]
        out = np.zeros((size, 3), dtype=np.float64)
        for k in range(4):
            for c in range(3):
                out[:, c] += np.bincount(self.index[k], weights=self.weight[k] * flat[:, c], minlength=size)
        return out.reshape(*self.shape, 3).astype(np.float32)


def affine_warp(shape: tuple[int, int, int], angles: np.ndarray, scales: np.ndarray, shifts: np.ndarray) -> Warp:
    """Per image: rotate by ``angles`` (radians), scale by ``scales`` about the centre, then shift by
    ``shifts`` ((N, 2) pixels, y and x)."""
    n, h, w = shape
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    cy, cx = (h - 1) / 2, (w - 1) / 2
    # Output pixel p comes from source q = c + R(-angle) (p - c - shift) / scale.
    dy = yy[None] - cy - shifts[:, 0, None, None]
    dx = xx[None] - cx - shifts[:, 1, None, None]
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    s = scales[:, None, None]
    sy = np.clip(cy + (cos * dy - sin * dx) / s, 0, h - 1)
    sx = np.clip(cx + (sin * dy + cos * dx) / s, 0, w - 1)
    y0 = np.minimum(np.floor(sy), h - 2).astype(np.int64)
    x0 = np.minimum(np.floor(sx), w - 2).astype(np.int64)
    wy, wx = sy - y0, sx - x0
    base = (np.arange(n)[:, None, None] * h + y0) * w + x0
    index = np.stack([base, base + 1, base + w, base + w + 1]).reshape(4, -1)
    weight = np.stack([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx]).reshape(4, -1)
    return Warp(index, weight.astype(np.float32), (n, h, w))


def random_warp(shape: tuple[int, int, int], transforms: Transforms, rng: np.random.Generator) -> Warp:
    n, h, w = shape
    angles = np.deg2rad(rng.uniform(-transforms.rotate, transforms.rotate, n))
    scales = np.exp(rng.uniform(-np.log(transforms.resize), np.log(transforms.resize), n))
    shifts = rng.uniform(-transforms.translate, transforms.translate, (n, 2)) * np.array([h, w])
    return affine_warp(shape, angles, scales, shifts)


def random_brightness(n: int, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """One brightness factor per image, shaped to broadcast over ``(N, H, W, 3)``."""
    return rng.uniform(1 - jitter, 1 + jitter, n).astype(np.float32)[:, None, None, None]


def skimage_sigma_color(opencv_sigma_color: float, channels: int = 3) -> float:
    """OpenCV's colour sigma (0-255 scale, distance = sum of absolute channel differences) as
    scikit-image's (0-1 scale, distance = Euclidean / channels). A difference ``d`` in every channel
    is ``channels * 255 d`` to OpenCV and ``d / sqrt(channels)`` to scikit-image."""
    return opencv_sigma_color / 255.0 / (channels * np.sqrt(channels))


def bilateral(images: np.ndarray, sigma_color: float, sigma_spatial: float, diameter: int) -> np.ndarray:
    """Edge-preserving smoothing of each ``[0, 1]`` image; ``sigma_color`` as OpenCV's (see
    :func:`skimage_sigma_color`), ``diameter`` the window side, ``sigma_spatial`` in pixels."""
    sigma = skimage_sigma_color(sigma_color)
    return np.stack(
        [
            denoise_bilateral(
                image.astype(np.float64),
                win_size=diameter,
                sigma_color=sigma,
                sigma_spatial=sigma_spatial,
                mode="edge",
                channel_axis=-1,
            )
            for image in images
        ]
    ).astype(np.float32)


def l1_gradient(images: np.ndarray) -> np.ndarray:
    """Gradient of ``mean |x - 0.5|`` per pixel value, up to the 1/size factor: its sign."""
    return np.sign(images - 0.5).astype(np.float32)
