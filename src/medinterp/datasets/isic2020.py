"""ISIC 2020 training set: ``train/ISIC_<7d>.jpg`` with ``ISIC_2020_Training_GroundTruth.csv`` (v1 or v2)
and ``ISIC_2020_Training_Duplicates.csv``.

v1 has no ``lesion_id`` column and writes ages as ``45.0``; v2 adds ``lesion_id`` and writes ``45``.
When both files are present v2 is read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medinterp.datasets.csvfiles import read_table
from medinterp.datasets.isic_common import attach_images, check_ids, optional_number, parse_binary_labels
from medinterp.datasets.report import ReadReport
from medinterp.errors import DatasetError

GROUND_TRUTH_FILES = ("ISIC_2020_Training_GroundTruth_v2.csv", "ISIC_2020_Training_GroundTruth.csv")
DUPLICATES_FILE = "ISIC_2020_Training_Duplicates.csv"
IMAGE_FOLDER = "train"
REQUIRED = [
    "image_name",
    "patient_id",
    "sex",
    "age_approx",
    "anatom_site_general_challenge",
    "diagnosis",
    "benign_malignant",
    "target",
]
COLUMNS = [
    "image",
    "image_id",
    "patient_id",
    "lesion_id",
    "sex",
    "age_approx",
    "site",
    "diagnosis",
    "label",
    "width",
    "height",
]


def ground_truth_file(root: Path) -> Path:
    for name in GROUND_TRUTH_FILES:
        if (root / name).is_file():
            return root / name
    raise DatasetError(root, f"no ground truth found (expected one of {list(GROUND_TRUTH_FILES)})")


def read_isic2020(
    root: str | Path, data_root: str | Path | None = None, check_images: bool = True
) -> tuple[pd.DataFrame, ReadReport]:
    root = Path(root)
    data_root = Path(data_root) if data_root is not None else root
    path = ground_truth_file(root)
    table = read_table(path, REQUIRED)
    check_ids(table, "image_name", path)
    labels = parse_binary_labels(table["target"], path)
    stated = parse_binary_labels(table["benign_malignant"], path)
    if (labels != stated).any():
        first = table.index[labels != stated][0]
        raise DatasetError(
            path,
            f"line {first + 2}: target {table.at[first, 'target']} contradicts "
            f"benign_malignant '{table.at[first, 'benign_malignant']}'",
        )
    frame = pd.DataFrame(
        {
            "image_id": table["image_name"],
            "patient_id": table["patient_id"],
            "lesion_id": table["lesion_id"] if "lesion_id" in table else "",
            "sex": table["sex"],
            "age_approx": optional_number(table["age_approx"], path, "age_approx"),
            "site": table["anatom_site_general_challenge"],
            "diagnosis": table["diagnosis"],
            "label": labels,
        }
    )
    report = ReadReport("isic2020")
    frame = attach_images(frame, "image_id", root / IMAGE_FOLDER, data_root, report, check_images)
    return frame[COLUMNS].reset_index(drop=True), report


def read_duplicates(root: str | Path) -> pd.DataFrame:
    """Pairs ``image_name_1, image_name_2`` of the same picture; the second of each pair is the copy."""
    path = Path(root) / DUPLICATES_FILE
    pairs = read_table(path, ["image_name_1", "image_name_2"])
    for column in ("image_name_1", "image_name_2"):
        bad = pairs.index[~pairs[column].str.match(r"^ISIC_\d{7}$")]
        if len(bad):
            raise DatasetError(path, f"line {bad[0] + 2}: '{pairs.at[bad[0], column]}' is not an ISIC image id")
    return pairs[["image_name_1", "image_name_2"]]
