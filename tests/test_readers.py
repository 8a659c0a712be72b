"""Every reader on generated data in the published layouts, every pitfall, every bad-input path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY
from PIL import Image

from medinterp.datasets.breakhis import read_breakhis, relabelled_slides
from medinterp.datasets.brecahad import ANNOTATION_KEYS, read_annotation, read_brecahad
from medinterp.datasets.isic2016 import read_isic2016
from medinterp.datasets.isic2019 import read_isic2019
from medinterp.datasets.isic2020 import read_duplicates, read_isic2020
from medinterp.errors import DatasetError


def _set_line_endings(path: Path, newline: bytes, final: bool = True) -> None:
    lines = path.read_bytes().replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n")
    path.write_bytes(newline.join(lines) + (newline if final else b""))


# ---------------------------------------------------------------- BreakHis


def test_breakhis_reads_every_image(tiny_data):
    frame, report = read_breakhis(tiny_data / "BreaKHis_v1", tiny_data)
    expected = sum(sum(per_type.values()) for per_type in TINY.breakhis.images.values())
    assert len(frame) == report.images_read == expected
    assert report.skipped == []
    assert set(frame["magnification"]) == {40, 100, 200, 400}
    assert set(frame["class_name"]) == {"benign", "malignant"}
    assert (frame["label"] == (frame["class_name"] == "malignant")).all()
    assert all((tiny_data / p).is_file() for p in frame["image"])


def test_breakhis_700x456_images_are_read(tiny_data):
    frame, _ = read_breakhis(tiny_data / "BreaKHis_v1", tiny_data)
    assert set(frame["width"]) == {700}
    assert set(frame["height"]) == {456, 460}


def test_breakhis_slide_under_two_subtypes_is_found(tiny_data):
    frame, _ = read_breakhis(tiny_data / "BreaKHis_v1", tiny_data)
    assert relabelled_slides(frame) == {"14-13412": ["ductal_carcinoma", "lobular_carcinoma"]}
    dc = frame[(frame.slide == "14-13412") & (frame.tumor_type == "DC")].sort_values(["magnification", "seq"])
    lc = frame[(frame.slide == "14-13412") & (frame.tumor_type == "LC")].sort_values(["magnification", "seq"])
    assert len(dc) == len(lc) > 0
    for a, b in zip(dc["image"], lc["image"]):
        assert (tiny_data / a).read_bytes() == (tiny_data / b).read_bytes()


def test_breakhis_alpha_and_palette_pngs_are_in_the_sample(tiny_data):
    modes = {Image.open(tiny_data / p).mode for p in read_breakhis(tiny_data / "BreaKHis_v1", tiny_data)[0]["image"]}
    assert {"RGB", "RGBA", "P"} <= modes


def test_breakhis_kaggle_nesting_is_found(data_copy):
    shutil.move(data_copy / "BreaKHis_v1", data_copy / "inner")
    (data_copy / "BreaKHis_v1").mkdir()
    shutil.move(data_copy / "inner", data_copy / "BreaKHis_v1" / "BreaKHis_v1")
    frame, _ = read_breakhis(data_copy / "BreaKHis_v1", data_copy)
    assert frame["image"].str.startswith("BreaKHis_v1/BreaKHis_v1/histology_slides").all()


def test_breakhis_non_png_files_are_skipped_and_reported(data_copy):
    junk = next((data_copy / "BreaKHis_v1").rglob("400X")) / "Thumbs.db"
    junk.write_bytes(b"\0")
    frame, report = read_breakhis(data_copy / "BreaKHis_v1", data_copy)
    assert report.skipped_by_reason() == {"not a PNG image": 1}
    assert not frame["image"].str.endswith("Thumbs.db").any()


@pytest.mark.parametrize(
    "name, problem",
    [
        ("SOB_B_XX-14-1234-400-001.png", "unknown tumour type 'XX'"),
        ("SOB_M_A-14-1234-400-001.png", "contradicts tumour type"),
        ("slide_001.png", "file name does not follow"),
    ],
)
def test_breakhis_bad_file_names(data_copy, name, problem):
    folder = next((data_copy / "BreaKHis_v1").rglob("400X"))
    Image.new("RGB", (4, 4)).save(folder / name)
    with pytest.raises(DatasetError, match=problem) as err:
        read_breakhis(data_copy / "BreaKHis_v1", data_copy)
    assert name in str(err.value)


def test_breakhis_file_in_the_wrong_class_folder(data_copy):
    png = next((data_copy / "BreaKHis_v1").rglob("SOB_B_A-*-400-001.png"))
    wrong = (
        png.parent.parent.parent.parent.parent.parent
        / "malignant"
        / "SOB"
        / "adenosis"
        / png.parent.parent.name
        / "400X"
    )
    wrong.mkdir(parents=True)
    shutil.move(png, wrong / png.name)
    with pytest.raises(DatasetError, match="class folder is 'malignant' but the file name says 'benign'"):
        read_breakhis(data_copy / "BreaKHis_v1", data_copy)


def test_breakhis_unreadable_png_is_skipped_and_reported(data_copy):
    png = next((data_copy / "BreaKHis_v1").rglob("*-400-001.png"))
    png.write_bytes(b"\x89PNG broken")
    records, report = read_breakhis(data_copy / "BreaKHis_v1", data_copy)
    rel = png.relative_to(data_copy).as_posix()
    assert rel not in set(records["image"])
    assert [(f, r.split(" (")[0]) for f, r in report.skipped] == [(str(png.relative_to(data_copy)), "corrupt image")]


def test_breakhis_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match="BreakHis folder not found"):
        read_breakhis(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no histology_slides/breast folder"):
        read_breakhis(tmp_path / "empty")


# ---------------------------------------------------------------- BreCaHAD


def test_brecahad_reads_images_and_points(tiny_data):
    frame, report = read_brecahad(tiny_data / "BreCaHAD", tiny_data)
    assert len(frame) == report.images_read == sum(TINY.brecahad.images_per_case.values())
    assert set(zip(frame.width, frame.height)) == {(1360, 1024)}
    assert (frame["n_tumor"] == 0).sum() == TINY.brecahad.without_tumor
    assert (frame["n_non_mitosis"] == 0).all()
    for row in frame.itertuples():
        points = read_annotation(tiny_data / row.annotation)
        assert list(points) == list(ANNOTATION_KEYS)
        assert len(points["tumor"]) == row.n_tumor
        assert ((points["tumor"] >= 0) & (points["tumor"] <= 1)).all()


def test_brecahad_json_has_the_files_byte_format(tiny_data):
    for path in (tiny_data / "BreCaHAD" / "groundTruth").glob("*.json"):
        raw = path.read_bytes()
        obj = json.loads(raw)
        assert list(obj) == list(ANNOTATION_KEYS)
        assert raw == json.dumps(obj, indent=2).encode()
        assert not raw.endswith(b"\n") and b"\r" not in raw


def test_brecahad_tubule_names_are_read_as_lumen(tmp_path):
    obj = {k: [] for k in ("mitosis", "non_mitosis", "apoptosis", "tumor", "non_tumor", "tubule", "non_tubule")}
    obj["tubule"] = [{"x": 0.5, "y": 0.25}]
    path = tmp_path / "Case_1-01.json"
    path.write_text(json.dumps(obj, indent=2))
    points = read_annotation(path)
    np.testing.assert_array_equal(points["lumen"], [[0.5, 0.25]])


@pytest.mark.parametrize(
    "text, problem",
    [
        ('{"mitosis": [', "malformed JSON at line 1"),
        ("[]", "expected a JSON object"),
        ('{"tumor": []}', "missing annotation class"),
        ('{"tumour": []}', "unknown annotation class 'tumour'"),
        ('{"tumor": [{"x": 1.5, "y": 0.1}]}', r"'tumor'\[0\]\.x = 1\.5 is not a number in \[0, 1\]"),
        ('{"tumor": [{"x": 0.5}]}', "should be an object with keys x and y"),
        ('{"tumor": {"x": 0.5, "y": 0.5}}', "should be a list of points"),
    ],
)
def test_brecahad_bad_annotation(tmp_path, text, problem):
    path = tmp_path / "Case_3-02.json"
    path.write_text(text)
    with pytest.raises(DatasetError, match=problem) as err:
        read_annotation(path)
    assert "Case_3-02.json" in str(err.value)


def test_brecahad_unmatched_files_are_reported(data_copy):
    root = data_copy / "BreCaHAD"
    first_json = sorted((root / "groundTruth").glob("*.json"))[0]
    first_json.unlink()
    shutil.copy(sorted((root / "groundTruth").glob("*.json"))[0], root / "groundTruth" / "Case_9-01.json")
    (root / "images" / "notes.txt").write_text("x")
    frame, report = read_brecahad(root, data_copy)
    assert report.skipped_by_reason() == {
        "annotation without image": 1,
        "image without annotation": 1,
        "not a .tif/.tiff file": 1,
    }
    assert len(frame) == sum(TINY.brecahad.images_per_case.values()) - 1


def test_brecahad_malformed_json_stops_the_reader(data_copy):
    path = sorted((data_copy / "BreCaHAD" / "groundTruth").glob("*.json"))[1]
    path.write_text(path.read_text()[:-5])
    with pytest.raises(DatasetError, match="malformed JSON") as err:
        read_brecahad(data_copy / "BreCaHAD", data_copy)
    assert path.name in str(err.value)


# ---------------------------------------------------------------- ISIC 2020


def test_isic2020_reads_v2_when_present_and_v1_otherwise(data_copy):
    root = data_copy / "ISIC_2020"
    v2, report = read_isic2020(root, data_copy)
    assert len(v2) == report.images_read == TINY.isic2020.images
    assert v2["label"].sum() == TINY.isic2020.malignant
    assert v2["lesion_id"].str.match(r"^(IL_\d{7}|0)$").all() and (v2["lesion_id"] == "0").sum() == 1
    (root / "ISIC_2020_Training_GroundTruth_v2.csv").unlink()
    v1, _ = read_isic2020(root, data_copy)
    assert (v1["lesion_id"] == "").all()
    merged = v1.merge(v2, on="image_id", suffixes=("_1", "_2"))
    assert len(merged) == len(v1)
    for column in ("label", "patient_id", "diagnosis", "site"):
        assert (merged[f"{column}_1"] == merged[f"{column}_2"]).all()
    pd.testing.assert_series_equal(merged["age_approx_1"], merged["age_approx_2"], check_names=False)


def test_isic2020_files_have_the_published_headers_and_line_endings(tiny_data):
    root = tiny_data / "ISIC_2020"
    v1 = (root / "ISIC_2020_Training_GroundTruth.csv").read_bytes()
    v2 = (root / "ISIC_2020_Training_GroundTruth_v2.csv").read_bytes()
    dup = (root / "ISIC_2020_Training_Duplicates.csv").read_bytes()
    assert v1.startswith(
        b"image_name,patient_id,sex,age_approx,anatom_site_general_challenge,diagnosis,benign_malignant,target\n"
    )
    assert b"\r" not in v1 and b".0," in v1
    assert v2.startswith(
        b"image_name,patient_id,lesion_id,sex,age_approx,anatom_site_general_challenge,diagnosis,benign_malignant,target\r\n"
    )
    assert dup.startswith(b"image_name_1,image_name_2\r\n") and not dup.endswith(b"\n")
    pairs = read_duplicates(root)
    assert len(pairs) == TINY.isic2020.duplicate_pairs
    assert (pairs.image_name_1 < pairs.image_name_2).all() and pairs.image_name_1.is_monotonic_increasing


@pytest.mark.parametrize("newline, final", [(b"\n", True), (b"\r\n", True), (b"\r\n", False), (b"\n", False)])
def test_isic2020_line_endings_do_not_matter(data_copy, newline, final):
    root = data_copy / "ISIC_2020"
    before, _ = read_isic2020(root, data_copy)
    pairs_before = read_duplicates(root)
    for name in ("ISIC_2020_Training_GroundTruth_v2.csv", "ISIC_2020_Training_Duplicates.csv"):
        _set_line_endings(root / name, newline, final)
    pd.testing.assert_frame_equal(read_isic2020(root, data_copy)[0], before)
    pd.testing.assert_frame_equal(read_duplicates(root), pairs_before)


def test_isic2020_missing_column(data_copy):
    path = data_copy / "ISIC_2020" / "ISIC_2020_Training_GroundTruth_v2.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns="target")
    frame.to_csv(path, index=False)
    with pytest.raises(DatasetError, match=r"ISIC_2020_Training_GroundTruth_v2\.csv: missing column\(s\) \['target'\]"):
        read_isic2020(data_copy / "ISIC_2020", data_copy)


def test_isic2020_unknown_and_contradictory_labels(data_copy):
    path = data_copy / "ISIC_2020" / "ISIC_2020_Training_GroundTruth_v2.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[3, "target"] = "maybe"
    frame.to_csv(path, index=False)
    with pytest.raises(DatasetError, match="line 5: unknown label 'maybe'"):
        read_isic2020(data_copy / "ISIC_2020", data_copy)
    frame.loc[3, "target"] = "1" if frame.loc[3, "benign_malignant"] == "benign" else "0"
    frame.to_csv(path, index=False)
    with pytest.raises(DatasetError, match="line 5: target . contradicts benign_malignant"):
        read_isic2020(data_copy / "ISIC_2020", data_copy)


def test_isic2020_missing_image_and_unlisted_image(data_copy):
    root = data_copy / "ISIC_2020"
    extra = root / "train" / "ISIC_9999999.jpg"
    shutil.copy(next((root / "train").glob("*.jpg")), extra)
    _, report = read_isic2020(root, data_copy)
    assert report.skipped == [("ISIC_2020/train/ISIC_9999999.jpg", "image not in the ground truth")]
    extra.unlink()
    victim = sorted((root / "train").glob("*.jpg"))[0]
    victim.unlink()
    with pytest.raises(
        DatasetError, match=f"1 image.s. named in the ground truth are missing, e.g. \\['{victim.stem}'\\]"
    ):
        read_isic2020(root, data_copy)


def test_isic2020_bad_age(data_copy):
    path = data_copy / "ISIC_2020" / "ISIC_2020_Training_GroundTruth_v2.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[0, "age_approx"] = "forty"
    frame.to_csv(path, index=False)
    with pytest.raises(DatasetError, match="line 2: age_approx 'forty' is not a number"):
        read_isic2020(data_copy / "ISIC_2020", data_copy)


# ---------------------------------------------------------------- ISIC 2019


def test_isic2019_reads_one_hot_truth_downsampled_names_and_skips_licence_files(tiny_data):
    frame, report = read_isic2019(tiny_data / "ISIC_2019", tiny_data)
    assert len(frame) == report.images_read == sum(TINY.isic2019.images.values())
    assert frame["diagnosis"].value_counts().to_dict() == TINY.isic2019.images
    down = frame[frame["image_id"].str.endswith("_downsampled")]
    assert len(down) == TINY.isic2019.downsampled
    assert (down["image"].str.endswith("_downsampled.jpg")).all()
    assert (down["base_id"] + "_downsampled" == down["image_id"]).all()
    assert report.skipped_by_reason() == {"not an image file": 2}
    assert frame["lesion_id"].str.match(r"^((BCN|HAM|MSK4)_\d{7})?$").all()


def test_isic2019_published_bytes(tiny_data):
    truth = (tiny_data / "ISIC_2019" / "ISIC_2019_Training_GroundTruth.csv").read_bytes()
    meta = (tiny_data / "ISIC_2019" / "ISIC_2019_Training_Metadata.csv").read_bytes()
    assert truth.startswith(b"image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK\r\n")
    rows = truth.decode().strip().split("\r\n")[1:]
    assert all(r.endswith(",0.0") for r in rows)  # UNK is never set
    assert all(sorted(r.split(",")[1:]).count("1.0") == 1 for r in rows)
    assert meta.startswith(b"image,age_approx,anatom_site_general,lesion_id,sex\r\n")


def test_isic2019_gender_column_is_read_as_sex(data_copy):
    path = data_copy / "ISIC_2019" / "ISIC_2019_Training_Metadata.csv"
    before, _ = read_isic2019(data_copy / "ISIC_2019", data_copy)
    path.write_bytes(path.read_bytes().replace(b",sex\r\n", b",gender\r\n", 1))
    after, _ = read_isic2019(data_copy / "ISIC_2019", data_copy)
    pd.testing.assert_frame_equal(before, after)
    assert (after["sex"] != "").any()


def test_isic2019_lf_endings_read_the_same(data_copy):
    root = data_copy / "ISIC_2019"
    before, _ = read_isic2019(root, data_copy)
    for name in ("ISIC_2019_Training_GroundTruth.csv", "ISIC_2019_Training_Metadata.csv"):
        _set_line_endings(root / name, b"\n", final=False)
    pd.testing.assert_frame_equal(read_isic2019(root, data_copy)[0], before)


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda f: f.__setitem__("NV", "1.0"), "classes marked for"),
        (lambda f: f.__setitem__("DF", "yes"), "DF is 'yes', expected 0.0 or 1.0"),
        (lambda f: f.__setitem__("image", "IMG_1"), "'IMG_1' is not an ISIC image id"),
    ],
)
def test_isic2019_bad_ground_truth(data_copy, change, problem):
    path = data_copy / "ISIC_2019" / "ISIC_2019_Training_GroundTruth.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    row = frame[frame["MEL"] == "1.0"].index[0]
    values = frame.loc[row].to_dict()
    change(values)
    frame.loc[row] = values
    frame.to_csv(path, index=False)
    with pytest.raises(DatasetError, match=problem) as err:
        read_isic2019(data_copy / "ISIC_2019", data_copy)
    assert "ISIC_2019_Training_GroundTruth.csv" in str(err.value)


def test_isic2019_metadata_is_optional(data_copy):
    (data_copy / "ISIC_2019" / "ISIC_2019_Training_Metadata.csv").unlink()
    frame, _ = read_isic2019(data_copy / "ISIC_2019", data_copy)
    assert (frame["lesion_id"] == "").all() and frame["age_approx"].isna().all()


# ---------------------------------------------------------------- ISIC 2016


def test_isic2016_headerless_files_lose_no_row(tiny_data):
    for part, (benign, malignant), name in (
        ("test", TINY.isic2016.test, "ISBI2016_ISIC_Part3_Test_GroundTruth.csv"),
        ("train", TINY.isic2016.train, "ISBI2016_ISIC_Part3_Training_GroundTruth.csv"),
    ):
        frame, report = read_isic2016(tiny_data / "ISIC_2016", part, tiny_data)
        raw = (tiny_data / "ISIC_2016" / name).read_bytes()
        assert len(frame) == raw.count(b"\r\n") == benign + malignant
        assert frame["label"].sum() == malignant and report.skipped == []
        assert frame["image_id"].is_monotonic_increasing


def test_isic2016_labels_differ_between_files(tiny_data):
    test = (tiny_data / "ISIC_2016" / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv").read_text()
    train = (tiny_data / "ISIC_2016" / "ISBI2016_ISIC_Part3_Training_GroundTruth.csv").read_text()
    assert {line.split(",")[1] for line in test.split()} == {"0.0", "1.0"}
    assert {line.split(",")[1] for line in train.split()} == {"benign", "malignant"}


def test_isic2016_a_header_row_is_skipped_and_reported(data_copy):
    path = data_copy / "ISIC_2016" / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv"
    before, _ = read_isic2016(data_copy / "ISIC_2016", "test", data_copy)
    path.write_bytes(b"image_id,melanoma\r\n" + path.read_bytes())
    after, report = read_isic2016(data_copy / "ISIC_2016", "test", data_copy)
    pd.testing.assert_frame_equal(before, after)
    assert report.skipped_by_reason() == {"header row in a headerless ground truth": 1}


def test_isic2016_unknown_label_gives_the_line(data_copy):
    path = data_copy / "ISIC_2016" / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv"
    lines = path.read_text().split("\n")
    lines[2] = lines[2].replace(",0.0", ",2.0").replace(",1.0", ",2.0")
    path.write_text("\n".join(lines))
    with pytest.raises(DatasetError, match="ISBI2016_ISIC_Part3_Test_GroundTruth.csv: line 3: unknown label '2.0'"):
        read_isic2016(data_copy / "ISIC_2016", "test", data_copy)


def test_isic2016_without_final_newline(data_copy):
    path = data_copy / "ISIC_2016" / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv"
    before, _ = read_isic2016(data_copy / "ISIC_2016", "test", data_copy)
    path.write_bytes(path.read_bytes().rstrip(b"\r\n"))
    pd.testing.assert_frame_equal(read_isic2016(data_copy / "ISIC_2016", "test", data_copy)[0], before)


def test_isic2016_unreadable_jpeg_is_skipped_and_reported(data_copy):
    jpg = sorted((data_copy / "ISIC_2016" / "ISBI2016_ISIC_Part3_Test_Data").glob("*.jpg"))[0]
    jpg.write_bytes(b"\xff\xd8 not really")
    frame, report = read_isic2016(data_copy / "ISIC_2016", "test", data_copy)
    assert jpg.stem not in set(frame["image_id"]) and report.images_read == len(frame)
    assert report.skipped_by_reason() == {"not an image file": 1}
    assert report.skipped[0][0] == str(jpg.relative_to(data_copy))


def test_isic2016_train_and_test_ids_are_disjoint(tiny_data):
    train, _ = read_isic2016(tiny_data / "ISIC_2016", "train", tiny_data)
    test, _ = read_isic2016(tiny_data / "ISIC_2016", "test", tiny_data)
    assert not set(train.image_id) & set(test.image_id)


def test_empty_and_missing_csv(data_copy):
    path = data_copy / "ISIC_2016" / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv"
    path.write_bytes(b"")
    with pytest.raises(DatasetError, match="file is empty"):
        read_isic2016(data_copy / "ISIC_2016", "test", data_copy)
    path.unlink()
    with pytest.raises(DatasetError, match="ISBI2016_ISIC_Part3_Test_GroundTruth.csv: file not found"):
        read_isic2016(data_copy / "ISIC_2016", "test", data_copy)
