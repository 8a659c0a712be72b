"""Bad input at the stage level, as a user meets it: each case runs a stage's ``main`` through
``medinterp.stages.run`` in a work folder that already holds a complete set of outputs from a good
run, and checks the exit code, that the one line on stderr names the file or key and the problem,
that no traceback is printed, and that the previous outputs are all still there, byte for byte
(never a mix of old and new). Library-level cases live in test_readers.py, test_params.py,
test_bad_input_data.py and test_bad_input_io_cli.py."""

from __future__ import annotations

import errno
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import split_params

from medinterp import io
from medinterp.stages import run

OUTPUTS = [
    "splits/breakhis.csv",
    "splits/brecahad.csv",
    "splits/isic_binary.csv",
    "splits/isic2016_test.csv",
    "splits/isic_multiclass.csv",
    "splits/removed.csv",
    "metrics/splits.json",
]


def _split(work: Path, capsys) -> tuple[int, str]:
    from medinterp.stages import split

    capsys.readouterr()
    try:
        run(split.main)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def good_outputs(tiny_data, tmp_path_factory) -> Path:
    """The outputs of one good split run on the tiny data, made once for this module."""
    folder = tmp_path_factory.mktemp("good_split")
    (folder / "params.yaml").write_text(yaml.safe_dump(split_params(tiny_data)))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        from medinterp.stages import split

        run(split.main)
    return folder


@pytest.fixture
def work(data_copy, good_outputs, tmp_path, monkeypatch) -> Path:
    """A work folder with params.yaml pointed at a private copy of the tiny data, holding the outputs
    of a good split run."""
    folder = tmp_path / "work"
    for name in OUTPUTS:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(good_outputs / name, folder / name)
    (folder / "params.yaml").write_text(yaml.safe_dump(split_params(data_copy)))
    monkeypatch.chdir(folder)
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under the folder, hidden temporary files included."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "params.yaml"
    }


def _fails_cleanly(work: Path, capsys, code: int, *named: str) -> str:
    before = _snapshot(work)
    got, err = _split(work, capsys)
    assert got == code, err
    last = err.rstrip("\n").split("\n")[-1].split("\r")[-1]  # progress bars redraw with \r before it
    assert "Traceback" not in err and err.count("error: ") == 1 and last.startswith("error: "), err
    for text in named:
        assert text in last, err
    assert _snapshot(work) == before, "a failed stage changed its outputs"
    return err


def _data(work: Path) -> Path:
    return Path(yaml.safe_load((work / "params.yaml").read_text())["data"]["root"])


def _setsplit_params(work: Path, **changes) -> None:
    (work / "params.yaml").write_text(yaml.safe_dump(split_params(_data(work), **changes)))


def test_malformed_brecahad_json(work, capsys):
    bad = sorted((_data(work) / "BreCaHAD" / "groundTruth").glob("*.json"))[0]
    bad.write_text("{not json")
    _fails_cleanly(work, capsys, 2, bad.name, "malformed JSON")


def test_missing_csv_column(work, capsys):
    path = _data(work) / "ISIC_2020" / "ISIC_2020_Training_GroundTruth_v2.csv"
    pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns="target").to_csv(path, index=False)
    _fails_cleanly(work, capsys, 2, path.name, "missing column(s) ['target']")


def test_unknown_label(work, capsys):
    path = _data(work) / "ISIC_2016" / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv"
    lines = path.read_text().split("\n")
    lines[2] = lines[2].replace(",0.0", ",2.0").replace(",1.0", ",2.0")
    path.write_text("\n".join(lines))
    _fails_cleanly(work, capsys, 2, path.name, "line 3: unknown label '2.0'")


def test_image_named_in_the_ground_truth_is_missing(work, capsys):
    victim = sorted((_data(work) / "ISIC_2020" / "train").glob("*.jpg"))[0]
    victim.unlink()
    _fails_cleanly(work, capsys, 2, "ISIC_2020", victim.stem, "missing")


def test_misspelt_param(work, capsys):
    params = split_params(_data(work))
    params["isic"]["binary"]["epoch"] = 1
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    _fails_cleanly(work, capsys, 2, "isic.binary.epoch is not a param; did you mean isic.binary.epochs?")


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("models", ["resnet51"], "models: 'resnet51': model 'resnet51' is not registered"),
        ("isic.binary.epochs", -4, "isic.binary.epochs is -4: should be greater than or equal to 1"),
        ("seed", "abc", "seed is 'abc': should be a valid integer"),
        ("split.breakhis.val_fraction", 1.5, "split.breakhis.val_fraction is 1.5: should be less than 1"),
    ],
)
def test_bad_param_values(work, capsys, key, value, message):
    _setsplit_params(work, **{key: value})
    _fails_cleanly(work, capsys, 2, message)


def test_disk_full_on_the_third_output_keeps_the_previous_set(work, capsys, monkeypatch):
    written = []
    real = io._fsync_file

    def full_disk(path, mode):
        written.append(path)
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, mode)

    monkeypatch.setattr(io, "_fsync_file", full_disk)
    _fails_cleanly(work, capsys, 1, "No space left on device", "splits/")


def test_ctrl_c_mid_stage_keeps_the_previous_set(work, capsys, monkeypatch):
    from medinterp.stages import split

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(split, "isic_multiclass", interrupted)
    _fails_cleanly(work, capsys, 130, "interrupted")


def test_skipped_files_are_counted_not_fatal(work, capsys):
    """A zero-byte and a non-image file with a BreakHis name, under a data root whose name is not
    ASCII: the stage runs, both are in splits/removed.csv with their reason and in no split. (The
    sample's RGBA and palette PNGs go through every good run.)"""
    root = _data(work).rename(_data(work).with_name("dätä ü"))
    _setsplit_params(work, **{"data.root": str(root)})
    pngs = sorted((root / "BreaKHis_v1").rglob("*-400-*.png"))
    empty = pngs[0].with_name(pngs[0].name.replace("-400-0", "-400-9"))
    empty.write_bytes(b"")
    text = pngs[1].with_name(pngs[1].name.replace("-400-0", "-400-8"))
    text.write_text("not an image")
    code, err = _split(work, capsys)
    assert code == 0, err
    removed = pd.read_csv(work / "splits" / "removed.csv")
    reasons = dict(zip(removed["file"].map(lambda f: Path(f).name), removed["reason"]))
    assert empty.name in reasons and text.name in reasons, reasons
    splits = (work / "splits" / "breakhis.csv").read_text()
    assert empty.name not in splits and text.name not in splits


def test_ctrl_c_while_a_stage_process_imports_is_one_line(work):
    """A real SIGINT a second into ``python -m medinterp.stages.split``: still importing its
    libraries or already running, the process ends with the one line and Ctrl-C's status."""
    before = _snapshot(work)
    # SIGINT's default disposition even where the test runner inherited it ignored (a background job)
    process = subprocess.Popen(
        [sys.executable, "-m", "medinterp.stages.split"],
        cwd=work,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=60)[1]
    assert process.returncode in (130, -signal.SIGINT), (process.returncode, err)
    assert (
        "Traceback" not in err and err.rstrip("\n").split("\n")[-1].split("\r")[-1] == "error: interrupted (Ctrl-C)"
    ), err
    assert _snapshot(work) == before
