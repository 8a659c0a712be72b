"""ISIC splits: the thesis's binary task (ISIC 2020 + ISIC 2019 melanoma, 5 folds, ISIC 2016 test)
and the eight-class ISIC 2019 task (train/validation/test)."""

from __future__ import annotations

import pandas as pd

from medinterp.datasets.isic2019 import require_known_classes
from medinterp.errors import ConfigError, FoldError
from medinterp.splits.folds import counts_by, either, fraction_for, holdout_folds, stratified_folds, stratified_holdout

BINARY_CLASSES = ("benign", "malignant")
BINARY = "split.isic_binary"
MULTICLASS = "split.isic_multiclass"


def isic_binary(
    isic2020: pd.DataFrame,
    duplicates: pd.DataFrame,
    isic2019: pd.DataFrame,
    isic2016_test: pd.DataFrame,
    extra_malignant_classes: list[str],
    drop_duplicates: bool,
    n_folds: int,
    group_by_patient: bool,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, str]], dict]:
    """Training table with a ``fold`` column, the test table, removed images with reasons, summary.

    Groups: the ISIC 2020 patient id; ISIC 2019 has no patient id, so its lesion id (or, where that
    is blank, the image itself). Any training image whose id is in the ISIC 2016 test set is removed
    (the 2019 release contains earlier challenges' images).
    """
    require_known_classes(extra_malignant_classes, "params.yaml: split.isic_binary.extra_malignant_classes")
    removed: list[tuple[str, str]] = []
    a = isic2020.assign(source="isic2020", base_id=isic2020["image_id"], group="patient:" + isic2020["patient_id"])
    if drop_duplicates:
        copies = dict(zip(duplicates["image_name_2"], duplicates["image_name_1"]))
        is_copy = a["image_id"].isin(copies)
        removed += [
            (img, f"duplicate of {copies[i]} (ISIC 2020 duplicates list)")
            for img, i in zip(a.loc[is_copy, "image"], a.loc[is_copy, "image_id"])
        ]
        a = a[~is_copy]
    extra = isic2019[isic2019["diagnosis"].isin(extra_malignant_classes)]
    b = extra.assign(
        source="isic2019",
        label=1,
        group=[
            "lesion:" + lesion if lesion else "image:" + image
            for lesion, image in zip(extra["lesion_id"], extra["image_id"])
        ],
    )
    train = pd.concat([a, b], ignore_index=True)
    leaked = train["base_id"].isin(set(isic2016_test["image_id"]))
    removed += [(img, "also in the ISIC 2016 test set") for img in train.loc[leaked, "image"]]
    train = train[~leaked].sort_values("image").reset_index(drop=True)
    train["class_name"] = [BINARY_CLASSES[k] for k in train["label"]]
    sources = "ISIC 2020" + (f" + ISIC 2019 {'/'.join(extra_malignant_classes)}" if extra_malignant_classes else "")
    for class_name in BINARY_CLASSES:
        if not (train["class_name"] == class_name).any():
            fix = (
                f"add ISIC 2019 classes to {BINARY}.extra_malignant_classes (now {list(extra_malignant_classes)}) "
                "or check the ISIC 2020 ground truth's target column"
                if class_name == "malignant"
                else "check the ISIC 2020 ground truth's target column"
            )
            raise ConfigError(
                f"isic_binary: no {class_name} image among the {len(train)} training images ({sources}); {fix}"
            )
    try:
        train["fold"] = stratified_folds(train["label"], train["group"] if group_by_patient else None, n_folds, seed)
    except FoldError as exc:
        raise ConfigError(_binary_fold_message(exc, n_folds, group_by_patient)) from None
    for k in range(n_folds):
        in_fold = train[train["fold"] == k]
        for class_name in BINARY_CLASSES:
            if not (in_fold["class_name"] == class_name).any():
                of_class = train[train["class_name"] == class_name]
                ungroup = f"set {BINARY}.group_by_patient = false" if group_by_patient else ""
                raise ConfigError(
                    f"isic_binary: fold {k} of {BINARY}.folds = {n_folds} has no {class_name} image "
                    f"(the {len(of_class)} {class_name} images fall in {of_class['group'].nunique()} "
                    "patient/lesion group(s)); "
                    f"{either(f'lower {BINARY}.folds', ungroup, f'add {class_name} images')}"
                )
    train = train[["image", "image_id", "source", "label", "class_name", "group", "fold"]]
    test = isic2016_test.assign(class_name=[BINARY_CLASSES[k] for k in isic2016_test["label"]], split="test")
    test = test[["image", "image_id", "label", "class_name", "split"]].sort_values("image").reset_index(drop=True)
    for class_name in BINARY_CLASSES:
        if not (test["class_name"] == class_name).any():
            raise ConfigError(
                f"isic_binary: the ISIC 2016 test set (isic2016_test) has no {class_name} image among its "
                f"{len(test)}, so its AUC is undefined; check the ISIC 2016 test ground truth and the test images "
                "skipped when it was read (splits/removed.csv)"
            )
    summary = {
        "images": int(len(train)),
        "from_isic2020": int((train["source"] == "isic2020").sum()),
        "from_isic2019": int((train["source"] == "isic2019").sum()),
        "groups": int(train["group"].nunique()),
        "groups_in_several_folds": int((train.groupby("group")["fold"].nunique() > 1).sum()),
        "folds": counts_by(train.assign(fold="fold" + train["fold"].astype(str)), "fold", BINARY_CLASSES),
        "test": counts_by(test, "split", BINARY_CLASSES)["test"],
    }
    return train, test, removed, summary


