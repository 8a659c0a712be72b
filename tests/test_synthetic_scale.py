"""The generator at scale: quick drawing keeps the signal, every fraction splits, real-size ISIC pictures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY
from PIL import Image
from sklearn.linear_model import LogisticRegression

from medinterp.datasets.breakhis import read_breakhis
from medinterp.datasets.brecahad import read_brecahad
from medinterp.datasets.isic2016 import read_isic2016
from medinterp.datasets.isic2019 import read_isic2019
from medinterp.datasets.isic2020 import read_duplicates, read_isic2020
from medinterp.splits.breakhis import split_breakhis
from medinterp.splits.brecahad import clean_brecahad
from medinterp.splits.isic import isic_binary, isic_multiclass
from medinterp.synthetic.breakhis import breakhis_tasks
from medinterp.synthetic.brecahad import brecahad_tasks
from medinterp.synthetic.counts import scaled
from medinterp.synthetic.dermoscopy import STYLES, render_lesion
from medinterp.synthetic.files import run_task, save_image, write_annotation
from medinterp.synthetic.generate import generate
from medinterp.synthetic.histology import render_breakhis, render_brecahad
from medinterp.synthetic.isic import ORIGINAL_SIZES, isic_tasks


def _thumbnail(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BOX), dtype=float).ravel() / 255


def test_fast_breakhis_signal_is_learnable_at_every_magnification():
    features, labels = [], []
    for i in range(48):
        image = render_breakhis(
            np.random.default_rng((3, i)), 350, 230, bool(i % 2), (40, 100, 200, 400)[i // 2 % 4], fast=True
        )
        features.append(_thumbnail(image, (16, 16)))
        labels.append(i % 2)
    x, y = np.asarray(features), np.asarray(labels)
    model = LogisticRegression(max_iter=2000).fit(x[:32], y[:32])
    assert model.score(x[32:], y[32:]) >= 0.9


def test_fast_nuclei_cover_what_one_by_one_nuclei_cover():
    """The vectorised nuclei have the one-by-one nuclei's sizes: the dark share matches within 20 %."""

    def dark_share(fast: bool, malignant: bool) -> float:
        shares = [
            (render_breakhis(np.random.default_rng((4, i)), 700, 460, malignant, 400, fast=fast)[..., 0] < 150).mean()
            for i in range(3)
        ]
        return float(np.mean(shares))

    for malignant in (False, True):
        exact, fast = dark_share(False, malignant), dark_share(True, malignant)
        assert abs(fast - exact) <= 0.2 * exact, (malignant, exact, fast)


def test_fast_brecahad_tumor_points_sit_on_malignant_nuclei():
    pixels, points = render_brecahad(np.random.default_rng(5), 680, 512, fast=True)
    xs = np.clip((np.asarray(points["tumor"])[:, 0] * 680).astype(int), 0, 679)
    ys = np.clip((np.asarray(points["tumor"])[:, 1] * 512).astype(int), 0, 511)
    assert len(xs) > 20 and (pixels[ys, xs, 0] < 120).mean() >= 0.95
    assert points["non_tumor"]


def test_fast_dermoscopy_classes_are_learnable():
    """As test_synthetic's check of the one-by-one drawing (which scores 0.5-0.6 here too)."""
    features, labels, repeat = [], [], []
    for i in range(20):
        for k, style in enumerate(STYLES):
            features.append(
                _thumbnail(render_lesion(np.random.default_rng((6, i, k)), 192, 144, style, fast=True), (8, 6))
            )
            labels.append(k)
            repeat.append(i)
    x, y, train = np.asarray(features), np.asarray(labels), np.asarray(repeat) % 4 != 0
    model = LogisticRegression(max_iter=5000).fit(x[train], y[train])
    assert model.score(x[~train], y[~train]) >= 0.5  # chance is 1/8


def test_fast_generation_keeps_layouts_and_formats(tmp_path):
    generate(tmp_path, TINY, seed=7, jobs=1, fast=True)
    pngs = sorted((tmp_path / "BreaKHis_v1").rglob("*.png"))
    assert len(pngs) == sum(sum(per_type.values()) for per_type in TINY.breakhis.images.values())
    assert {Image.open(p).size for p in pngs} <= {(700, 460), (700, 456)}
    assert {Image.open(p).mode for p in pngs} == {"RGB", "RGBA", "P"}
    assert all(Image.open(t).size == (1360, 1024) for t in (tmp_path / "BreCaHAD" / "images").iterdir())
    assert len(read_isic2020(tmp_path / "ISIC_2020", tmp_path)[0]) == TINY.isic2020.images


def _write_placeholders(root: Path, fraction: float, seed: int) -> None:
    """The CSVs and file tree of a fraction with empty picture files (readers told not to open them)."""
    counts = scaled(fraction)
    tasks = breakhis_tasks(root, counts.breakhis, seed) + brecahad_tasks(root, counts.brecahad, seed)
    tasks += isic_tasks(root, counts.isic2016, counts.isic2019, counts.isic2020, seed)
    for task in tasks:
        task.path.parent.mkdir(parents=True, exist_ok=True)
        if task.annotation is None:
            task.path.touch()
            continue
        # BreCaHAD's split opens its pictures and reads their points: small real ones.
        pixels, points = render_brecahad(np.random.default_rng(task.key), 68, 51, task.args["with_tumor"], fast=True)
        save_image(task.path, pixels)
        task.annotation.parent.mkdir(parents=True, exist_ok=True)
        write_annotation(task.annotation, points)


