"""Dermoscopy-like skin lesions for the ISIC archives.

The learnable signal is the lesion's look per diagnosis (ISIC 2019 class codes): melanoma is large,
asymmetric, irregularly bordered and multi-coloured (dark brown, black, blue-grey); a nevus is round,
regular and uniformly brown; the other classes have their own colours and structures (vessels,
scales, a white centre). Acquisition artefacts that the thesis lists as outliers (hair, rulers,
stickers, ink, a dark circular field of view) are added independently of the diagnosis.

Big pictures (the archives' real sizes, thousands of pixels wide) and, with ``fast=True``, all
pictures are drawn smaller and scaled up: the look stays, the drawing gets cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage.draw import disk, line_aa

from medinterp.synthetic.texture import blob_mask, smooth_field, to_uint8


@dataclass(frozen=True)
class LesionStyle:
    radius: tuple[float, float]  # fraction of the shorter image side
    irregularity: float
    stretch: tuple[float, float]
    colors: tuple[tuple[float, float, float], ...]  # mixed by smooth fields inside the lesion
    structure: str = "none"


STYLES: dict[str, LesionStyle] = {
    "MEL": LesionStyle(
        (0.26, 0.36), 0.6, (1.0, 1.7), ((0.35, 0.20, 0.12), (0.08, 0.05, 0.05), (0.42, 0.48, 0.58), (0.55, 0.30, 0.25))
    ),
    "NV": LesionStyle((0.16, 0.26), 0.12, (1.0, 1.2), ((0.55, 0.36, 0.24), (0.50, 0.32, 0.21)), "network"),
    "BCC": LesionStyle((0.18, 0.28), 0.35, (1.0, 1.4), ((0.86, 0.62, 0.62), (0.80, 0.55, 0.58)), "vessels"),
    "AK": LesionStyle((0.18, 0.28), 0.30, (1.0, 1.5), ((0.80, 0.45, 0.42), (0.72, 0.40, 0.38)), "scales"),
    "BKL": LesionStyle((0.20, 0.30), 0.30, (1.0, 1.4), ((0.66, 0.50, 0.32), (0.56, 0.41, 0.26)), "fissures"),
    "DF": LesionStyle((0.10, 0.16), 0.10, (1.0, 1.2), ((0.60, 0.42, 0.30), (0.56, 0.40, 0.29)), "white_center"),
    "VASC": LesionStyle((0.14, 0.22), 0.25, (1.0, 1.3), ((0.62, 0.10, 0.22), (0.45, 0.08, 0.28)), "lobules"),
    "SCC": LesionStyle((0.20, 0.30), 0.45, (1.0, 1.5), ((0.82, 0.42, 0.40), (0.74, 0.36, 0.36)), "keratin"),
}
ARTEFACTS = ("hair", "ruler", "sticker", "ink", "vignette")
FAST_SHRINK = 2  # fast pictures are drawn at half their width and height
DRAWN_SIDE = 768  # no picture is drawn longer than this; bigger ones are scaled up to their size
GRAIN = 6  # +- grey levels of per-pixel noise on scaled-up big pictures


def render_lesion(
    rng: np.random.Generator, width: int, height: int, style: str, artefact_rate: float = 0.15, fast: bool = False
) -> np.ndarray:
    """An RGB dermoscopy-like image of one lesion of ``style`` (an ISIC 2019 class code)."""
    shrink = max(FAST_SHRINK if fast else 1, max(width, height) / DRAWN_SIDE)
    if shrink == 1:
        return _draw_lesion(rng, width, height, style, artefact_rate)
    small = _draw_lesion(rng, max(8, round(width / shrink)), max(8, round(height / shrink)), style, artefact_rate)
    picture = np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR))
    if max(width, height) <= DRAWN_SIDE:
        return picture
    # A photograph's grain: without it a big scaled-up picture compresses to a fraction of a real
    # JPEG's bytes and decodes faster than one.
    grain = rng.integers(-GRAIN, GRAIN + 1, size=picture.shape, dtype=np.int16)
    return np.clip(picture + grain, 0, 255).astype(np.uint8)


def _draw_lesion(rng: np.random.Generator, width: int, height: int, style: str, artefact_rate: float) -> np.ndarray:
    spec = STYLES[style]
    side = min(width, height)
    skin_tone = np.array([0.90, 0.70, 0.58]) * rng.uniform(0.85, 1.05) + rng.normal(0, 0.02, 3)
    variation = smooth_field(rng, height, width, cell=max(8, side // 6))[..., None]
    canvas = skin_tone * (0.94 + 0.08 * variation)

    center = (height / 2 + rng.normal(0, 0.06) * height, width / 2 + rng.normal(0, 0.06) * width)
    radius = rng.uniform(*spec.radius) * side
    mask = blob_mask(rng, height, width, center, radius, spec.irregularity, rng.uniform(*spec.stretch))
    mix = smooth_field(rng, height, width, cell=max(6, int(radius // 2)))
    colors = np.asarray(spec.colors)
    # Each pixel takes the colour whose band the smooth field falls in: patches for melanoma's
    # several colours, an even tone for two close colours.
    band = np.minimum((mix * len(colors)).astype(int), len(colors) - 1)
    canvas[mask] = colors[band[mask]]
    _STRUCTURES[spec.structure](canvas, mask, rng, center, radius)

    for name in ARTEFACTS:
        if rng.random() < artefact_rate:
            _ARTEFACT_DRAWERS[name](canvas, rng)
    return to_uint8(canvas)


def _none(canvas, mask, rng, center, radius) -> None:
    return None


def _network(canvas, mask, rng, center, radius) -> None:
    """A faint regular pigment network: darker grid lines inside the lesion."""
    step = max(4, int(radius / 5))
    grid = np.zeros(mask.shape, dtype=bool)
    grid[::step, :] = True
    grid[:, ::step] = True
    canvas[grid & mask] *= 0.82


def _vessels(canvas, mask, rng, center, radius) -> None:
    """Red branching lines (arborising vessels)."""
    for _ in range(rng.integers(3, 7)):
        y, x = center
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(rng.integers(4, 9)):
            angle += rng.normal(0, 0.6)
            ny, nx = y + np.sin(angle) * radius * 0.2, x + np.cos(angle) * radius * 0.2
            _line(canvas, y, x, ny, nx, (0.70, 0.10, 0.15))
            y, x = ny, nx


def _scales(canvas, mask, rng, center, radius) -> None:
    """White-yellow scale speckles."""
    speckles = (rng.random(mask.shape) < 0.04) & mask
    canvas[speckles] = (0.95, 0.92, 0.85)


def _fissures(canvas, mask, rng, center, radius) -> None:
    """Dark curved furrows (cerebriform pattern)."""
    for _ in range(rng.integers(4, 9)):
        y = center[0] + rng.uniform(-0.7, 0.7) * radius
        x = center[1] + rng.uniform(-0.7, 0.7) * radius
        angle = rng.uniform(0, np.pi)
        for _ in range(4):
            angle += rng.normal(0, 0.4)
            ny, nx = y + np.sin(angle) * radius * 0.15, x + np.cos(angle) * radius * 0.15
            _line(canvas, y, x, ny, nx, (0.30, 0.20, 0.12))
            y, x = ny, nx


def _white_center(canvas, mask, rng, center, radius) -> None:
    rr, cc = disk(center, radius * 0.45, shape=mask.shape)
    canvas[rr, cc] = (0.93, 0.88, 0.84)


def _lobules(canvas, mask, rng, center, radius) -> None:
    for _ in range(rng.integers(3, 7)):
        offset = rng.uniform(-0.5, 0.5, 2) * radius
        rr, cc = disk((center[0] + offset[0], center[1] + offset[1]), radius * rng.uniform(0.2, 0.35), shape=mask.shape)
        canvas[rr, cc] = (0.50, 0.05, 0.20)


def _keratin(canvas, mask, rng, center, radius) -> None:
    rr, cc = disk(center, radius * 0.35, shape=mask.shape)
    canvas[rr, cc] = (0.95, 0.90, 0.62)


_STRUCTURES = {
    "none": _none,
    "network": _network,
    "vessels": _vessels,
    "scales": _scales,
    "fissures": _fissures,
    "white_center": _white_center,
    "lobules": _lobules,
    "keratin": _keratin,
}


def _line(canvas: np.ndarray, y0: float, x0: float, y1: float, x1: float, color, width: int = 1) -> None:
    h, w = canvas.shape[:2]
    for d in range(-(width // 2), width - width // 2):
        rr, cc, val = line_aa(int(y0) + d, int(x0), int(y1) + d, int(x1))
        keep = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        rr, cc, val = rr[keep], cc[keep], val[keep][:, None]
        canvas[rr, cc] = canvas[rr, cc] * (1 - val) + np.asarray(color) * val


def _hair(canvas: np.ndarray, rng: np.random.Generator) -> None:
    h, w = canvas.shape[:2]
    for _ in range(rng.integers(3, 10)):
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(6):
            angle += rng.normal(0, 0.15)
            ny, nx = y + np.sin(angle) * h * 0.08, x + np.cos(angle) * w * 0.08
            _line(canvas, y, x, ny, nx, (0.12, 0.08, 0.06), width=2)
            y, x = ny, nx


def _ruler(canvas: np.ndarray, rng: np.random.Generator) -> None:
    h, w = canvas.shape[:2]
    top = int(rng.uniform(0.82, 0.9) * h)
    canvas[top : top + max(6, h // 18)] = (0.92, 0.92, 0.88)
    for i, x in enumerate(range(0, w, max(3, w // 40))):
        _line(canvas, top, x, top + (h // 30 if i % 5 == 0 else h // 60), x, (0.05, 0.05, 0.05))


def _sticker(canvas: np.ndarray, rng: np.random.Generator) -> None:
    h, w = canvas.shape[:2]
    rr, cc = disk((rng.uniform(0.1, 0.25) * h, rng.uniform(0.1, 0.9) * w), min(h, w) * 0.07, shape=(h, w))
    canvas[rr, cc] = rng.choice([(0.95, 0.85, 0.15), (0.30, 0.75, 0.35), (0.25, 0.45, 0.85)])


def _ink(canvas: np.ndarray, rng: np.random.Generator) -> None:
    h, w = canvas.shape[:2]
    y, x = rng.uniform(0, h), rng.uniform(0, w)
    for _ in range(8):
        ny, nx = y + rng.normal(0, h * 0.05), x + rng.normal(0, w * 0.05)
        _line(canvas, y, x, ny, nx, (0.35, 0.15, 0.55), width=3)
        y, x = ny, nx


def _vignette(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """A dark circular field of view, as with a contact dermatoscope's round lens."""
    h, w = canvas.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((yy - h / 2) / (h / 2), (xx - w / 2) / (w / 2))
    canvas[r > rng.uniform(0.95, 1.15)] = 0.03


_ARTEFACT_DRAWERS = {"hair": _hair, "ruler": _ruler, "sticker": _sticker, "ink": _ink, "vignette": _vignette}
