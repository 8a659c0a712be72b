"""Pieces shared by the ISIC readers: image ids, label parsing and matching CSV rows to image files."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from medinterp.datasets.images import check_image, is_image_file
from medinterp.datasets.report import ReadReport
from medinterp.errors import DatasetError, ImageError

IMAGE_ID = re.compile(r"^ISIC_\d{7}(_downsampled)?$")
BINARY_LABELS = {"0": 0, "0.0": 0, "1": 1, "1.0": 1, "benign": 0, "malignant": 1}


def base_id(image_id: str) -> str:
    """``ISIC_0000017_downsampled`` -> ``ISIC_0000017``: the same lesion picture across challenges."""
    return image_id.removesuffix("_downsampled")


def check_ids(frame: pd.DataFrame, column: str, path: Path, header: bool = True) -> None:
    bad = frame.index[~frame[column].str.match(IMAGE_ID)]
    if len(bad):
        line = frame.index.get_loc(bad[0]) + (2 if header else 1)
        raise DatasetError(path, f"line {line}: '{frame.at[bad[0], column]}' is not an ISIC image id (ISIC_<7 digits>)")
    dup = frame[column][frame[column].duplicated()]
    if len(dup):
        raise DatasetError(path, f"image id '{dup.iloc[0]}' appears more than once")


def parse_binary_labels(values: pd.Series, path: Path, header: bool = True) -> pd.Series:
    """0/1 from ``0``, ``1``, ``0.0``, ``1.0``, ``benign`` or ``malignant``; anything else is an error."""
    labels = values.str.lower().map(BINARY_LABELS)
    unknown = labels.isna()
    if unknown.any():
        first = values.index[unknown][0]
        line = values.index.get_loc(first) + (2 if header else 1)
        raise DatasetError(
            path, f"line {line}: unknown label '{values[first]}' (expected one of {sorted(BINARY_LABELS)})"
        )
    return labels.astype(int)


def attach_images(
    frame: pd.DataFrame, id_column: str, folder: Path, data_root: Path, report: ReadReport, check_images: bool
) -> pd.DataFrame:
    """Add ``image`` (path relative to ``data_root``), ``width`` and ``height`` for every row.

    A row whose image file is missing is an error; files in the folder that no row names
    (licence texts, images of another release) are skipped and reported, and so are rows whose
    image cannot be decoded (empty, cut short, corrupt: :func:`check_image`), which leave the table.
    """
    if not folder.is_dir():
        raise DatasetError(folder, "image folder not found")
    files: dict[str, Path] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if not is_image_file(path):
            report.skip(path.relative_to(data_root), "not an image file")
        else:
            files[path.stem] = path
    wanted = set(frame[id_column])
    for stem in sorted(set(files) - wanted):
        report.skip(files[stem].relative_to(data_root), "image not in the ground truth")
    missing = [i for i in frame[id_column] if i not in files]
    if missing:
        raise DatasetError(folder, f"{len(missing)} image(s) named in the ground truth are missing, e.g. {missing[:3]}")
    frame = frame.copy()
    paths = [files[i] for i in frame[id_column]]
    frame["image"] = [p.relative_to(data_root).as_posix() for p in paths]
    sizes, usable = [], []
    for path in paths:
        try:
            sizes.append(check_image(path) if check_images else (0, 0))
            usable.append(True)
        except ImageError as exc:
            report.skip(path.relative_to(data_root), exc.problem)
            sizes.append((0, 0))
            usable.append(False)
    frame["width"] = [w for w, _ in sizes]
    frame["height"] = [h for _, h in sizes]
    frame = frame[usable]
    report.images_read = len(frame)
    return frame


def optional_number(values: pd.Series, path: Path, column: str) -> pd.Series:
    """Numbers such as ages ("45", "45.0" or blank); text that is not a number is an error."""
    numbers = pd.to_numeric(values.replace("", None), errors="coerce").astype("float64")
    bad = numbers.isna() & values.ne("")
    if bad.any():
        first = values.index[bad][0]
        raise DatasetError(path, f"line {values.index.get_loc(first) + 2}: {column} '{values[first]}' is not a number")
    return numbers
