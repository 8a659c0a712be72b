"""Smooth random fields and shapes shared by the histology and dermoscopy renderers."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def smooth_field(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """A smooth random field in [0, 1] with features about ``cell`` pixels wide."""
    small = rng.random((max(2, height // cell + 2), max(2, width // cell + 2))).astype(np.float32)
    img = Image.fromarray(small, mode="F").resize((width, height), Image.Resampling.BICUBIC)
    field = np.asarray(img, dtype=np.float32)
    lo, hi = float(field.min()), float(field.max())
    return (field - lo) / (hi - lo + 1e-8)


def blob_mask(
    rng: np.random.Generator,
    height: int,
    width: int,
    center: tuple[float, float],
    radius: float,
    irregularity: float,
    stretch: float = 1.0,
    harmonics: int = 6,
) -> np.ndarray:
    """Boolean mask of a star-shaped blob: radius ``r(t) = radius * (1 + sum a_k cos(k t + p_k))``."""
    cy, cx = center
    angle = rng.uniform(0, np.pi)
    terms = [(irregularity * rng.normal(0, 1.0 / k), k, rng.uniform(0, 2 * np.pi)) for k in range(2, harmonics + 1)]
    # Only pixels within the largest possible edge radius can be inside (stretch >= 1 only shrinks
    # the blob), so the trigonometry runs on that box alone; pixels get the same values as on the
    # whole image.
    reach = radius * max(0.3, 1 + sum(abs(float(a)) for a, _, _ in terms)) + 1
    top, bottom = max(0, int(np.floor(cy - reach))), min(height, int(np.ceil(cy + reach)) + 1)
    left, right = max(0, int(np.floor(cx - reach))), min(width, int(np.ceil(cx + reach)) + 1)
    mask = np.zeros((height, width), dtype=bool)
    if top >= bottom or left >= right:
        return mask
    yy, xx = np.mgrid[top:bottom, left:right].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = (-dx * np.sin(angle) + dy * np.cos(angle)) * stretch
    theta = np.arctan2(v, u)
    edge = np.ones_like(theta)
    for a, k, phase in terms:
        edge += a * np.cos(k * theta + phase)
    mask[top:bottom, left:right] = np.hypot(u, v) <= radius * np.clip(edge, 0.3, None)
    return mask


def polygon_blob(
    rng: np.random.Generator, radius: float, irregularity: float, stretch: float, vertices: int = 14
) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (dy, dx) of a small irregular ellipse centred on the origin (a nucleus outline)."""
    t = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    r = radius * (1 + irregularity * rng.uniform(-1, 1, vertices))
    angle = rng.uniform(0, np.pi)
    x, y = r * np.cos(t), r * np.sin(t) / stretch
    return x * np.sin(angle) + y * np.cos(angle), x * np.cos(angle) - y * np.sin(angle)


def to_uint8(image: np.ndarray, blur: float = 0.0, levels: int = 256) -> np.ndarray:
    """Float RGB in [0, 1] to uint8; ``levels`` < 256 posterises, which keeps PNG and TIFF files small."""
    out = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8))
    if blur > 0:
        out = out.filter(ImageFilter.GaussianBlur(blur))
    array = np.asarray(out)
    if levels < 256:
        step = 256 // levels
        array = (array // step) * step + step // 2
    return array.astype(np.uint8)
