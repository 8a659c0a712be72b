"""Decode-once image arrays: order, size, and the checks that catch stale or mismatched arrays."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medinterp.datasets.images import read_rgb_reduced
from medinterp.errors import ConfigError, DatasetError
from medinterp.preprocessing import arrays


@pytest.fixture
def table(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = []
    for i in range(5):
        pixels = np.full((30 + i, 50, 3), 40 * i, dtype=np.uint8)
        Image.fromarray(pixels).save(data / f"img{i}.png")
        rows.append({"image": f"img{i}.png", "label": i % 2})
    splits = tmp_path / "splits"
    splits.mkdir()
    pd.DataFrame(rows).to_csv(splits / "demo.csv", index=False)
    return tmp_path


def test_build_and_load_keep_row_order_and_size(table):
    entry = arrays.build("demo", 16, table / "data", jobs=2, splits=table / "splits", out=table / "arrays")
    arrays.write_index({"demo": entry}, out=table / "arrays")
    loaded = arrays.load("demo", 16, arrays=table / "arrays", splits=table / "splits")
    assert loaded.images.shape == (5, 16, 16, 3) and loaded.images.dtype == np.uint8
    assert [int(img[8, 8, 0]) for img in loaded.images] == [0, 40, 80, 120, 160]
    assert list(loaded.labels) == [0, 1, 0, 1, 0]
    part = loaded.subset(loaded.labels == 1)
    assert len(part) == 2 and int(part.images[1, 0, 0, 0]) == 120


def test_load_refuses_other_size_and_changed_split(table):
    entry = arrays.build("demo", 16, table / "data", jobs=1, splits=table / "splits", out=table / "arrays")
    arrays.write_index({"demo": entry}, out=table / "arrays")
    with pytest.raises(ConfigError, match="holds 16px images but this stage wants 32px"):
        arrays.load("demo", 32, arrays=table / "arrays", splits=table / "splits")
    (table / "splits" / "demo.csv").write_text("image,label\nimg0.png,0\n")
    with pytest.raises(DatasetError, match="changed since"):
        arrays.load("demo", 16, arrays=table / "arrays", splits=table / "splits")


def test_unreadable_image_names_the_file(table):
    (table / "data" / "img3.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="img3.png: unreadable image"):
        arrays.build("demo", 16, table / "data", jobs=1, splits=table / "splits", out=table / "arrays")


# --- decoding against a plain Pillow reference ---------------------------------------------------


def _reference(path, size: int) -> np.ndarray:
    """What the arrays should hold for an 8-bit RGB or greyscale image: open, RGB, bilinear squash."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))


