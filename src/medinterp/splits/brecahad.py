"""BreCaHAD test set: every annotated image once, with at least one point of the required classes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm import tqdm

from medinterp.datasets.brecahad import ANNOTATION_KEYS, pixel_hash
from medinterp.errors import ConfigError


def clean_brecahad(
    records: pd.DataFrame, data_root: str | Path, required_points: list[str]
) -> tuple[pd.DataFrame, list[tuple[str, str]], dict]:
    """Drop pictures seen before (same decoded pixels) and images without ``required_points``."""
    unknown = [k for k in required_points if k not in ANNOTATION_KEYS]
    if unknown:
        raise ConfigError(
            f"split.brecahad.required_points: unknown class(es) {unknown}; choose from {list(ANNOTATION_KEYS)}"
        )
    table = records.copy()
    table["pixel_sha256"] = [
        pixel_hash(Path(data_root) / p) for p in tqdm(table["image"], desc="BreCaHAD hashes", unit="img")
    ]
    removed: list[tuple[str, str]] = []
    first_of: dict[str, str] = {}
    keep = []
    for row in table.itertuples():
        stem = Path(row.image).stem
        if row.pixel_sha256 in first_of:
            removed.append((row.image, f"duplicate of {first_of[row.pixel_sha256]} (same pixels)"))
            keep.append(False)
            continue
        first_of[row.pixel_sha256] = stem
        points = sum(getattr(row, f"n_{k}") for k in required_points)
        if points == 0:
            removed.append((row.image, f"no {'/'.join(required_points)} points"))
            keep.append(False)
            continue
        keep.append(True)
    table = table[keep].reset_index(drop=True)
    if table.empty:
        raise ConfigError(
            f"brecahad: none of the {len(records)} annotated images read is left as a test image: "
            f"{len(removed)} removed ({_reasons(removed)}), split.brecahad.required_points = {list(required_points)}; "
            "list annotation classes the images have points of in split.brecahad.required_points"
        )
    table["label"] = 1
    table["class_name"] = "malignant"
    table["split"] = "test"
    summary = {
        "images": int(len(table)),
        "split": {"test": {"benign": 0, "malignant": int(len(table)), "total": int(len(table))}},
        "points": {k: int(table[f"n_{k}"].sum()) for k in ANNOTATION_KEYS},
    }
    return table, removed, summary


def _reasons(removed: list[tuple[str, str]]) -> str:
    counts: dict[str, int] = {}
    for _, reason in removed:
        key = reason.split(" of ")[0] if reason.startswith("duplicate of") else reason
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {key}" for key, n in sorted(counts.items())) or "none"
