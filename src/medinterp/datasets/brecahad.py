"""BreCaHAD: ``images/Case_<c>-<nn>.tif`` with point annotations in ``groundTruth/Case_<c>-<nn>.json``.

Each JSON file is an object whose keys are the annotation classes and whose values are lists of
``{"x": float, "y": float}`` points normalised to [0, 1] (pixel = x * width, y * height). The paper
calls the lumen classes ``tubule``/``non_tubule``; the files say ``lumen``/``non_lumen``: both are
accepted and stored under the files' names.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from medinterp.datasets.images import check_image, read_rgb
from medinterp.datasets.report import ReadReport
from medinterp.errors import DatasetError, ImageError

ANNOTATION_KEYS = ("mitosis", "non_mitosis", "apoptosis", "tumor", "non_tumor", "lumen", "non_lumen")
KEY_ALIASES = {"tubule": "lumen", "non_tubule": "non_lumen"}
STEM = re.compile(r"^Case_(?P<case>\d{1,2})-(?P<number>\d{2})$")
COLUMNS = ["image", "annotation", "case", "number", "width", "height"] + [f"n_{k}" for k in ANNOTATION_KEYS]


def read_annotation(path: str | Path) -> dict[str, np.ndarray]:
    """Points per annotation class as ``(n, 2)`` float arrays of normalised ``(x, y)``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DatasetError(path, "annotation file not found") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"not UTF-8 text ({exc})") from exc
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(path, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if not isinstance(obj, dict):
        raise DatasetError(path, f"expected a JSON object of annotation classes, found {type(obj).__name__}")
    points: dict[str, np.ndarray] = {}
    for raw_key, value in obj.items():
        key = KEY_ALIASES.get(raw_key, raw_key)
        if key not in ANNOTATION_KEYS:
            raise DatasetError(path, f"unknown annotation class '{raw_key}' (expected {list(ANNOTATION_KEYS)})")
        if key in points:
            raise DatasetError(path, f"annotation class '{key}' given twice")
        points[key] = _parse_points(path, raw_key, value)
    missing = [k for k in ANNOTATION_KEYS if k not in points]
    if missing:
        raise DatasetError(path, f"missing annotation class(es) {missing}")
    return points


def _parse_points(path: Path, key: str, value) -> np.ndarray:
    if not isinstance(value, list):
        raise DatasetError(path, f"'{key}' should be a list of points, found {type(value).__name__}")
    coords = np.empty((len(value), 2), dtype=np.float64)
    for i, point in enumerate(value):
        if not isinstance(point, dict) or set(point) != {"x", "y"}:
            raise DatasetError(path, f"'{key}'[{i}] should be an object with keys x and y, found {point!r}")
        for j, axis in enumerate("xy"):
            v = point[axis]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise DatasetError(path, f"'{key}'[{i}].{axis} = {v!r} is not a number in [0, 1]")
            coords[i, j] = v
    return coords


def pixel_hash(path: str | Path) -> str:
    """SHA-256 of the decoded pixels: equal for the same picture saved twice, whatever the encoding."""
    pixels = read_rgb(path)
    digest = hashlib.sha256(np.asarray(pixels.shape, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


def read_brecahad(
    root: str | Path, data_root: str | Path | None = None, check_images: bool = True
) -> tuple[pd.DataFrame, ReadReport]:
    """One row per image that has an annotation file; unmatched files are skipped and reported."""
    root = Path(root)
    data_root = Path(data_root) if data_root is not None else root
    images_dir, truth_dir = root / "images", root / "groundTruth"
    for folder in (images_dir, truth_dir):
        if not folder.is_dir():
            raise DatasetError(folder, "folder not found (expected BreCaHAD/images and BreCaHAD/groundTruth)")
    report = ReadReport("brecahad")
    images = _by_stem(images_dir, (".tif", ".tiff"), report, data_root)
    annotations = _by_stem(truth_dir, (".json",), report, data_root)
    for stem in sorted(set(annotations) - set(images)):
        report.skip(annotations[stem].relative_to(data_root), "annotation without image")
    rows = []
    for stem in sorted(images, key=_case_order):
        if stem not in annotations:
            report.skip(images[stem].relative_to(data_root), "image without annotation")
            continue
        points = read_annotation(annotations[stem])
        try:
            width, height = check_image(images[stem]) if check_images else (0, 0)
        except ImageError as exc:  # cut short, corrupt, not an image: skipped with its annotation, and reported
            report.skip(images[stem].relative_to(data_root), exc.problem)
            report.skip(annotations[stem].relative_to(data_root), "annotation of a skipped image")
            continue
        match = STEM.match(stem)
        rows.append(
            {
                "image": images[stem].relative_to(data_root).as_posix(),
                "annotation": annotations[stem].relative_to(data_root).as_posix(),
                "case": int(match["case"]),
                "number": int(match["number"]),
                "width": width,
                "height": height,
                **{f"n_{k}": len(v) for k, v in points.items()},
            }
        )
    if not rows:
        unusable = f" ({len(report.skipped)} file(s) skipped: {report.skipped_by_reason()})" if report.skipped else ""
        raise DatasetError(root, f"no annotated BreCaHAD images found{unusable}")
    report.images_read = len(rows)
    return pd.DataFrame(rows, columns=COLUMNS), report


def _by_stem(folder: Path, suffixes: tuple[str, ...], report: ReadReport, data_root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.suffix.lower() not in suffixes:
            report.skip(path.relative_to(data_root), f"not a {'/'.join(suffixes)} file")
            continue
        if not STEM.match(path.stem):
            raise DatasetError(path, "file name does not follow Case_<case>-<nn>")
        found[path.stem] = path
    return found


def _case_order(stem: str) -> tuple[int, int]:
    match = STEM.match(stem)
    return int(match["case"]), int(match["number"])