@pytest.mark.parametrize("fraction", [0.0005, 0.001, 0.002, 0.005, 0.02])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_fraction_passes_the_default_splits(tmp_path, fraction, seed):
    """params.yaml's split defaults: BreakHis 400X 0.2 slide-grouped, ISIC binary 5 patient-grouped
    folds, ISIC multiclass 0.2 / 0.2 lesion-grouped; no ConfigError."""
    _write_placeholders(tmp_path, fraction, seed)
    breakhis, _ = read_breakhis(tmp_path / "BreaKHis_v1", tmp_path, check_images=False)
    split_breakhis(breakhis, 400, 0.2, True, False, seed)
    brecahad, _ = read_brecahad(tmp_path / "BreCaHAD", tmp_path, check_images=False)
    clean_brecahad(brecahad, tmp_path, ["tumor"])
    isic2020, _ = read_isic2020(tmp_path / "ISIC_2020", tmp_path, check_images=False)
    isic2019, _ = read_isic2019(tmp_path / "ISIC_2019", tmp_path, check_images=False)
    isic2016_test, _ = read_isic2016(tmp_path / "ISIC_2016", "test", tmp_path, check_images=False)
    isic_binary(
        isic2020, read_duplicates(tmp_path / "ISIC_2020"), isic2019, isic2016_test, ["MEL"], True, 5, True, seed
    )
    _, _, summary = isic_multiclass(isic2019, list(STYLES), 0.2, 0.2, True, seed)
    assert "warnings" not in summary, summary["warnings"]


def test_original_resolution_writes_real_sizes_for_that_share(tmp_path):
    counts = scaled(0.0005)
    tasks = isic_tasks(tmp_path, counts.isic2016, counts.isic2019, counts.isic2020, 0, original_resolution=0.01)
    real = {(w, h) for sizes in ORIGINAL_SIZES.values() for w, h in sizes}
    big = [t for t in tasks if (t.args["width"], t.args["height"]) in real]
    pictures = {t.key for t in tasks}
    assert {t.key for t in big} and len({t.key for t in big}) == max(1, round(0.01 * len(pictures)))
    # Copies of one picture keep one size, as the archives' duplicates do.
    assert all(t.args == u.args for t in big for u in tasks if u.key == t.key)
    assert isic_tasks(tmp_path, counts.isic2016, counts.isic2019, counts.isic2020, 0) != tasks


def test_original_resolution_picture_is_a_photograph_sized_jpeg(tmp_path):
    counts = scaled(0.0005)
    tasks = isic_tasks(tmp_path, counts.isic2016, counts.isic2019, counts.isic2020, 0, original_resolution=0.05)
    task = max(tasks, key=lambda t: t.args["width"] * t.args["height"])
    assert max(task.args["width"], task.args["height"]) > 1024
    task.path.parent.mkdir(parents=True, exist_ok=True)
    run_task(task)
    with Image.open(task.path) as image:
        assert image.format == "JPEG" and image.size == (task.args["width"], task.args["height"])
    # Grain keeps the bytes near a photograph's (several MB at 6000x4000), not a smooth blur's.
    assert task.path.stat().st_size > 0.05 * task.args["width"] * task.args["height"]


def test_cli_original_resolution_on_a_tiny_fraction(tmp_path):
    out = tmp_path / "real"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "medinterp.cli",
            "synth",
            "--out",
            str(out),
            "--fraction",
            "0.0002",
            "--datasets",
            "isic",
            "--original-resolution",
            "0.004",
            "--jobs",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    real = {(w, h) for sizes in ORIGINAL_SIZES.values() for w, h in sizes}
    sizes = [Image.open(p).size for p in out.rglob("*.jpg")]
    assert 1 <= sum(size in real for size in sizes) < len(sizes)


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan", "inf", "lots"])
def test_cli_rejects_an_original_resolution_outside_0_1(tmp_path, value):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "medinterp.cli",
            "synth",
            "--out",
            str(tmp_path / "x"),
            "--datasets",
            "isic",
            "--original-resolution",
            value,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--original-resolution" in result.stderr
    assert not (tmp_path / "x").exists()


def test_cli_rejects_original_resolution_without_isic(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "medinterp.cli",
            "synth",
            "--out",
            str(tmp_path / "x"),
            "--datasets",
            "brecahad",
            "--original-resolution",
            "0.5",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "add isic to --datasets" in result.stderr


@pytest.mark.parametrize("share", [-0.5, 1.01, float("nan"), True, "0.5"])
def test_generate_rejects_a_bad_original_resolution(tmp_path, share):
    with pytest.raises(ValueError, match="original_resolution"):
        generate(tmp_path, TINY, datasets=("isic",), original_resolution=share)


def test_generate_rejects_original_resolution_without_isic(tmp_path):
    with pytest.raises(ValueError, match="add isic"):
        generate(tmp_path, TINY, datasets=("brecahad",), original_resolution=0.5)
