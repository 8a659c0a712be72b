"""ISIC 2019 training set: ``ISIC_2019_Training_Input/`` (JPEGs plus non-image files),
``ISIC_2019_Training_GroundTruth.csv`` (one-hot ``0.0``/``1.0`` over MEL..UNK) and
``ISIC_2019_Training_Metadata.csv`` (whose last column is ``sex`` or, in some copies, ``gender``).

Image names are ``ISIC_<7d>`` or ``ISIC_<7d>_downsampled``; the suffix is part of the name.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medinterp.datasets.csvfiles import read_table
from medinterp.datasets.isic_common import attach_images, base_id, check_ids, optional_number
from medinterp.datasets.report import ReadReport
from medinterp.errors import DatasetError

CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK")
GROUND_TRUTH_FILE = "ISIC_2019_Training_GroundTruth.csv"
METADATA_FILE = "ISIC_2019_Training_Metadata.csv"
IMAGE_FOLDER = "ISIC_2019_Training_Input"
COLUMNS = ["image", "image_id", "base_id", "diagnosis", "lesion_id", "sex", "age_approx", "site", "width", "height"]


def read_isic2019(
    root: str | Path, data_root: str | Path | None = None, check_images: bool = True
) -> tuple[pd.DataFrame, ReadReport]:
    root = Path(root)
    data_root = Path(data_root) if data_root is not None else root
    path = root / GROUND_TRUTH_FILE
    table = read_table(path, ["image", *CLASSES])
    check_ids(table, "image", path)
    onehot = _one_hot(table, path)
    frame = pd.DataFrame(
        {
            "image_id": table["image"],
            "base_id": table["image"].map(base_id),
            "diagnosis": onehot.idxmax(axis=1),
        }
    )
    frame = frame.merge(read_metadata(root), how="left", left_on="image_id", right_on="image").drop(columns="image")
    for column in ("lesion_id", "sex", "site"):
        frame[column] = frame[column].fillna("")
    report = ReadReport("isic2019")
    frame = attach_images(frame, "image_id", root / IMAGE_FOLDER, data_root, report, check_images)
    return frame[COLUMNS].reset_index(drop=True), report


def _one_hot(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    values = table[list(CLASSES)]
    numbers = values.apply(pd.to_numeric, errors="coerce")
    bad = numbers.isna() | ~numbers.isin([0.0, 1.0])
    if bad.any().any():
        row = bad.any(axis=1).idxmax()
        column = bad.loc[row].idxmax()
        raise DatasetError(path, f"line {row + 2}: {column} is '{values.at[row, column]}', expected 0.0 or 1.0")
    ones = numbers.sum(axis=1)
    if (ones != 1).any():
        row = (ones != 1).idxmax()
        raise DatasetError(
            path, f"line {row + 2}: {int(ones[row])} classes marked for {table.at[row, 'image']}, expected exactly one"
        )
    return numbers


def read_metadata(root: str | Path) -> pd.DataFrame:
    """The metadata CSV if present (``gender`` accepted for ``sex``); an empty table otherwise."""
    path = Path(root) / METADATA_FILE
    columns = ["image", "age_approx", "site", "lesion_id", "sex"]
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    table = read_table(
        path, ["image", "age_approx", "anatom_site_general", "lesion_id", "sex"], aliases={"gender": "sex"}
    )
    table["age_approx"] = optional_number(table["age_approx"], path, "age_approx")
    return table.rename(columns={"anatom_site_general": "site"})[columns]


def require_known_classes(classes: list[str], where: str) -> None:
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise DatasetError(Path(where), f"unknown ISIC 2019 class(es) {unknown} (expected some of {list(CLASSES)})")
