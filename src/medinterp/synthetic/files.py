"""Rendering and saving the generator's files: one task per picture, run in parallel, bytes fixed by seed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from medinterp.synthetic.dermoscopy import render_lesion
from medinterp.synthetic.histology import render_breakhis, render_brecahad

RENDERERS = {"breakhis": render_breakhis, "brecahad": render_brecahad, "lesion": render_lesion}


@dataclass(frozen=True)
class ImageTask:
    """Render one picture with ``np.random.default_rng(key)`` and save it to ``path``.

    Two tasks with the same ``key`` and arguments give the same pixels: that is how the generator
    writes the datasets' duplicates.
    """

    path: Path
    renderer: str
    key: tuple[int, ...]
    args: dict = field(default_factory=dict)
    save: dict = field(default_factory=dict)  # format options: mode (RGB/RGBA/P), quality, compression, optimize
    annotation: Path | None = None  # BreCaHAD: where the points go as JSON


def run_task(task: ImageTask) -> None:
    result = RENDERERS[task.renderer](np.random.default_rng(task.key), **task.args)
    pixels, points = result if isinstance(result, tuple) else (result, None)
    save_image(task.path, pixels, **task.save)
    if task.annotation is not None:
        write_annotation(task.annotation, points)


def run_tasks(tasks: Sequence[ImageTask], jobs: int, description: str) -> None:
    for task in tasks:
        task.path.parent.mkdir(parents=True, exist_ok=True)
        if task.annotation is not None:
            task.annotation.parent.mkdir(parents=True, exist_ok=True)
    if jobs <= 1:
        for task in tqdm(tasks, desc=description, unit="img"):
            run_task(task)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for _ in tqdm(pool.map(run_task, tasks, chunksize=8), total=len(tasks), desc=description, unit="img"):
            pass


# zlib level of PNGs saved without ``optimize``: ten times quicker than optimize's level 9 and its
# filter search, for files about half as big again.
QUICK_PNG_LEVEL = 3


def save_image(
    path: Path,
    pixels: np.ndarray,
    mode: str = "RGB",
    quality: int = 90,
    compression: str | None = None,
    optimize: bool = True,
) -> None:
    image = Image.fromarray(pixels)
    suffix = path.suffix.lower()
    if mode == "RGBA":
        image = image.convert("RGBA")
    elif mode == "P":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    if suffix in (".jpg", ".jpeg"):
        image.save(path, format="JPEG", quality=quality)
    elif suffix in (".tif", ".tiff"):
        image.save(path, format="TIFF", compression=compression or "tiff_adobe_deflate")
    else:
        image.save(path, format="PNG", optimize=True) if optimize else image.save(
            path, format="PNG", compress_level=QUICK_PNG_LEVEL
        )


def write_annotation(path: Path, points: dict[str, list[tuple[float, float]]]) -> None:
    """BreCaHAD's byte format: ``json.dumps(obj, indent=2)``, LF, no final newline."""
    obj = {key: [{"x": x, "y": y} for x, y in values] for key, values in points.items()}
    path.write_bytes(json.dumps(obj, indent=2).encode("utf-8"))


def write_csv_rows(
    path: Path, rows: Iterable[Sequence[str]], newline: str = "\r\n", final_newline: bool = True
) -> None:
    """A CSV written byte for byte: the archives differ in line endings and in the final newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = newline.join(",".join(row) for row in rows)
    path.write_bytes((text + (newline if final_newline else "")).encode("utf-8"))


def split_count(rng: np.random.Generator, total: int, parts: int) -> list[int]:
    """``total`` items over ``parts`` groups at random, each group at least one."""
    if parts <= 0:
        return []
    total = max(total, parts)
    extra = rng.multinomial(total - parts, np.ones(parts) / parts)
    return [1 + int(e) for e in extra]
