"""BreakHis train/validation split at one magnification, grouped by slide by default."""

from __future__ import annotations

import pandas as pd

from medinterp.datasets.breakhis import CLASSES, relabelled_slides
from medinterp.errors import ConfigError, FoldError
from medinterp.splits.folds import counts_by, either, fraction_for, holdout_folds, stratified_holdout

PARAMS = "split.breakhis"


def split_breakhis(
    records: pd.DataFrame,
    magnification: int,
    val_fraction: float,
    group_by_slide: bool,
    drop_relabelled_copies: bool,
    seed: int,
) -> tuple[pd.DataFrame, list[tuple[str, str]], dict]:
    """Return the split table, the removed images with reasons, and a summary.

    Grouping uses the numeric slide id (``14-13412`` for ``14-13412``, ``14-22549`` for
    ``14-22549AB``) so copies of a slide and sections of one patient never straddle the split.
    The summary also gives the counts of the other choice (grouped vs not), as the paper did not group;
    if that other split cannot be made, the summary says why under ``warnings``.

    A magnification with no image, a class with no image, or a train or validation part without
    one of the classes stops with a :class:`ConfigError` naming the param and what would fix it.
    """
    chosen = records[records["magnification"] == magnification].sort_values("image").reset_index(drop=True)
    where = f"breakhis ({PARAMS}.magnification = {magnification})"
    if chosen.empty:
        found = ", ".join(f"{m}X: {n}" for m, n in sorted(records["magnification"].value_counts().items()))
        raise ConfigError(
            f"breakhis: {PARAMS}.magnification = {magnification} selects no image (images read per magnification: "
            f"{found or 'none'}); set {PARAMS}.magnification to one of those"
        )
    for class_name in CLASSES:
        if not (chosen["class_name"] == class_name).any():
            elsewhere = records.loc[records["class_name"] == class_name, "magnification"]
            hint = (
                f"the {class_name} images read are at {', '.join(f'{m}X' for m in sorted(set(elsewhere)))}; "
                "choose one of those"
                if len(elsewhere)
                else f"the BreakHis folder holds no {class_name} image at any magnification"
            )
            raise ConfigError(
                f"{where}: no {class_name} image among the {len(chosen)} read; "
                f"the task needs benign and malignant images ({hint})"
            )
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
        try:
            held_out = stratified_holdout(chosen["label"], groups, val_fraction, seed)
        except FoldError as exc:  # ungrouping is a way out only of the grouped split the params ask for
            raise ConfigError(_fold_message(exc, where, val_fraction, grouped, grouped and group_by_slide)) from None
        return pd.Series(["val" if h else "train" for h in held_out], index=chosen.index)

    chosen["split"] = split_with(group_by_slide)
    problem = _empty_part(chosen, where, val_fraction, group_by_slide)
    if problem:
        raise ConfigError(problem)
    other = f"other choice ({PARAMS}.group_by_slide = {str(not group_by_slide).lower()})"
    warnings = []
    try:  # the other choice is only reported: it never stops the split
        alternative = chosen.assign(split=split_with(not group_by_slide))
    except ConfigError as exc:
        alternative, warnings = None, [f"{other} not made: {exc}"]
    if alternative is not None and _empty_part(alternative, where, val_fraction, not group_by_slide):
        warnings.append(f"{other}: {_empty_part(alternative, where, val_fraction, not group_by_slide)}")
    table = chosen[
        [
            "image",
            "label",
            "class_name",
            "tumor_type",
            "subtype",
            "slide",
            "slide_group",
            "magnification",
            "width",
            "height",
            "split",
        ]
    ]
    summary = {
        "magnification": magnification,
        "images": int(len(chosen)),
        "slides": int(chosen["slide_group"].nunique()),
        "relabelled_slides": len(relabelled),
        "split": counts_by(table, "split", CLASSES),
        "slides_on_both_sides": _straddling(table),
        "other_choice": {
            "grouped_by_slide": int(not group_by_slide),
            **(
                {"split": counts_by(alternative, "split", CLASSES), "slides_on_both_sides": _straddling(alternative)}
                if alternative is not None
                else {}
            ),
        },
    }
    if warnings:
        summary["warnings"] = warnings
    return table, removed, summary


def _empty_part(chosen: pd.DataFrame, where: str, val_fraction: float, grouped: bool) -> str | None:
    """What is wrong if the train or validation part lacks a class, else None."""
    for part in ("train", "val"):
        rows = chosen[chosen["split"] == part]
        for class_name in CLASSES:
            if not (rows["class_name"] == class_name).any():
                of_class = chosen[chosen["class_name"] == class_name]
                fix = either(
                    f"set {PARAMS}.group_by_slide = false" if grouped else "",
                    f"change {PARAMS}.val_fraction",
                    f"add {class_name} {'slides' if grouped else 'images'}",
                )
                return (
                    f"{where}: the {part} part has no {class_name} image "
                    f"(the {len(of_class)} {class_name} images come from {of_class['slide_group'].nunique()} "
                    f"slide group(s); {PARAMS}.val_fraction = {val_fraction}); {fix}"
                )
    return None


def _fold_message(exc: FoldError, where: str, val_fraction: float, grouped: bool, offer_ungrouping: bool) -> str:
    if exc.kind == "fraction":
        return f"{where}: {PARAMS}.val_fraction = {val_fraction} must be between 0 and 1 (0.2 holds out 20 %)"
    n_folds = holdout_folds(val_fraction)
    ungroup = f"set {PARAMS}.group_by_slide = false" if offer_ungrouping else ""
    if exc.kind == "groups":
        unit = "slide groups" if grouped else "images"
        if exc.count < 2:
            return (
                f"{where}: only {exc.count} {unit}, too few to hold out a validation part; "
                f"{either('add images', ungroup, f'choose another {PARAMS}.magnification')}"
            )
        return (
            f"{where}: {PARAMS}.val_fraction = {val_fraction} holds out one fold of {n_folds}, "
            f"but there are only {exc.count} {unit}; "
            f"{either(f'raise {PARAMS}.val_fraction to at least {fraction_for(exc.count)}', ungroup, 'add images')}"
        )
    class_name = CLASSES[exc.label] if isinstance(exc.label, int) and 0 <= exc.label < len(CLASSES) else exc.label
    raise_it = f"raise {PARAMS}.val_fraction to at least {fraction_for(exc.count)}" if exc.count >= 2 else ""
    return (
        f"{where}: only {exc.count} {class_name} image(s), "
        f"fewer than the {n_folds} folds {PARAMS}.val_fraction = {val_fraction} "
        f"implies (one fold is held out); {either(raise_it, f'add {class_name} images')}"
    )


def _straddling(table: pd.DataFrame) -> int:
    return int((table.groupby("slide_group")["split"].nunique() > 1).sum())
