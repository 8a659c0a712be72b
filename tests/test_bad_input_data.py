"""Bad input data: images that cannot be decoded, high-bit-depth images, errors across processes,
and splits the data cannot make. Every error names the file (or the dataset and the param) and the
problem; stages print it as one line without a traceback.
"""

from __future__ import annotations

import inspect
import io as bytes_io
import json
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from conftest import split_workdir
from PIL import Image

from medinterp import errors
from medinterp.datasets.breakhis import read_breakhis
from medinterp.datasets.brecahad import read_brecahad
from medinterp.datasets.images import check_image, read_rgb
from medinterp.datasets.isic2016 import read_isic2016
from medinterp.datasets.isic2019 import read_isic2019
from medinterp.datasets.isic2020 import read_duplicates, read_isic2020
from medinterp.errors import ConfigError, DatasetError, ImageError
from medinterp.inference import predict
from medinterp.preprocessing import arrays
from medinterp.splits.breakhis import split_breakhis
from medinterp.splits.brecahad import clean_brecahad
from medinterp.splits.isic import isic_binary, isic_multiclass


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Incompressible pixels, so a file cut in half really loses image data."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _encoded(pixels: np.ndarray, fmt: str, **options) -> bytes:
    out = bytes_io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, **options)
    return out.getvalue()


