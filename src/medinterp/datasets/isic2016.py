"""ISIC 2016 Part 3 (ISBI 2016): ``ISBI2016_ISIC_Part3_{Training,Test}_Data/*.jpg`` with headerless
ground truths: the test file labels ``0.0``/``1.0``, the training file ``benign``/``malignant``.

Both files are read with no header; a first row that is not an ISIC id (a header some copies add)
is skipped and reported rather than read as an image.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medinterp.datasets.csvfiles import read_headerless
from medinterp.datasets.isic_common import IMAGE_ID, attach_images, check_ids, parse_binary_labels
from medinterp.datasets.report import ReadReport

PARTS = {
    "train": ("ISBI2016_ISIC_Part3_Training_Data", "ISBI2016_ISIC_Part3_Training_GroundTruth.csv"),
    "test": ("ISBI2016_ISIC_Part3_Test_Data", "ISBI2016_ISIC_Part3_Test_GroundTruth.csv"),
}
COLUMNS = ["image", "image_id", "label", "width", "height"]


def read_isic2016(
    root: str | Path, part: str, data_root: str | Path | None = None, check_images: bool = True
) -> tuple[pd.DataFrame, ReadReport]:
    if part not in PARTS:
        raise ValueError(f"part must be one of {sorted(PARTS)}, not {part!r}")
    root = Path(root)
    data_root = Path(data_root) if data_root is not None else root
    folder, truth = PARTS[part]
    path = root / truth
    table = read_headerless(path, ["image_id", "label"])
    report = ReadReport(f"isic2016_{part}")
    has_header = len(table) > 0 and not IMAGE_ID.match(table.at[0, "image_id"])
    if has_header:
        report.skip(f"{path.relative_to(data_root)}:1", "header row in a headerless ground truth")
        table = table.iloc[1:].reset_index(drop=True)
    check_ids(table, "image_id", path, header=has_header)
    table["label"] = parse_binary_labels(table["label"], path, header=has_header)
    frame = attach_images(table, "image_id", root / folder, data_root, report, check_images)
    return frame[COLUMNS].reset_index(drop=True), report