def _photo(width: int, height: int, seed: int) -> Image.Image:
    """Smooth colour gradients, solid discs and noise: what JPEG's DCT scaling can get wrong."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([128 + 90 * np.sin(6 * x + c) * np.cos(4 * y - c) for c in range(3)], axis=-1)
    for _ in range(12):
        cx, cy, r = rng.uniform(0, 1, 3) * [width / max(width, height), height / max(width, height), 0.15]
        base[(x - cx) ** 2 + (y - cy) ** 2 < r**2] = rng.integers(0, 256, 3)
    noisy = base + rng.normal(0, 12, base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def _split(root, table: str, images: list[str]) -> None:
    (root / "splits").mkdir(exist_ok=True)
    pd.DataFrame({"image": images, "label": [i % 2 for i in range(len(images))]}).to_csv(
        root / "splits" / f"{table}.csv", index=False
    )


@pytest.mark.parametrize("jobs", [1, 2])
def test_png_and_tiff_rows_equal_a_plain_pillow_decode(tmp_path, jobs):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(1)
    names = []
    for i in range(8):
        pixels = rng.integers(0, 256, (37 + 5 * i, 61 - 3 * i, 3), dtype=np.uint8)
        image = Image.fromarray(pixels) if i % 3 else Image.fromarray(pixels[..., 0])  # every third greyscale
        names.append(f"img{i}.{'tif' if i % 2 else 'png'}")
        image.save(data / names[-1], **({"compression": "tiff_lzw"} if i % 4 == 1 else {}))
    _split(tmp_path, "t", names)
    arrays.build("t", 24, data, jobs=jobs, splits=tmp_path / "splits", out=tmp_path / "arrays")
    stored = np.load(tmp_path / "arrays" / "t.npy", mmap_mode="r")
    assert isinstance(stored, np.memmap) and stored.shape == (8, 24, 24, 3) and stored.dtype == np.uint8
    np.testing.assert_array_equal(stored, np.stack([_reference(data / n, 24) for n in names]))


def test_large_jpeg_is_decoded_reduced_within_the_stated_bound(tmp_path):
    path = tmp_path / "photo.jpg"
    _photo(1024, 768, seed=2).save(path, quality=90)
    # asked for 64 px, the draft wants 4 * 64 = 256: libjpeg scales by 1/2, the most that keeps both sides >= 256
    pixels, box = read_rgb_reduced(path, arrays.DRAFT_FACTOR * 64)
    assert pixels.shape == (384, 512, 3) and box == (0, 0, 512, 384)
    diff = np.abs(arrays.decode_resized(path, 64).astype(int) - _reference(path, 64).astype(int))
    assert 0 < diff.max() <= 3 and diff.mean() <= 0.24, (diff.max(), diff.mean())


@pytest.mark.parametrize("width, height", [(100, 120), (300, 127)])
def test_jpeg_under_twice_the_draft_size_is_decoded_in_full(tmp_path, width, height):
    """At 16 px the draft wants 64; a side under 128 leaves no room for even a 1/2 scale."""
    path = tmp_path / "small.jpg"
    _photo(width, height, seed=3).save(path, quality=90)
    assert read_rgb_reduced(path, arrays.DRAFT_FACTOR * 16)[0].shape == (height, width, 3)
    np.testing.assert_array_equal(arrays.decode_resized(path, 16), _reference(path, 16))


# --- one decode per image and size ---------------------------------------------------------------


def test_images_shared_by_tables_are_decoded_once_and_copied(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(5):
        _photo(40 + i, 30, seed=10 + i).save(data / f"img{i}.png")
    _split(tmp_path, "a", ["img0.png", "img1.png", "img2.png", "img3.png"])
    _split(tmp_path, "b", ["img3.png", "img4.png", "img1.png", "img3.png"])  # shares img1 and img3 with a, img3 twice
    _split(tmp_path, "c", ["img1.png", "img4.png"])  # another size: decoded again
    calls = []
    decode = arrays.decode_resized
    monkeypatch.setattr(
        arrays, "decode_resized", lambda path, size: calls.append((path.name, size)) or decode(path, size)
    )
    entries = arrays.build_all(
        {"a": 16, "b": 16, "c": 12}, data, jobs=1, splits=tmp_path / "splits", out=tmp_path / "arrays"
    )
    assert sorted(calls) == sorted({(f"img{i}.png", 16) for i in range(5)} | {("img1.png", 12), ("img4.png", 12)})
    assert [entries[t]["rows"] for t in "abc"] == [4, 4, 2] and [entries[t]["size"] for t in "abc"] == [16, 16, 12]
    for table, names, size in (("b", ["img3", "img4", "img1", "img3"], 16), ("c", ["img1", "img4"], 12)):
        stored = np.load(tmp_path / "arrays" / f"{table}.npy")
        np.testing.assert_array_equal(stored, np.stack([_reference(data / f"{n}.png", size) for n in names]))


# --- bounded memory ------------------------------------------------------------------------------


def test_memory_stays_bounded_by_one_image_not_the_table(tmp_path):
    """600 images at 64 px are 7.4 MB of pixels, which the whole-array build held at once."""
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(4)
    names = [f"img{i}.png" for i in range(600)]
    for name in names:
        Image.fromarray(rng.integers(0, 256, (72, 80, 3), dtype=np.uint8)).save(data / name, compress_level=0)
    _split(tmp_path, "big", names)
    tracemalloc.start()
    try:
        arrays.build("big", 64, data, jobs=1, splits=tmp_path / "splits", out=tmp_path / "arrays")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.5e6, f"traced peak {peak / 1e6:.2f} MB"
    stored = np.load(tmp_path / "arrays" / "big.npy", mmap_mode="r")
    assert stored.shape == (600, 64, 64, 3)
    for row in (0, 299, 599):
        np.testing.assert_array_equal(stored[row], _reference(data / names[row], 64))


# --- failures leave no output --------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_bad_image_midway_leaves_no_new_file(table, jobs):
    out = table / "arrays"
    out.mkdir()
    (out / "demo.npy").write_bytes(b"the previous output")
    (table / "data" / "bad.png").write_bytes(b"not a png")
    _split(table, "second", ["img0.png", "img1.png", "bad.png", "img2.png"])
    with pytest.raises(DatasetError, match=r"bad\.png: unreadable image"):
        arrays.build_all({"demo": 16, "second": 16}, table / "data", jobs=jobs, splits=table / "splits", out=out)
    # demo's arrays were complete, but they appear only with the rest; no temporary file stays
    assert [p.name for p in out.iterdir()] == ["demo.npy"] and (out / "demo.npy").read_bytes() == b"the previous output"


def test_a_missing_split_table_stops_before_any_decoding(table, monkeypatch):
    monkeypatch.setattr(
        arrays, "decode_resized", lambda path, size: pytest.fail("decoded before every table was found")
    )
    with pytest.raises(DatasetError) as caught:
        arrays.build_all(
            {"demo": 16, "absent": 16}, table / "data", jobs=1, splits=table / "splits", out=table / "arrays"
        )
    assert str(caught.value) == f"{table / 'splits' / 'absent.csv'}: split table not found; run the split stage first"
    assert not (table / "arrays").exists()