def isic_multiclass(
    isic2019: pd.DataFrame,
    classes: list[str],
    test_fraction: float,
    val_fraction: float,
    group_by_lesion: bool,
    seed: int,
) -> tuple[pd.DataFrame, list[tuple[str, str]], dict]:
    """ISIC 2019 restricted to ``classes`` (UNK dropped), split into train/val/test.

    ``test_fraction`` of all images is held out first; ``val_fraction`` of the rest becomes the
    validation set. Images of one lesion stay together when ``group_by_lesion``.
    """
    require_known_classes(classes, "params.yaml: split.isic_multiclass.classes")
    if len(classes) < 2:
        raise ConfigError(f"isic_multiclass: {MULTICLASS}.classes = {list(classes)}; list at least 2 ISIC 2019 classes")
    absent = [c for c in classes if not (isic2019["diagnosis"] == c).any()]
    if absent:
        raise ConfigError(
            f"isic_multiclass: {MULTICLASS}.classes lists {absent} but none of the {len(isic2019)} "
            f"ISIC 2019 images read is of {'that class' if len(absent) == 1 else 'those classes'}; "
            f"remove {'it' if len(absent) == 1 else 'them'} from {MULTICLASS}.classes"
        )
    keep = isic2019["diagnosis"].isin(classes)
    removed = [
        (img, f"class {d} not in the task")
        for img, d in zip(isic2019.loc[~keep, "image"], isic2019.loc[~keep, "diagnosis"])
    ]
    table = isic2019[keep].sort_values("image").reset_index(drop=True)
    table["label"] = [classes.index(d) for d in table["diagnosis"]]
    table["class_name"] = table["diagnosis"]
    table["group"] = [
        "lesion:" + lesion if lesion else "image:" + image
        for lesion, image in zip(table["lesion_id"], table["image_id"])
    ]
    groups = table["group"] if group_by_lesion else None
    try:
        is_test = stratified_holdout(table["label"], groups, test_fraction, seed)
    except FoldError as exc:
        raise ConfigError(
            _multiclass_fold_message(exc, "test_fraction", test_fraction, "all images", classes, group_by_lesion)
        ) from None
    rest = table[~is_test]
    try:
        is_val = stratified_holdout(rest["label"], rest["group"] if group_by_lesion else None, val_fraction, seed)
    except FoldError as exc:
        raise ConfigError(
            _multiclass_fold_message(
                exc, "val_fraction", val_fraction, "the images the test part leaves", classes, group_by_lesion
            )
        ) from None
    table["split"] = "test"
    table.loc[rest.index, "split"] = ["val" if v else "train" for v in is_val]
    table = table[["image", "image_id", "label", "class_name", "group", "split"]]
    # A class missing from the training part cannot be learnt: an error. Missing from a tiny validation
    # or test part it only leaves that class's metrics undefined there: a warning in the summary.
    warnings = []
    for part in ("train", "val", "test"):
        rows = table[table["split"] == part]
        for class_name in classes:
            if (rows["class_name"] == class_name).any():
                continue
            of_class = table[table["class_name"] == class_name]
            problem = (
                f"isic_multiclass: the {part} part has no {class_name} image "
                f"(the {len(of_class)} {class_name} images fall in {of_class['group'].nunique()} lesion group(s); "
                f"{MULTICLASS}.test_fraction = {test_fraction}, "
                f"{MULTICLASS}.val_fraction = {val_fraction})"
            )
            if part == "train":
                ungroup = f"set {MULTICLASS}.group_by_lesion = false" if group_by_lesion else ""
                raise ConfigError(
                    f"{problem}; "
                    + either(
                        f"lower {MULTICLASS}.test_fraction or {MULTICLASS}.val_fraction",
                        ungroup,
                        f"add {class_name} images",
                        f"remove {class_name} from {MULTICLASS}.classes",
                    )
                )
            warnings.append(f"{problem}: its {class_name} metrics on {part} are undefined")
    summary = {
        "images": int(len(table)),
        "groups": int(table["group"].nunique()),
        "groups_in_several_splits": int((table.groupby("group")["split"].nunique() > 1).sum()),
        "split": counts_by(table, "split", classes),
    }
    if warnings:
        summary["warnings"] = warnings
    return table, removed, summary


