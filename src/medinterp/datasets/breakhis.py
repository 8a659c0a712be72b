"""BreakHis v1: ``histology_slides/breast/{benign,malignant}/SOB/<subtype>/<patient>/<mag>X/*.png``.

File names follow ``SOB_<B|M>_<type>-<YY>-<digits><letters>-<mag>-<seq>.png``. The file name is the
source of truth; the folders around it must agree with it. Slide 14-13412 exists under both ductal
and lobular carcinoma with the same pictures: :func:`relabelled_slides` finds such slides, and the
split groups by the numeric slide id so both copies land on the same side.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from medinterp.datasets.images import check_image
from medinterp.datasets.report import ReadReport
from medinterp.errors import DatasetError, ImageError

TUMOR_TYPES = {
    "A": ("benign", "adenosis"),
    "F": ("benign", "fibroadenoma"),
    "PT": ("benign", "phyllodes_tumor"),
    "TA": ("benign", "tubular_adenoma"),
    "DC": ("malignant", "ductal_carcinoma"),
    "LC": ("malignant", "lobular_carcinoma"),
    "MC": ("malignant", "mucinous_carcinoma"),
    "PC": ("malignant", "papillary_carcinoma"),
}
CLASS_CODES = {"B": "benign", "M": "malignant"}
MAGNIFICATIONS = (40, 100, 200, 400)
CLASSES = ("benign", "malignant")

FILE_NAME = re.compile(
    r"^SOB_(?P<cls>[A-Z]+)_(?P<type>[A-Z]+)-(?P<slide>(?P<group>\d{2}-\d+)[A-Z]*)-(?P<mag>\d+)-(?P<seq>\d{3})\.png$",
    re.IGNORECASE,
)
COLUMNS = [
    "image",
    "label",
    "class_name",
    "tumor_type",
    "subtype",
    "patient",
    "slide",
    "slide_group",
    "magnification",
    "seq",
    "width",
    "height",
]


def find_breast_folder(root: Path) -> Path:
    """``histology_slides/breast`` below ``root`` (official archive, or Kaggle's extra nesting)."""
    for depth in range(4):
        pattern = "/".join(["*"] * depth + ["histology_slides", "breast"])
        found = sorted(p for p in root.glob(pattern) if p.is_dir())
        if found:
            return found[0]
    raise DatasetError(root, "no histology_slides/breast folder found (expected the BreaKHis_v1 archive layout)")


def parse_file_name(path: Path) -> dict:
    match = FILE_NAME.match(path.name)
    if not match:
        raise DatasetError(path, "file name does not follow SOB_<B|M>_<type>-<YY>-<slide>-<mag>-<seq>.png")
    cls_code, type_code = match["cls"].upper(), match["type"].upper()
    if cls_code not in CLASS_CODES:
        raise DatasetError(path, f"unknown class code '{cls_code}' (expected B or M)")
    if type_code not in TUMOR_TYPES:
        raise DatasetError(path, f"unknown tumour type '{type_code}' (expected one of {sorted(TUMOR_TYPES)})")
    class_name, subtype = TUMOR_TYPES[type_code]
    if CLASS_CODES[cls_code] != class_name:
        raise DatasetError(path, f"class code '{cls_code}' contradicts tumour type '{type_code}' ({class_name})")
    magnification = int(match["mag"])
    if magnification not in MAGNIFICATIONS:
        raise DatasetError(path, f"unknown magnification {magnification}X (expected one of {MAGNIFICATIONS})")
    return {
        "class_name": class_name,
        "tumor_type": type_code,
        "subtype": subtype,
        "slide": match["slide"].upper(),
        "slide_group": match["group"],
        "magnification": magnification,
        "seq": int(match["seq"]),
    }


def read_breakhis(
    root: str | Path, data_root: str | Path | None = None, check_images: bool = True
) -> tuple[pd.DataFrame, ReadReport]:
    """Read every BreakHis image below ``root``; image paths are relative to ``data_root``."""
    root = Path(root)
    data_root = Path(data_root) if data_root is not None else root
    if not root.is_dir():
        raise DatasetError(root, "BreakHis folder not found")
    breast = find_breast_folder(root)
    report = ReadReport("breakhis")
    rows = []
    for path in sorted(p for p in breast.rglob("*") if p.is_file()):
        if path.suffix.lower() != ".png":
            report.skip(path.relative_to(data_root), "not a PNG image")
            continue
        fields = parse_file_name(path)
        _check_folders(path, breast, fields)
        try:
            width, height = check_image(path) if check_images else (0, 0)
        except ImageError as exc:  # cut short, corrupt, not an image: skipped and reported, never split
            report.skip(path.relative_to(data_root), exc.problem)
            continue
        rows.append(
            {
                "image": path.relative_to(data_root).as_posix(),
                "label": CLASSES.index(fields["class_name"]),
                "patient": path.parent.parent.name,
                "width": width,
                "height": height,
                **fields,
            }
        )
    if not rows:
        unusable = f" ({len(report.skipped)} file(s) skipped: {report.skipped_by_reason()})" if report.skipped else ""
        raise DatasetError(breast, f"no BreakHis PNG images found{unusable}")
    report.images_read = len(rows)
    return pd.DataFrame(rows, columns=COLUMNS), report


def _check_folders(path: Path, breast: Path, fields: dict) -> None:
    parts = path.relative_to(breast).parts
    if len(parts) != 6:
        raise DatasetError(path, "expected <class>/SOB/<subtype>/<patient>/<mag>X/<file> below histology_slides/breast")
    class_dir, _, subtype_dir, patient_dir, mag_dir, _ = parts
    expected = {
        "class folder": (class_dir, fields["class_name"]),
        "subtype folder": (subtype_dir, fields["subtype"]),
        "magnification folder": (mag_dir.upper(), f"{fields['magnification']}X"),
    }
    for what, (found, wanted) in expected.items():
        if found != wanted:
            raise DatasetError(path, f"{what} is '{found}' but the file name says '{wanted}'")
    if not patient_dir.upper().endswith(fields["slide"]):
        raise DatasetError(path, f"patient folder '{patient_dir}' does not end with the slide id '{fields['slide']}'")


def relabelled_slides(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Slides that appear under more than one subtype, e.g. 14-13412 as both DC and LC."""
    subtypes = frame.groupby("slide")["subtype"].unique()
    return {slide: sorted(values) for slide, values in subtypes.items() if len(values) > 1}
