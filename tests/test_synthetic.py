"""The generator: published layouts, determinism by seed, a learnable and locatable signal, scale."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.filters import threshold_otsu
from sklearn.linear_model import LogisticRegression

from medinterp.datasets.breakhis import FILE_NAME, read_breakhis
from medinterp.datasets.brecahad import read_annotation, read_brecahad
from medinterp.datasets.isic2016 import read_isic2016
from medinterp.datasets.isic2019 import read_isic2019
from medinterp.datasets.isic2020 import read_isic2020
from medinterp.synthetic.counts import FULL, SAMPLE, scaled
from medinterp.synthetic.dermoscopy import STYLES, render_lesion
from medinterp.synthetic.generate import generate
from medinterp.synthetic.histology import render_breakhis
from medinterp.synthetic.marker import is_synthetic


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_pictures(tiny_data, tmp_path):
    generate(tmp_path / "again", TINY, seed=7, jobs=1)
    assert _tree_digest(tmp_path / "again") == _tree_digest(tiny_data)
    generate(tmp_path / "other", TINY, seed=8, jobs=2, datasets=("brecahad",))
    a = _tree_digest(tiny_data / "BreCaHAD")
    b = _tree_digest(tmp_path / "other" / "BreCaHAD")
    assert set(a.values()).isdisjoint(b.values())


def test_folder_tree_and_file_names(tiny_data):
    assert is_synthetic(tiny_data)
    breast = tiny_data / "BreaKHis_v1" / "histology_slides" / "breast"
    folder = re.compile(
        r"^(benign|malignant)/SOB/[a-z_]+/SOB_[BM]_(A|F|PT|TA|DC|LC|MC|PC)_\d{2}-\d+[A-Z]*/(40|100|200|400)X$"
    )
    pngs = list(breast.rglob("*.png"))
    assert pngs
    for png in pngs:
        assert FILE_NAME.match(png.name), png.name
        assert folder.match(png.parent.relative_to(breast).as_posix()), png
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for tif in (tiny_data / "BreCaHAD" / "images").iterdir():
        assert re.match(r"^Case_\d{1,2}-\d{2}\.tif$", tif.name)
        assert tif.read_bytes()[:4] == b"II*\x00"
        assert Image.open(tif).size == (1360, 1024)
    jpgs = list((tiny_data / "ISIC_2020" / "train").iterdir()) + list((tiny_data / "ISIC_2016").rglob("*.jpg"))
    for jpg in jpgs:
        assert re.match(r"^ISIC_\d{7}\.jpg$", jpg.name) and jpg.read_bytes()[:2] == b"\xff\xd8"
    sizes = {Image.open(j).size for j in jpgs}
    assert len(sizes) > 1, "ISIC JPEG sizes vary"


def _nucleus_share(pixels: np.ndarray) -> float:
    """Share of pixels that look like hematoxylin-stained nuclei (purple, darker than stroma)."""
    r, g, b = (pixels[..., i].astype(float) for i in range(3))
    return float(((r < 170) & (b > r) & (g < 130)).mean())


def test_breakhis_malignant_tissue_is_denser_and_darker(tiny_data):
    frame, _ = read_breakhis(tiny_data / "BreaKHis_v1", tiny_data)
    frame = frame[frame.magnification == 400]
    from medinterp.datasets.images import read_rgb

    share = {
        label: [_nucleus_share(read_rgb(tiny_data / p)) for p in part["image"]]
        for label, part in frame.groupby("label")
    }
    assert min(share[1]) > 2 * max(share[0])


def test_breakhis_signal_is_learnable_at_low_resolution():
    """A linear model on 16x16 thumbnails separates the classes: a CNN has something to learn."""
    rng = np.random.default_rng(0)
    features, labels = [], []
    for i in range(60):
        label = i % 2
        image = render_breakhis(np.random.default_rng((1, i)), 350, 230, bool(label), 400)
        features.append(
            np.asarray(Image.fromarray(image).resize((16, 16), Image.Resampling.BOX), dtype=float).ravel() / 255
        )
        labels.append(label)
    order = rng.permutation(60)
    x, y = np.asarray(features)[order], np.asarray(labels)[order]
    model = LogisticRegression(max_iter=2000).fit(x[:40], y[:40])
    assert model.score(x[40:], y[40:]) >= 0.95


def test_dermoscopy_classes_are_learnable():
    features, labels, repeat = [], [], []
    for i in range(20):
        for k, style in enumerate(STYLES):
            image = render_lesion(np.random.default_rng((2, i, k)), 96, 72, style)
            features.append(
                np.asarray(Image.fromarray(image).resize((8, 6), Image.Resampling.BOX), dtype=float).ravel() / 255
            )
            labels.append(k)
            repeat.append(i)
    x, y = np.asarray(features), np.asarray(labels)
    train = np.asarray(repeat) % 4 != 0
    model = LogisticRegression(max_iter=5000).fit(x[train], y[train])
    assert model.score(x[~train], y[~train]) >= 0.6  # chance is 1/8


def test_brecahad_tumor_points_sit_on_malignant_nuclei(tiny_data):
    frame, _ = read_brecahad(tiny_data / "BreCaHAD", tiny_data)
    from medinterp.datasets.images import read_rgb

    on_dark, total = 0, 0
    for row in frame[frame.n_tumor > 0].itertuples():
        pixels = read_rgb(tiny_data / row.image).astype(int)
        h, w = pixels.shape[:2]
        points = read_annotation(tiny_data / row.annotation)["tumor"]
        xs = np.clip((points[:, 0] * w).astype(int), 0, w - 1)
        ys = np.clip((points[:, 1] * h).astype(int), 0, h - 1)
        on_dark += int((pixels[ys, xs, 0] < 120).sum())  # malignant nuclei are dark; stroma and benign nuclei are not
        total += len(points)
    assert on_dark / total >= 0.95


def test_brecahad_looking_at_the_right_place_beats_the_area_fraction(tiny_data):
    """An Otsu mask of nucleus darkness holds most tumour points; a random smooth heatmap's mask
    holds about its area fraction of them."""
    frame, _ = read_brecahad(tiny_data / "BreCaHAD", tiny_data)
    from medinterp.datasets.images import read_rgb

    rng = np.random.default_rng(0)
    right, random_share, random_area = [], [], []
    for row in frame[frame.n_tumor > 0].itertuples():
        pixels = read_rgb(tiny_data / row.image).astype(float)
        h, w = pixels.shape[:2]
        points = read_annotation(tiny_data / row.annotation)["tumor"]
        ys, xs = np.clip((points[:, 1] * h).astype(int), 0, h - 1), np.clip((points[:, 0] * w).astype(int), 0, w - 1)
        darkness = gaussian_filter(255 - pixels[..., 0], sigma=w / 40)
        mask = darkness > threshold_otsu(darkness)
        right.append(mask[ys, xs].mean())
        noise = gaussian_filter(rng.random((h, w)), sigma=w / 20)
        random_mask = noise > threshold_otsu(noise)
        random_share.append(random_mask[ys, xs].mean())
        random_area.append(random_mask.mean())
    figures = (
        f"darkness mask {np.mean(right):.3f}; "
        f"random mask {np.mean(random_share):.3f} of area {np.mean(random_area):.3f}"
    )
    assert np.mean(right) >= 0.8, figures
    assert np.mean(right) > np.mean(random_area) + 0.3
    assert abs(np.mean(random_share) - np.mean(random_area)) < 0.25


def test_full_counts_are_the_real_archives():
    assert sum(sum(v.values()) for v in FULL.breakhis.images.values()) == 7909
    assert sum(FULL.breakhis.images[400].values()) == 1820
    assert sum(FULL.breakhis.patients.values()) == 82
    assert sum(FULL.brecahad.images_per_case.values()) == 162
    assert FULL.isic2020.images - FULL.isic2020.duplicate_pairs == 32701
    assert sum(FULL.isic2019.images.values()) == 25331
    assert sum(FULL.isic2016.train) == 900 and sum(FULL.isic2016.test) == 379
    assert FULL.isic2019.images["MEL"] + FULL.isic2020.malignant == 5106  # the thesis's malignant count


def test_sample_is_a_small_copy_of_every_feature():
    assert SAMPLE.brecahad.duplicates == 2 and SAMPLE.brecahad.without_tumor == 1
    assert (
        SAMPLE.isic2020.duplicate_pairs > 0
        and SAMPLE.isic2019.downsampled > 0
        and SAMPLE.isic2019.shared_with_isic2016 > 0
    )
    assert set(SAMPLE.breakhis.images) == {40, 100, 200, 400}


def test_scaled_counts_keep_the_layout_complete():
    tiny = scaled(0.001)
    assert all(
        n >= tiny.breakhis.patients[t] for per_type in tiny.breakhis.images.values() for t, n in per_type.items()
    )
    assert min(tiny.brecahad.images_per_case.values()) >= 2
    with pytest.raises(ValueError):
        scaled(0)


def test_cli_writes_a_fraction_of_the_real_counts(tmp_path):
    out = tmp_path / "scale"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "medinterp.cli",
            "synth",
            "--out",
            str(out),
            "--fraction",
            "0.001",
            "--datasets",
            "isic",
            "--jobs",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    expected = scaled(0.001)
    assert len(read_isic2020(out / "ISIC_2020", out)[0]) == expected.isic2020.images
    assert len(read_isic2019(out / "ISIC_2019", out)[0]) == sum(expected.isic2019.images.values())
    assert len(read_isic2016(out / "ISIC_2016", "test", out)[0]) == sum(expected.isic2016.test)
    assert not (out / "BreaKHis_v1").exists()