def _binary_fold_message(exc: FoldError, n_folds: int, grouped: bool) -> str:
    if exc.kind == "folds":
        return f"isic_binary: {BINARY}.folds = {n_folds}; cross-validation needs at least 2 folds"
    ungroup = f"set {BINARY}.group_by_patient = false" if grouped else ""
    if exc.kind == "groups":
        unit = "patient/lesion groups" if grouped else "images"
        lower = f"lower {BINARY}.folds to at most {exc.count}" if exc.count >= 2 else "add images"
        return (
            f"isic_binary: cannot make {BINARY}.folds = {n_folds} folds from {exc.count} {unit}; "
            f"{either(lower, ungroup)}"
        )
    class_name = BINARY_CLASSES[exc.label] if exc.label in (0, 1) else exc.label
    lower = f"lower {BINARY}.folds to at most {exc.count}" if exc.count >= 2 else ""
    extra = f" ({BINARY}.extra_malignant_classes adds ISIC 2019 classes)" if class_name == "malignant" else ""
    return (
        f"isic_binary: only {exc.count} {class_name} training image(s), "
        f"fewer than the {BINARY}.folds = {n_folds} folds they must be spread over; "
        f"{either(lower, f'add {class_name} images')}{extra}"
    )


def _multiclass_fold_message(
    exc: FoldError, name: str, fraction: float, of: str, classes: list[str], grouped: bool
) -> str:
    param = f"{MULTICLASS}.{name}"
    if exc.kind == "fraction":
        return f"isic_multiclass: {param} = {fraction} must be between 0 and 1 (0.2 holds out 20 %)"
    n_folds = holdout_folds(fraction)
    ungroup = f"set {MULTICLASS}.group_by_lesion = false" if grouped else ""
    raise_it = f"raise {param} to at least {fraction_for(exc.count)}" if exc.count >= 2 else ""
    if exc.kind == "groups":
        unit = "lesion groups" if grouped else "images"
        return (
            f"isic_multiclass: {param} = {fraction} holds out one fold of {n_folds} (of {of}), "
            f"but there are only {exc.count} {unit}; "
            f"{either(raise_it, ungroup, 'add images')}"
        )
    class_name = classes[exc.label] if isinstance(exc.label, int) and 0 <= exc.label < len(classes) else exc.label
    return (
        f"isic_multiclass: the smallest class has {exc.count} images ({class_name}, of {of}), "
        f"fewer than the {n_folds} folds {param} = {fraction} implies (one fold is held out); "
        f"{either(raise_it, f'add {class_name} images', f'remove {class_name} from {MULTICLASS}.classes')}"
    )