def _cut(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _png(path: Path, width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> None:
    """A PNG written by hand (no Pillow): filter type 0 on every row, one IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


def _png16(path: Path, values: np.ndarray) -> None:
    """16-bit greyscale (``values`` (H, W)) or RGB (``values`` (H, W, 3)), big-endian as PNG stores it."""
    raw = np.ascontiguousarray(values.astype(">u2"))
    rows = b"".join(b"\x00" + raw[i].tobytes() for i in range(raw.shape[0]))
    _png(path, raw.shape[1], raw.shape[0], 16, 2 if raw.ndim == 3 else 0, rows)


def _expected_8bit(values: np.ndarray, top: int = 65535) -> np.ndarray:
    """round(v * 255 / top), half up, in integers: an independent computation of the scaling."""
    v = values.astype(np.int64)
    return ((2 * 255 * v + top) // (2 * top)).astype(np.uint8)


# 16-bit values on both sides of the rounding:
# 128 -> 0 (0.498), 129 -> 1 (0.502), 385 -> 1 (1.498), 386 -> 2, 32896 -> 128.
PROBES = np.array([0, 1, 128, 129, 256, 257, 385, 386, 32767, 32896, 65406, 65407, 65534, 65535], dtype=np.uint16)


def _grey16(side: int = 8) -> np.ndarray:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 65536, side * side).astype(np.uint16)
    values[: len(PROBES)] = PROBES
    return values.reshape(side, side)


# --- images that cannot be decoded -------------------------------------------------------------


@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("JPEG", ".jpg"), ("TIFF", ".tif")])
def test_truncated_image_is_named_and_called_truncated(tmp_path, fmt, suffix):
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(_encoded(_noise(40, 60), fmt))
    assert check_image(path) == (60, 40)
    _cut(path)
    with pytest.raises(ImageError, match=rf"cut\{suffix}: truncated image") as caught:
        check_image(path)
    assert caught.value.reason == "truncated image" and caught.value.path == path
    with pytest.raises(DatasetError, match=rf"cut\{suffix}: unreadable image"):
        read_rgb(path)


def test_truncated_jpeg_just_before_its_end_marker(tmp_path):
    path = tmp_path / "short.jpg"
    path.write_bytes(_encoded(_noise(16, 16), "JPEG")[:-1])
    with pytest.raises(ImageError, match=r"short\.jpg: truncated image"):
        check_image(path)


def test_jpeg_with_bytes_after_its_end_marker_is_decoded_and_kept(tmp_path):
    path = tmp_path / "trailer.jpg"
    path.write_bytes(_encoded(_noise(16, 24), "JPEG") + b"\x00" * 10)
    assert check_image(path) == (24, 16)


def test_png_with_a_flipped_bit_fails_its_checksum(tmp_path):
    path = tmp_path / "flip.png"
    data = bytearray(_encoded(_noise(20, 20), "PNG"))
    data[data.index(b"IDAT") + 40] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"flip\.png: corrupt image \(PNG data fails its checksum\)"):
        check_image(path)


def test_zero_byte_image(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.png: empty image file \(0 bytes\)"):
        check_image(tmp_path / "empty.png")
    with pytest.raises(DatasetError, match=r"empty\.png: unreadable image"):
        read_rgb(tmp_path / "empty.png")


def test_non_image_file_with_an_image_suffix(tmp_path):
    (tmp_path / "notes.jpg").write_text("these are notes, not a JPEG\n")
    with pytest.raises(ImageError, match=r"notes\.jpg: not an image file \(no PNG, JPEG or TIFF signature\)"):
        check_image(tmp_path / "notes.jpg")


def test_missing_image_stops_rather_than_skips(tmp_path):
    with pytest.raises(DatasetError, match=r"gone\.png: image file not found") as caught:
        check_image(tmp_path / "gone.png")
    assert not isinstance(caught.value, ImageError)


def test_readers_skip_undecodable_images_and_report_them(data_copy):
    """Truncated PNG (BreakHis), zero-byte TIFF (BreCaHAD), truncated JPEG (ISIC 2020), text as JPEG (ISIC 2019)."""
    png = sorted((data_copy / "BreaKHis_v1").rglob("*-400-*.png"))[0]
    tif = sorted((data_copy / "BreCaHAD" / "images").glob("*.tif"))[0]
    jpg2020 = sorted((data_copy / "ISIC_2020" / "train").glob("*.jpg"))[0]
    jpg2019 = sorted((data_copy / "ISIC_2019" / "ISIC_2019_Training_Input").glob("*.jpg"))[0]
    _cut(png)
    tif.write_bytes(b"")
    _cut(jpg2020)
    jpg2019.write_text("not a picture")
    rel = lambda p: str(p.relative_to(data_copy))  # noqa: E731

    frame, report = read_breakhis(data_copy / "BreaKHis_v1", data_copy)
    assert rel(png) not in set(frame["image"]) and report.images_read == len(frame)
    assert report.skipped == [(rel(png), "truncated image (PNG data ends early)")]
    assert report.summary()["skipped_by_reason"] == {"truncated image": 1}

    frame, report = read_brecahad(data_copy / "BreCaHAD", data_copy)
    assert rel(tif) not in set(frame["image"])
    annotation = data_copy / "BreCaHAD" / "groundTruth" / f"{tif.stem}.json"
    assert report.skipped == [
        (rel(tif), "empty image file (0 bytes)"),
        (rel(annotation), "annotation of a skipped image"),
    ]

    frame, report = read_isic2020(data_copy / "ISIC_2020", data_copy)
    assert jpg2020.stem not in set(frame["image_id"]) and report.images_read == len(frame)
    assert (rel(jpg2020), "truncated image (JPEG data ends early)") in report.skipped

    frame, report = read_isic2019(data_copy / "ISIC_2019", data_copy)
    assert jpg2019.stem not in set(frame["image_id"])
    assert report.skipped_by_reason()["not an image file"] == 3  # two licence texts and the fake JPEG


# --- 16-bit and other high-bit-depth images ----------------------------------------------------


def test_16bit_greyscale_png_is_scaled_not_clipped(tmp_path):
    values = _grey16()
    _png16(tmp_path / "g16.png", values)
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    rgb = read_rgb(tmp_path / "g16.png")
    expected = _expected_8bit(values)
    assert rgb.dtype == np.uint8 and rgb.shape == (8, 8, 3)
    np.testing.assert_array_equal(rgb, np.repeat(expected[..., None], 3, axis=2))
    assert expected.flat[: len(PROBES)].tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 127, 128, 254, 255, 255, 255]
    assert check_image(tmp_path / "g16.png") == (8, 8)


def test_16bit_tiffs_grey_big_endian_and_rgb_are_read_at_full_depth(tmp_path):
    values = _grey16()
    tifffile.imwrite(tmp_path / "grey_be.tif", values.astype(">u2"), byteorder=">")
    np.testing.assert_array_equal(read_rgb(tmp_path / "grey_be.tif")[..., 1], _expected_8bit(values))
    colour = np.stack([values, values[::-1], values.T], axis=-1)
    tifffile.imwrite(tmp_path / "rgb16.tif", colour, photometric="rgb")
    assert Image.open(tmp_path / "rgb16.tif").mode == "RGB"  # Pillow alone would keep only the high byte
    np.testing.assert_array_equal(read_rgb(tmp_path / "rgb16.tif"), _expected_8bit(colour))


def test_16bit_rgb_png_keeps_pillows_high_byte(tmp_path):
    colour = np.stack([_grey16(), _grey16()[::-1], _grey16().T], axis=-1)
    _png16(tmp_path / "rgb16.png", colour)
    rgb = read_rgb(tmp_path / "rgb16.png")
    np.testing.assert_array_equal(rgb, (colour >> 8).astype(np.uint8))
    assert np.abs(rgb.astype(int) - _expected_8bit(colour)).max() <= 1


def test_32bit_integer_and_float_tiffs(tmp_path):
    values = _grey16().astype(np.uint32) << 16
    tifffile.imwrite(tmp_path / "i32.tif", values)
    np.testing.assert_array_equal(read_rgb(tmp_path / "i32.tif")[..., 0], _expected_8bit(values, 2**32 - 1))
    unit = _grey16().astype(np.float32) / 65535
    tifffile.imwrite(tmp_path / "f32.tif", unit)
    assert Image.open(tmp_path / "f32.tif").mode == "F"
    np.testing.assert_array_equal(
        read_rgb(tmp_path / "f32.tif")[..., 2], np.floor(unit.astype(np.float64) * 255 + 0.5).astype(np.uint8)
    )
    tifffile.imwrite(tmp_path / "f255.tif", unit * 255)
    with pytest.raises(
        ImageError, match=r"f255\.tif: unsupported image \(floating-point samples in \[0, 255\], not \[0, 1\]"
    ):
        read_rgb(tmp_path / "f255.tif")
    with pytest.raises(ImageError, match="unsupported image"):
        check_image(tmp_path / "f255.tif")


def test_16bit_png_in_training_arrays_and_in_predicts_reader(tmp_path):
    values = _grey16()
    (tmp_path / "data").mkdir()
    _png16(tmp_path / "data" / "g16.png", values)
    expected = np.repeat(_expected_8bit(values)[..., None], 3, axis=2)
    # predict decodes through the same function as the arrays; at the image's own size no resampling changes a value
    assert predict.decode_resized is arrays.decode_resized
    np.testing.assert_array_equal(predict.decode_resized(tmp_path / "data" / "g16.png", 8), expected)
    (tmp_path / "splits").mkdir()
    pd.DataFrame({"image": ["g16.png"], "label": [0]}).to_csv(tmp_path / "splits" / "t.csv", index=False)
    arrays.build("t", 8, tmp_path / "data", jobs=1, splits=tmp_path / "splits", out=tmp_path / "arrays")
    np.testing.assert_array_equal(np.load(tmp_path / "arrays" / "t.npy")[0], expected)


# --- errors across processes -------------------------------------------------------------------

EXAMPLES = {
    errors.MedinterpError: errors.MedinterpError("something the user can fix"),
    errors.DatasetError: errors.DatasetError(Path("data/x.png"), "truncated image"),
    errors.ImageError: errors.ImageError(Path("data/x.jpg"), "truncated image", "JPEG data ends early"),
    errors.ConfigError: errors.ConfigError("split.isic_binary.folds = 40: too many"),
    errors.FoldError: errors.FoldError("cannot make 5 folds from 3 groups", "groups", 5, 3, None, True),
}


def test_every_error_class_survives_a_pickle_round_trip():
    defined = {
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == errors.__name__
    }
    assert defined == set(EXAMPLES), "add the new error class to EXAMPLES"
    for cls, exc in EXAMPLES.items():
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is cls and str(back) == str(exc) and back.args == exc.args
        assert vars(back) == vars(exc)


@pytest.fixture
def bad_table(tmp_path):
    """A split table of six tiny PNGs, the fourth cut short."""
    (tmp_path / "data").mkdir()
    (tmp_path / "splits").mkdir()
    for i in range(6):
        (tmp_path / "data" / f"img{i}.png").write_bytes(_encoded(_noise(24, 24, i), "PNG"))
    _cut(tmp_path / "data" / "img3.png")
    pd.DataFrame({"image": [f"img{i}.png" for i in range(6)], "label": [0, 1] * 3}).to_csv(
        tmp_path / "splits" / "t.csv", index=False
    )
    return tmp_path


def test_prepare_with_two_jobs_gives_the_message_of_one_job(bad_table):
    messages = {}
    for jobs in (1, 2):
        with pytest.raises(DatasetError) as caught:
            arrays.build("t", 8, bad_table / "data", jobs=jobs, splits=bad_table / "splits", out=bad_table / "arrays")
        messages[jobs] = str(caught.value)
    assert messages[1] == messages[2]
    assert messages[2].startswith(str(bad_table / "data" / "img3.png") + ": unreadable image")


# --- stages, in-process ------------------------------------------------------------------------


def _stage_error(main, capsys) -> str:
    from medinterp.stages import run

    with pytest.raises(SystemExit) as exited:
        run(main)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_split_stage_lists_truncated_images_as_removed_and_prepare_names_a_bad_one(
    data_copy, tmp_path, monkeypatch, capsys
):
    from medinterp.stages import prepare, run, split

    png = sorted((data_copy / "BreaKHis_v1").rglob("*-400-*.png"))[0]
    jpg = sorted((data_copy / "ISIC_2016" / "ISBI2016_ISIC_Part3_Test_Data").glob("*.jpg"))[0]
    _cut(png)
    _cut(jpg)
    work = split_workdir(tmp_path, data_copy)
    monkeypatch.chdir(work)
    run(split.main)
    removed = pd.read_csv(work / "splits" / "removed.csv")
    rel_png, rel_jpg = str(png.relative_to(data_copy)), str(jpg.relative_to(data_copy))
    assert removed.set_index("file").loc[rel_png, "reason"] == "truncated image (PNG data ends early)"
    assert removed.set_index("file").loc[rel_jpg, "reason"] == "truncated image (JPEG data ends early)"
    for table in ("breakhis", "isic2016_test"):
        assert not {rel_png, rel_jpg} & set(pd.read_csv(work / "splits" / f"{table}.csv")["image"])
    read = json.loads((work / "metrics" / "splits.json").read_text())["read"]
    assert read["breakhis"]["skipped_by_reason"] == {"truncated image": 1}
    assert read["isic2016_test"]["skipped_by_reason"] == {"truncated image": 1}

    # an image that goes bad after the split: prepare names it, the same with one or two jobs
    first = data_copy / pd.read_csv(work / "splits" / "breakhis.csv")["image"].iloc[0]
    _cut(first)
    lines = {}
    for jobs in (1, 2):
        (work / "params.yaml").write_text(
            yaml.safe_dump({**yaml.safe_load((work / "params.yaml").read_text()), "prepare": {"jobs": jobs}})
        )
        lines[jobs] = _stage_error(prepare.main, capsys)
    assert lines[1] == lines[2] and lines[1].startswith(f"error: {first}: unreadable image")


def test_split_stage_too_many_folds_names_dataset_and_param(data_copy, tmp_path, monkeypatch, capsys):
    from medinterp.stages import split

    monkeypatch.chdir(split_workdir(tmp_path, data_copy, **{"split.isic_binary.folds": 40}))
    line = _stage_error(split.main, capsys)
    assert line.startswith("error: isic_binary: cannot make split.isic_binary.folds = 40 folds from ")
    assert "patient/lesion groups; lower split.isic_binary.folds to at most" in line
    assert "set split.isic_binary.group_by_patient = false" in line


# --- splits the data cannot make ---------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_records(tiny_data):
    return {
        "breakhis": read_breakhis(tiny_data / "BreaKHis_v1", tiny_data)[0],
        "isic2020": read_isic2020(tiny_data / "ISIC_2020", tiny_data)[0],
        "duplicates": read_duplicates(tiny_data / "ISIC_2020"),
        "isic2019": read_isic2019(tiny_data / "ISIC_2019", tiny_data)[0],
        "isic2016_test": read_isic2016(tiny_data / "ISIC_2016", "test", tiny_data)[0],
        "brecahad": read_brecahad(tiny_data / "BreCaHAD", tiny_data)[0],
    }


def test_folds_more_than_groups_names_dataset_and_param(tiny_records):
    r = tiny_records
    with pytest.raises(
        ConfigError,
        match=r"^isic_binary: cannot make split\.isic_binary\.folds = 40 folds from \d+ patient/lesion groups",
    ):
        isic_binary(r["isic2020"], r["duplicates"], r["isic2019"], r["isic2016_test"], ["MEL"], True, 40, True, seed=0)
    with pytest.raises(
        ConfigError,
        match=r"^isic_binary: only \d+ malignant training image\(s\), fewer than the split\.isic_binary\.folds = 40",
    ):
        isic_binary(r["isic2020"], r["duplicates"], r["isic2019"], r["isic2016_test"], ["MEL"], True, 40, False, seed=0)
    with pytest.raises(ConfigError) as caught:
        split_breakhis(r["breakhis"], 400, 0.05, True, False, seed=0)
    message = str(caught.value)
    assert message.startswith(
        "breakhis (split.breakhis.magnification = 400): split.breakhis.val_fraction = 0.05 holds out one fold of 20"
    )
    assert (
        "raise split.breakhis.val_fraction to at least" in message
        and "split.breakhis.group_by_slide = false" in message
    )
    classes = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]
    with pytest.raises(
        ConfigError,
        match=r"^isic_multiclass: split\.isic_multiclass\.test_fraction = 0\.05 holds out one fold of 20 \(of all "
        r"images\), but there are only \d+ lesion groups; raise split\.isic_multiclass\.test_fraction to at least",
    ):
        isic_multiclass(r["isic2019"], ["MEL", "NV"], 0.05, 0.5, True, seed=0)
    with pytest.raises(
        ConfigError,
        match=r"^isic_multiclass: the smallest class has \d+ images \(\w+, of the images the test part leaves\), "
        r"fewer than the 25 folds split\.isic_multiclass\.val_fraction = 0\.04 implies",
    ):
        isic_multiclass(r["isic2019"], classes, 0.34, 0.04, True, seed=0)
    with pytest.raises(
        ConfigError,
        match=r"^isic_multiclass: the smallest class has \d+ images \((\w+), of all images\), fewer than the 10 "
        r"folds split\.isic_multiclass\.test_fraction = 0\.1 implies \(one fold is held out\); .*add \1 images",
    ):
        isic_multiclass(r["isic2019"], classes, 0.1, 0.2, True, seed=0)


def test_magnification_with_no_images(tiny_records):
    with pytest.raises(
        ConfigError,
        match=r"^breakhis: split\.breakhis\.magnification = 300 selects no image \(images read per "
        r"magnification: 40X: \d+, 100X: \d+, 200X: \d+, 400X: \d+\); set split\.breakhis\.magnification",
    ):
        split_breakhis(tiny_records["breakhis"], 300, 0.2, True, False, seed=0)
    without_40 = tiny_records["breakhis"][lambda f: f.magnification != 40]
    with pytest.raises(ConfigError, match=r"magnification = 40 selects no image"):
        split_breakhis(without_40, 40, 0.2, True, False, seed=0)


def test_breakhis_without_malignant_images(tiny_records):
    benign = tiny_records["breakhis"][lambda f: f.class_name == "benign"]
    with pytest.raises(
        ConfigError,
        match=r"^breakhis \(split\.breakhis\.magnification = 400\): no malignant image among the \d+ read; "
        r"the task needs benign and malignant images \(the BreakHis folder holds no malignant image",
    ):
        split_breakhis(benign, 400, 0.2, True, False, seed=0)
    only_100 = tiny_records["breakhis"][lambda f: (f.class_name == "benign") | (f.magnification == 100)]
    with pytest.raises(
        ConfigError, match=r"no malignant image among .*\(the malignant images read are at 100X; choose one of those\)"
    ):
        split_breakhis(only_100, 400, 0.2, True, False, seed=0)


def test_breakhis_malignant_images_of_one_slide_cannot_fill_both_parts():
    rows = [dict(image=f"b{i}.png", label=0, class_name="benign", slide_group=f"10-{i}") for i in range(10)]
    rows += [dict(image=f"m{i}.png", label=1, class_name="malignant", slide_group="14-999") for i in range(5)]
    records = pd.DataFrame(rows).assign(
        tumor_type="X", subtype="x", slide=lambda f: f.slide_group, magnification=400, width=1, height=1
    )
    with pytest.raises(
        ConfigError,
        match=r"^breakhis \(.*\): the (train|val) part has no malignant image \(the 5 malignant images come "
        r"from 1 slide group\(s\); .*set split\.breakhis\.group_by_slide = false",
    ):
        split_breakhis(records, 400, 0.2, True, False, seed=0)
    table, _, summary = split_breakhis(
        records, 400, 0.2, False, False, seed=0
    )  # ungrouped it works; the grouped choice is a warning
    assert set(table[table.split == "val"].class_name) == {"benign", "malignant"}
    [warning] = summary["warnings"]
    assert warning.startswith(
        "other choice (split.breakhis.group_by_slide = true): breakhis (split.breakhis.magnification = 400): the "
    )
    assert "part has no malignant image" in warning and summary["other_choice"]["grouped_by_slide"] == 1
    # an other choice that cannot be made at all is a warning too, and its counts are left out
    few = records[records.class_name == "benign"].head(6).assign(slide_group=["a", "a", "b", "b", "c", "c"])
    few = pd.concat([few, records[records.class_name == "malignant"].assign(slide_group="c")])
    _, _, summary = split_breakhis(few, 400, 0.2, False, False, seed=0)
    assert summary["warnings"] == [
        "other choice (split.breakhis.group_by_slide = true) not made: breakhis (split.breakhis.magnification = 400): "
        "split.breakhis.val_fraction = 0.2 holds out one fold of 5, but there are only 3 slide groups; raise "
        "split.breakhis.val_fraction to at least 0.29 or add images"
    ]
    assert "split" not in summary["other_choice"]


def test_isic_binary_empty_classes(tiny_records):
    r = tiny_records
    benign_2020 = r["isic2020"][r["isic2020"].label == 0]
    with pytest.raises(
        ConfigError,
        match=r"^isic_binary: no malignant image among the \d+ training images \(ISIC 2020\); add ISIC 2019 "
        r"classes to split\.isic_binary\.extra_malignant_classes \(now \[\]\)",
    ):
        isic_binary(benign_2020, r["duplicates"], r["isic2019"], r["isic2016_test"], [], True, 5, True, seed=0)
    benign_test = r["isic2016_test"][r["isic2016_test"].label == 0]
    with pytest.raises(
        ConfigError, match=r"^isic_binary: the ISIC 2016 test set \(isic2016_test\) has no malignant image"
    ):
        isic_binary(r["isic2020"], r["duplicates"], r["isic2019"], benign_test, ["MEL"], True, 5, True, seed=0)


def test_isic_multiclass_class_without_images_and_tiny_parts(tiny_records):
    isic2019 = tiny_records["isic2019"]
    classes = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]
    with pytest.raises(
        ConfigError,
        match=r"^isic_multiclass: split\.isic_multiclass\.classes lists \['DF'\] but none of the \d+ ISIC 2019 "
        r"images read is of that class; remove it from split\.isic_multiclass\.classes",
    ):
        isic_multiclass(isic2019[isic2019.diagnosis != "DF"], classes, 0.34, 0.5, True, seed=0)
    # NV: three images of one lesion go to one part whole;
    # absent from validation or test it is a warning, from training an error
    rows = [dict(image=f"m{i}.jpg", image_id=f"ISIC_{i:07d}", diagnosis="MEL", lesion_id=f"L{i}") for i in range(12)]
    rows += [dict(image=f"n{i}.jpg", image_id=f"ISIC_{90 + i:07d}", diagnosis="NV", lesion_id="L_NV") for i in range(3)]
    frame = pd.DataFrame(rows)
    outcomes = set()
    for seed in range(8):
        try:
            table, _, summary = isic_multiclass(frame, ["MEL", "NV"], 0.34, 0.5, True, seed=seed)
        except ConfigError as exc:
            assert str(exc).startswith(
                "isic_multiclass: the train part has no NV image (the 3 NV images fall in 1 lesion group(s)"
            )
            outcomes.add("error")
            continue
        assert summary["warnings"] and all("has no NV image" in w and "NV metrics" in w for w in summary["warnings"])
        assert set(table.class_name) == {"MEL", "NV"}
        outcomes.add("warning")
    assert "warning" in outcomes


def test_brecahad_with_no_image_left(tiny_records, tiny_data):
    records = tiny_records["brecahad"].assign(n_tumor=0)
    with pytest.raises(
        ConfigError,
        match=r"^brecahad: none of the \d+ annotated images read is left as a test image: \d+ removed "
        r"\(\d+ duplicate, \d+ no tumor points\), split\.brecahad\.required_points = \['tumor'\]",
    ):
        clean_brecahad(records, tiny_data, ["tumor"])
