"""H&E-like tissue: pink stroma with purple nuclei.

The learnable signal: malignant tissue has denser, larger, darker and more irregular nuclei than
benign tissue. BreCaHAD-like images put malignant nuclei in tumour regions and benign-looking
nuclei in the stroma around them; every ``tumor`` point is the centre of a malignant nucleus.

``fast=True`` draws all nuclei of a kind in one vectorised batch (the same shapes, sizes and
colours, other random numbers); ``fast=False`` draws them one by one, as the bundled sample was made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.draw import disk, polygon

from medinterp.synthetic.texture import blob_mask, polygon_blob, smooth_field, to_uint8


@dataclass(frozen=True)
class NucleusStyle:
    radius: float  # mean radius as a fraction of the image width, at 400X
    radius_spread: float  # relative standard deviation of the radius (pleomorphism)
    stretch: tuple[float, float]
    irregularity: float  # relative jitter of the outline
    color: tuple[float, float, float]
    color_spread: float
    coverage: float  # share of the area covered by nuclei


BENIGN = NucleusStyle(0.011, 0.10, (1.0, 1.5), 0.05, (0.56, 0.40, 0.68), 0.03, 0.07)
MALIGNANT = NucleusStyle(0.017, 0.30, (1.1, 2.0), 0.30, (0.33, 0.16, 0.45), 0.05, 0.30)
MITOSIS = NucleusStyle(0.012, 0.10, (1.5, 2.5), 0.45, (0.18, 0.06, 0.26), 0.02, 0.0)

# Posterised colours keep the bundled sample small; the signal lives in nuclei, not in colour depth.
POSTERISE_LEVELS = 32
STROMA = np.array([0.94, 0.74, 0.83], dtype=np.float32)
STROMA_DARK = np.array([0.86, 0.55, 0.70], dtype=np.float32)


def stroma(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Eosin-pink background with a smooth fibre-like variation and a per-image stain shift."""
    field = smooth_field(rng, height, width, cell=max(8, width // 12))[..., None]
    shift = rng.normal(0, 0.015, 3).astype(np.float32)
    return STROMA * (1 - field) + STROMA_DARK * field + shift


OUTLINE_VERTICES = 14


def draw_nucleus(
    canvas: np.ndarray, rng: np.random.Generator, cy: float, cx: float, radius_px: float, style: NucleusStyle
) -> None:
    radius = max(1.0, radius_px * (1 + style.radius_spread * rng.standard_normal()))
    dy, dx = polygon_blob(rng, radius, style.irregularity, rng.uniform(*style.stretch), OUTLINE_VERTICES)
    rr, cc = polygon(cy + dy, cx + dx, shape=canvas.shape[:2])
    color = np.asarray(style.color) * (1 + style.color_spread * rng.standard_normal(3))
    canvas[rr, cc] = np.clip(color, 0, 1)


def draw_nuclei(
    canvas: np.ndarray, rng: np.random.Generator, centers: np.ndarray, radius_px: float, style: NucleusStyle
) -> None:
    """Every nucleus at ``centers`` at once, each shaped as :func:`draw_nucleus` shapes one (a
    jittered, stretched, rotated outline); later nuclei cover earlier ones."""
    n = len(centers)
    if n == 0:
        return
    height, width = canvas.shape[:2]
    radius = np.maximum(1.0, radius_px * (1 + style.radius_spread * rng.standard_normal(n)))
    stretch = rng.uniform(*style.stretch, n)
    outline = radius[:, None] * (1 + style.irregularity * rng.uniform(-1, 1, (n, OUTLINE_VERTICES)))
    angle = rng.uniform(0, np.pi, n)
    color = np.clip(np.asarray(style.color) * (1 + style.color_spread * rng.standard_normal((n, 3))), 0, 1)

    # A square window per nucleus, as wide as its outline; nuclei with windows of one width go
    # together, so a few large nuclei do not widen every window.
    half = np.ceil(outline.max(axis=1)).astype(int) + 1
    outline = outline.astype(np.float32)
    ids, pixels = [], []
    for width_half in np.unique(half):
        group = np.nonzero(half == width_half)[0]
        offsets = np.arange(-width_half, width_half + 1)
        rows = np.rint(centers[group, 0]).astype(int)[:, None, None] + offsets[None, :, None]
        cols = np.rint(centers[group, 1]).astype(int)[:, None, None] + offsets[None, None, :]
        dy = (rows - centers[group, 0, None, None]).astype(np.float32)
        dx = (cols - centers[group, 1, None, None]).astype(np.float32)
        sin, cos = np.sin(angle[group])[:, None, None], np.cos(angle[group])[:, None, None]
        # Back into the outline's own frame (the rotation is its own inverse), then undo the stretch.
        x = dy * sin + dx * cos
        y = (dy * cos - dx * sin) * stretch[group, None, None]
        # The edge between two outline vertices is linear in the angle.
        position = (np.arctan2(y, x) % (2 * np.pi)) * (OUTLINE_VERTICES / (2 * np.pi))
        k = np.minimum(position.astype(int), OUTLINE_VERTICES - 1)
        step = position - k
        own = outline[group][:, None, None, :]
        edge = (
            np.take_along_axis(own, k[..., None], -1)[..., 0] * (1 - step)
            + np.take_along_axis(own, ((k + 1) % OUTLINE_VERTICES)[..., None], -1)[..., 0] * step
        )
        inside = (np.hypot(x, y) <= edge) & (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        which, r, c = np.nonzero(inside)
        ids.append(group[which])
        pixels.append(rows[which, r, 0] * width + cols[which, 0, c])
    ids, pixels = np.concatenate(ids), np.concatenate(pixels)
    order = np.argsort(ids, kind="stable")  # nucleus order, so later nuclei are written last
    canvas.reshape(-1, 3)[pixels[order]] = color[ids[order]]


def scatter(rng: np.random.Generator, region: np.ndarray, count: int) -> np.ndarray:
    """``count`` random (y, x) positions inside a boolean region."""
    ys, xs = np.nonzero(region)
    if len(ys) == 0 or count <= 0:
        return np.empty((0, 2))
    pick = rng.choice(len(ys), size=count, replace=len(ys) < count)
    return np.stack([ys[pick], xs[pick]], axis=1) + rng.uniform(-0.5, 0.5, (count, 2))


def nucleus_count(area_px: float, radius_px: float, coverage: float) -> int:
    return int(round(coverage * area_px / (np.pi * radius_px**2)))


def paint_nuclei(
    canvas: np.ndarray, rng: np.random.Generator, centers: np.ndarray, radius_px: float, style: NucleusStyle, fast: bool
) -> None:
    if fast:
        draw_nuclei(canvas, rng, centers, radius_px, style)
        return
    for cy, cx in centers:
        draw_nucleus(canvas, rng, cy, cx, radius_px, style)


def render_breakhis(
    rng: np.random.Generator, width: int, height: int, malignant: bool, magnification: int, fast: bool = False
) -> np.ndarray:
    """A BreakHis-like field of view; nuclei shrink at lower magnification."""
    style = MALIGNANT if malignant else BENIGN
    canvas = stroma(rng, height, width)
    radius = style.radius * width * (magnification / 400) ** 0.6
    everywhere = np.ones((height, width), dtype=bool)
    paint_nuclei(
        canvas,
        rng,
        scatter(rng, everywhere, nucleus_count(height * width, radius, style.coverage)),
        radius,
        style,
        fast,
    )
    return to_uint8(canvas, levels=POSTERISE_LEVELS)


def render_brecahad(
    rng: np.random.Generator, width: int, height: int, with_tumor: bool = True, fast: bool = False
) -> tuple[np.ndarray, dict[str, list[tuple[float, float]]]]:
    """A BreCaHAD-like 400X image and its point annotations (normalised ``(x, y)``)."""
    canvas = stroma(rng, height, width)
    tumor_region = np.zeros((height, width), dtype=bool)
    if with_tumor:
        for _ in range(rng.integers(1, 4)):
            center = (rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width)
            tumor_region |= blob_mask(
                rng, height, width, center, rng.uniform(0.12, 0.22) * width, 0.5, rng.uniform(1, 1.6)
            )
    stroma_region = ~tumor_region
    points: dict[str, list[tuple[float, float]]] = {
        k: [] for k in ("mitosis", "non_mitosis", "apoptosis", "tumor", "non_tumor", "lumen", "non_lumen")
    }

    def keep(key: str, cy: float, cx: float) -> None:
        points[key].append((float(np.clip(cx / width, 0, 1)), float(np.clip(cy / height, 0, 1))))

    for cy, cx in scatter(rng, stroma_region, int(rng.integers(0, 3))):
        rr, cc = disk((cy, cx), rng.uniform(0.02, 0.04) * width, shape=(height, width))
        canvas[rr, cc] = (0.97, 0.95, 0.96)
        stroma_region[rr, cc] = False
        keep("lumen", cy, cx)
    for cy, cx in scatter(rng, stroma_region, int(rng.integers(1, 5))):
        keep("non_lumen", cy, cx)

    radius = BENIGN.radius * width
    benign = scatter(rng, stroma_region, nucleus_count(stroma_region.sum(), radius, BENIGN.coverage))
    if fast:
        draw_nuclei(canvas, rng, benign, radius, BENIGN)
        marked = rng.random(len(benign)) < 0.3
    else:  # the one-by-one order draws the mark between nuclei
        marked = []
        for cy, cx in benign:
            draw_nucleus(canvas, rng, cy, cx, radius, BENIGN)
            marked.append(rng.random() < 0.3)
    for (cy, cx), is_marked in zip(benign, marked):
        if is_marked:
            keep("non_tumor", cy, cx)

    radius = MALIGNANT.radius * width
    malignant = scatter(rng, tumor_region, nucleus_count(tumor_region.sum(), radius, MALIGNANT.coverage))
    paint_nuclei(canvas, rng, malignant, radius, MALIGNANT, fast)
    for cy, cx in malignant:
        keep("tumor", cy, cx)
    mitoses = scatter(rng, tumor_region, int(rng.integers(0, 3)))
    paint_nuclei(canvas, rng, mitoses, MITOSIS.radius * width, MITOSIS, fast)
    for cy, cx in mitoses:
        keep("mitosis", cy, cx)
    for cy, cx in scatter(rng, tumor_region, int(rng.integers(0, 3))):
        rr, cc = disk((cy, cx), 0.008 * width, shape=(height, width))
        canvas[rr, cc] = (0.98, 0.62, 0.72)
        keep("apoptosis", cy, cx)
    return to_uint8(canvas, levels=POSTERISE_LEVELS), points
