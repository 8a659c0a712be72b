"""ISIC splits: the thesis's binary task (ISIC 2020 + ISIC 2019 melanoma, 5 folds, ISIC 2016 test)
and the eight-class ISIC 2019 task (train/validation/test)."""

from __future__ import annotations

import pandas as pd

from medinterp.datasets.isic2019 import require_known_classes
from medinterp.splits.folds import counts_by, stratified_folds, stratified_holdout

BINARY_CLASSES = ("benign", "malignant")


def isic_binary(
    isic2020: pd.DataFrame, duplicates: pd.DataFrame, isic2019: pd.DataFrame, isic2016_test: pd.DataFrame,
    extra_malignant_classes: list[str], drop_duplicates: bool, n_folds: int, group_by_patient: bool, seed: int,
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
        removed += [(img, f"duplicate of {copies[i]} (ISIC 2020 duplicates list)") for img, i in zip(a.loc[is_copy, "image"], a.loc[is_copy, "image_id"])]
        a = a[~is_copy]
    extra = isic2019[isic2019["diagnosis"].isin(extra_malignant_classes)]
    b = extra.assign(
        source="isic2019", label=1,
        group=["lesion:" + lesion if lesion else "image:" + image for lesion, image in zip(extra["lesion_id"], extra["image_id"])],
    )
    train = pd.concat([a, b], ignore_index=True)
    leaked = train["base_id"].isin(set(isic2016_test["image_id"]))
    removed += [(img, "also in the ISIC 2016 test set") for img in train.loc[leaked, "image"]]
    train = train[~leaked].sort_values("image").reset_index(drop=True)
    train["class_name"] = [BINARY_CLASSES[k] for k in train["label"]]
    train["fold"] = stratified_folds(train["label"], train["group"] if group_by_patient else None, n_folds, seed)
    train = train[["image", "image_id", "source", "label", "class_name", "group", "fold"]]
    test = isic2016_test.assign(class_name=[BINARY_CLASSES[k] for k in isic2016_test["label"]], split="test")
    test = test[["image", "image_id", "label", "class_name", "split"]].sort_values("image").reset_index(drop=True)
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
    isic2019: pd.DataFrame, classes: list[str], test_fraction: float, val_fraction: float, group_by_lesion: bool, seed: int,
) -> tuple[pd.DataFrame, list[tuple[str, str]], dict]:
    """ISIC 2019 restricted to ``classes`` (UNK dropped), split into train/val/test.

    ``test_fraction`` of all images is held out first; ``val_fraction`` of the rest becomes the
    validation set. Images of one lesion stay together when ``group_by_lesion``.
    """
    require_known_classes(classes, "params.yaml: split.isic_multiclass.classes")
    keep = isic2019["diagnosis"].isin(classes)
    removed = [(img, f"class {d} not in the task") for img, d in zip(isic2019.loc[~keep, "image"], isic2019.loc[~keep, "diagnosis"])]
    table = isic2019[keep].sort_values("image").reset_index(drop=True)
    table["label"] = [classes.index(d) for d in table["diagnosis"]]
    table["class_name"] = table["diagnosis"]
    table["group"] = ["lesion:" + lesion if lesion else "image:" + image for lesion, image in zip(table["lesion_id"], table["image_id"])]
    groups = table["group"] if group_by_lesion else None
    is_test = stratified_holdout(table["label"], groups, test_fraction, seed)
    rest = table[~is_test]
    is_val = stratified_holdout(rest["label"], rest["group"] if group_by_lesion else None, val_fraction, seed)
    table["split"] = "test"
    table.loc[rest.index, "split"] = ["val" if v else "train" for v in is_val]
    table = table[["image", "image_id", "label", "class_name", "group", "split"]]
    summary = {
        "images": int(len(table)),
        "groups": int(table["group"].nunique()),
        "groups_in_several_splits": int((table.groupby("group")["split"].nunique() > 1).sum()),
        "split": counts_by(table, "split", classes),
    }
    return table, removed, summary
