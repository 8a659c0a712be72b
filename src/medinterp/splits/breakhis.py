"""BreakHis train/validation split at one magnification, grouped by slide by default."""

from __future__ import annotations

import pandas as pd

from medinterp.datasets.breakhis import CLASSES, relabelled_slides
from medinterp.splits.folds import counts_by, stratified_holdout


def split_breakhis(
    records: pd.DataFrame, magnification: int, val_fraction: float, group_by_slide: bool,
    drop_relabelled_copies: bool, seed: int,
) -> tuple[pd.DataFrame, list[tuple[str, str]], dict]:
    """Return the split table, the removed images with reasons, and a summary.

    Grouping uses the numeric slide id (``14-13412`` for ``14-13412``, ``14-22549`` for
    ``14-22549AB``) so copies of a slide and sections of one patient never straddle the split.
    The summary also gives the counts of the other choice (grouped vs not), as the paper did not group.
    """
    chosen = records[records["magnification"] == magnification].sort_values("image").reset_index(drop=True)
    removed: list[tuple[str, str]] = []
    relabelled = relabelled_slides(chosen)
    if drop_relabelled_copies:
        for slide, subtypes in relabelled.items():
            copies = chosen[(chosen["slide"] == slide) & (chosen["subtype"] != subtypes[0])]
            removed += [(img, f"copy of slide {slide} under {subtypes[0]}") for img in copies["image"]]
            chosen = chosen.drop(copies.index)
        chosen = chosen.reset_index(drop=True)

    def split_with(grouped: bool) -> pd.Series:
        groups = chosen["slide_group"] if grouped else None
        held_out = stratified_holdout(chosen["label"], groups, val_fraction, seed)
        return pd.Series(["val" if h else "train" for h in held_out], index=chosen.index)

    chosen["split"] = split_with(group_by_slide)
    alternative = chosen.assign(split=split_with(not group_by_slide))
    table = chosen[["image", "label", "class_name", "tumor_type", "subtype", "slide", "slide_group", "magnification", "width", "height", "split"]]
    summary = {
        "magnification": magnification,
        "images": int(len(chosen)),
        "slides": int(chosen["slide_group"].nunique()),
        "relabelled_slides": len(relabelled),
        "split": counts_by(table, "split", CLASSES),
        "slides_on_both_sides": _straddling(table),
        "other_choice": {
            "grouped_by_slide": int(not group_by_slide),
            "split": counts_by(alternative, "split", CLASSES),
            "slides_on_both_sides": _straddling(alternative),
        },
    }
    return table, removed, summary


def _straddling(table: pd.DataFrame) -> int:
    return int((table.groupby("slide_group")["split"].nunique() > 1).sum())
