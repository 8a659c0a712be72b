"""Splits: stratification within a stated tolerance, no group on two sides, seeded and byte-stable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medinterp.datasets.breakhis import read_breakhis
from medinterp.datasets.brecahad import read_brecahad
from medinterp.datasets.isic2016 import read_isic2016
from medinterp.datasets.isic2019 import read_isic2019
from medinterp.datasets.isic2020 import read_duplicates, read_isic2020
from medinterp.errors import ConfigError, DatasetError
from medinterp.io import write_csv
from medinterp.splits.breakhis import split_breakhis
from medinterp.splits.brecahad import clean_brecahad
from medinterp.splits.folds import stratified_folds, stratified_holdout
from medinterp.splits.isic import isic_binary, isic_multiclass


def _grouped_labels(n_groups: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 8, n_groups)
    group_label = (rng.random(n_groups) < 0.33).astype(int)  # about 1:2, like BreakHis
    return np.repeat(group_label, sizes), np.repeat(np.arange(n_groups), sizes)


def test_ungrouped_folds_are_exactly_stratified():
    labels = np.array([0] * 50 + [1] * 25)
    fold = stratified_folds(labels, None, 5, seed=1)
    for k in range(5):
        assert (labels[fold == k] == 1).sum() == 5 and (fold == k).sum() == 15


def test_grouped_folds_keep_groups_whole_and_stratify_within_tolerance():
    labels, groups = _grouped_labels(120, seed=3)
    fold = stratified_folds(labels, groups, 5, seed=0)
    assert (pd.Series(fold).groupby(groups).nunique() == 1).all()
    overall = labels.mean()
    for k in range(5):
        assert abs(labels[fold == k].mean() - overall) < 0.05  # stated tolerance: 5 points
        assert abs((fold == k).mean() - 0.2) < 0.05


def test_holdout_fraction_and_seed():
    labels, groups = _grouped_labels(100, seed=4)
    held = stratified_holdout(labels, groups, 0.2, seed=5)
    assert abs(held.mean() - 0.2) < 0.05
    np.testing.assert_array_equal(held, stratified_holdout(labels, groups, 0.2, seed=5))
    assert not np.array_equal(held, stratified_holdout(labels, groups, 0.2, seed=6))


def test_too_few_groups_or_images_is_a_clear_error():
    with pytest.raises(ConfigError, match="cannot make 5 folds from 3 groups"):
        stratified_folds([0, 1, 0, 1], ["a", "b", "c", "c"], 5, seed=0)
    with pytest.raises(ConfigError, match="the smallest class has 2 images, fewer than the 3 folds"):
        stratified_folds([0, 0, 0, 1, 1, 0], list("abcdef"), 3, seed=0)
    with pytest.raises(ConfigError, match="fraction must be in"):
        stratified_holdout([0, 1], None, 1.5, seed=0)


def test_breakhis_grouped_split_never_splits_a_slide(tiny_data):
    records, _ = read_breakhis(tiny_data / "BreaKHis_v1", tiny_data)
    table, removed, summary = split_breakhis(records, 400, 0.2, True, False, seed=0)
    assert set(table["magnification"]) == {400} and removed == []
    assert (table.groupby("slide_group")["split"].nunique() == 1).all()
    assert summary["slides_on_both_sides"] == 0
    # the copies of slide 14-13412 (DC and LC) are on the same side
    assert table[table.slide == "14-13412"]["split"].nunique() == 1
    assert summary["other_choice"]["grouped_by_slide"] == 0
    assert sum(v["total"] for v in summary["other_choice"]["split"].values()) == len(table)


def test_breakhis_ungrouped_split_is_stratified_and_reports_the_grouped_one(tiny_data):
    records, _ = read_breakhis(tiny_data / "BreaKHis_v1", tiny_data)
    table, _, summary = split_breakhis(records, 400, 0.2, False, False, seed=0)
    val = table[table.split == "val"]
    for label in (0, 1):  # ungrouped: each class within one image of its 20 %
        assert abs((val.label == label).sum() - 0.2 * (table.label == label).sum()) <= 1
    assert summary["other_choice"]["slides_on_both_sides"] == 0


def test_breakhis_relabelled_copies_can_be_dropped(tiny_data):
    records, _ = read_breakhis(tiny_data / "BreaKHis_v1", tiny_data)
    table, removed, _ = split_breakhis(records, 400, 0.2, True, True, seed=0)
    assert set(table[table.slide == "14-13412"]["tumor_type"]) == {"DC"}
    assert removed and all(reason == "copy of slide 14-13412 under ductal_carcinoma" for _, reason in removed)
    assert all("SOB_M_LC" in image for image, _ in removed)


def test_brecahad_duplicates_and_images_without_tumor_are_removed(tiny_data):
    records, _ = read_brecahad(tiny_data / "BreCaHAD", tiny_data)
    table, removed, summary = clean_brecahad(records, tiny_data, ["tumor"])
    reasons = sorted(r.split(" of ")[0] for _, r in removed)
    assert reasons == ["duplicate", "no tumor points"]
    assert table["pixel_sha256"].is_unique and (table["n_tumor"] > 0).all()
    assert len(table) + len(removed) == len(records) == summary["images"] + 2
    with pytest.raises(ConfigError, match="unknown class"):
        clean_brecahad(records, tiny_data, ["tumour"])


def _isic_inputs(root):
    return (
        read_isic2020(root / "ISIC_2020", root)[0],
        read_duplicates(root / "ISIC_2020"),
        read_isic2019(root / "ISIC_2019", root)[0],
        read_isic2016(root / "ISIC_2016", "test", root)[0],
    )


def test_isic_binary_split(tiny_data):
    isic2020, duplicates, isic2019, test2016 = _isic_inputs(tiny_data)
    train, test, removed, summary = isic_binary(
        isic2020, duplicates, isic2019, test2016, ["MEL"], True, 5, True, seed=0
    )
    # duplicates gone, the kept image of each pair stays
    assert not set(duplicates.image_name_2) & set(train.image_id)
    assert set(duplicates.image_name_1) <= set(train.image_id)
    # 2019 melanoma added as malignant, minus any picture that is in the 2016 test set
    mel = isic2019[isic2019.diagnosis == "MEL"]
    leaked = mel.base_id.isin(test2016.image_id)
    assert leaked.any(), "the tiny sample shares a 2016 test picture with 2019 MEL"
    assert (train.source == "isic2019").sum() == (~leaked).sum()
    assert not set(train.image_id.str.replace("_downsampled", "")) & set(test2016.image_id)
    assert (train[train.source == "isic2019"]["label"] == 1).all()
    assert sorted(r for _, r in removed if "2016" in r) == ["also in the ISIC 2016 test set"] * int(leaked.sum())
    # groups whole, folds stratified within the tolerance the group sizes allow
    assert (train.groupby("group")["fold"].nunique() == 1).all() and summary["groups_in_several_folds"] == 0
    assert set(train.fold) == set(range(5))
    shares = [train[train.fold == k].label.mean() for k in range(5)]
    assert max(shares) - min(shares) < 0.25, shares  # tiny data: about 8 images per fold
    assert len(test) == len(test2016) and set(test.split) == {"test"}


def test_isic_binary_keeps_duplicates_when_asked(tiny_data):
    isic2020, duplicates, isic2019, test2016 = _isic_inputs(tiny_data)
    train, _, removed, _ = isic_binary(isic2020, duplicates, isic2019, test2016, ["MEL"], False, 5, True, seed=0)
    assert set(duplicates.image_name_2) <= set(train.image_id)
    assert not [r for _, r in removed if r.startswith("duplicate")]


def test_isic_binary_rejects_unknown_classes(tiny_data):
    with pytest.raises(DatasetError, match=r"unknown ISIC 2019 class\(es\) \['MELANOMA'\]"):
        isic_binary(*_isic_inputs(tiny_data), ["MELANOMA"], True, 5, True, seed=0)


def test_isic_multiclass_split(tiny_data):
    isic2019 = read_isic2019(tiny_data / "ISIC_2019", tiny_data)[0]
    classes = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]
    table, removed, summary = isic_multiclass(isic2019, classes, 0.34, 0.5, True, seed=0)
    assert removed == [] and set(table.split) == {"train", "val", "test"}
    assert (table.groupby("group")["split"].nunique() == 1).all()
    assert (table["label"] == table["class_name"].map(classes.index)).all()
    fewer, removed, _ = isic_multiclass(isic2019, ["MEL", "NV"], 0.34, 0.5, True, seed=0)
    assert set(fewer.class_name) == {"MEL", "NV"} and len(removed) == len(table) - len(fewer)
    with pytest.raises(ConfigError, match="smallest class has"):
        isic_multiclass(isic2019, classes, 0.1, 0.2, True, seed=0)


def test_split_tables_are_byte_identical_for_the_same_seed(tiny_data, tmp_path):
    records, _ = read_breakhis(tiny_data / "BreaKHis_v1", tiny_data)
    shuffled = records.sample(frac=1, random_state=1)  # file-system order must not matter
    write_csv(tmp_path / "a.csv", split_breakhis(records, 400, 0.2, True, False, seed=0)[0])
    write_csv(tmp_path / "b.csv", split_breakhis(shuffled, 400, 0.2, True, False, seed=0)[0])
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    others = set()
    for seed in range(1, 6):
        write_csv(tmp_path / "c.csv", split_breakhis(records, 400, 0.2, True, False, seed=seed)[0])
        others.add((tmp_path / "c.csv").read_bytes())
    assert others - {(tmp_path / "a.csv").read_bytes()}, "the seed changes the split"
