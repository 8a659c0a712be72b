"""Bad command-line input, output writing and interrupted stages.

The CLI is called in-process (``medinterp.cli.main`` returns the exit code; argparse's own usage
errors raise ``SystemExit(2)``), stages through ``medinterp.stages.run`` with small fake ``main``
functions that write through ``medinterp.io``.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import time
from pathlib import Path

import pandas as pd
import pytest

from medinterp import io
from medinterp.cli import main as cli
from medinterp.stages import run


def _exit_code(argv: list[str]) -> int:
    try:
        return cli(argv)
    except SystemExit as exc:
        return exc.code


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def _listing(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden temporary files included) with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def fake_model(tmp_path: Path) -> Path:
    """A file named like a model: argument checks run before anything reads it."""
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not read before the arguments are checked")
    return path


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "img.png"
    path.write_bytes(b"png")
    return path


# --- predict, bench, synth: every argument checked before work starts ---


@pytest.mark.parametrize("value", ["0", "-1", "abc", "2.5"])
def test_predict_batch_size_must_be_a_positive_integer(value, fake_model, image, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    assert (
        _exit_code(["predict", "--model", str(fake_model), str(image), "--batch-size", value, "--out", str(out)]) == 2
    )
    line = _one_line(capsys.readouterr().err)
    assert "--batch-size must be a positive integer" in line and f"got {value}" in line
    assert not out.exists()


def test_predict_out_naming_a_folder_is_refused_before_work(fake_model, image, tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    assert _exit_code(["predict", "--model", str(fake_model), str(image), "--out", str(folder)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "--out" in line and str(folder) in line and "is a folder" in line
    assert list(folder.iterdir()) == []


def test_predict_out_below_a_file_is_refused(fake_model, image, tmp_path, capsys):
    assert _exit_code(["predict", "--model", str(fake_model), str(image), "--out", str(image / "preds.csv")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "--out" in line and "not a folder" in line


def test_predict_missing_input_is_named(fake_model, tmp_path, capsys):
    missing = tmp_path / "nowhere" / "scan.png"
    out = tmp_path / "preds.csv"
    assert _exit_code(["predict", "--model", str(fake_model), str(missing), "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(missing) in line and "not found" in line
    assert not out.exists()


def test_predict_missing_model_is_named(image, tmp_path, capsys):
    missing = tmp_path / "gone.onnx"
    out = tmp_path / "preds.csv"
    assert _exit_code(["predict", "--model", str(missing), str(image), "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "--model" in line and str(missing) in line and "not found" in line
    assert not out.exists()


def test_predict_unknown_provider_is_named(fake_model, image, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    assert (
        _exit_code(
            [
                "predict",
                "--model",
                str(fake_model),
                str(image),
                "--providers",
                "CUDAExecutionProvidr",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    line = _one_line(capsys.readouterr().err)
    assert "--providers CUDAExecutionProvidr is not an ONNX Runtime execution provider" in line
    assert not out.exists()


def test_predict_writes_its_csv_with_the_umask_mode(tiny_onnx_classifier, image, tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (40, 40), (120, 30, 200)).save(image, format="PNG")
    out = tmp_path / "new" / "folder" / "preds.csv"
    old = os.umask(0o022)
    try:
        assert (
            cli(
                [
                    "predict",
                    "--model",
                    str(tiny_onnx_classifier),
                    str(image),
                    "--out",
                    str(out),
                    "--batch-size",
                    "1",
                    "--providers",
                    "CPUExecutionProvider",
                ]
            )
            == 0
        )
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert out.read_text().splitlines()[0] == "image,prob_benign,prob_malignant,predicted,error"
    assert len(out.read_text().splitlines()) == 2
    assert sorted(p.name for p in out.parent.iterdir()) == ["preds.csv"]


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--repeats", "0"], "--repeats"),
        (["--batch-sizes", "0"], "--batch-sizes"),
        (["--batch-sizes", "1", "-4"], "--batch-sizes"),
    ],
)
def test_bench_counts_must_be_positive(argv, flag, fake_model, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert _exit_code(["bench", str(fake_model), *argv, "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert flag in line and "must be a positive integer" in line
    assert not out.exists()


def test_bench_missing_model_and_folder_out(fake_model, tmp_path, capsys):
    assert _exit_code(["bench", str(tmp_path / "gone.onnx"), "--out", str(tmp_path / "b.json")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "gone.onnx" in line and "not found" in line
    assert _exit_code(["bench", str(fake_model), "--out", str(tmp_path)]) == 2
    assert "is a folder" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--jobs", "0"], "--jobs must be a positive integer, got 0"),
        (["--fraction", "0"], "--fraction must be a number in (0, 1], got 0"),
        (["--fraction", "1.5"], "--fraction must be a number in (0, 1], got 1.5"),
        (["--fraction", "nan"], "--fraction must be a number in (0, 1], got nan"),
        (["--seed", "-3"], "--seed must be a non-negative integer, got -3"),
    ],
)
def test_synth_arguments(argv, expected, tmp_path, capsys):
    out = tmp_path / "data"
    assert _exit_code(["synth", "--out", str(out), "--datasets", "brecahad", *argv]) == 2
    assert expected in _one_line(capsys.readouterr().err)
    assert not out.exists()


def test_synth_out_naming_a_file(image, capsys):
    assert _exit_code(["synth", "--out", str(image), "--datasets", "brecahad"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(image) in line and "is a file" in line
    assert image.read_bytes() == b"png"


def test_cli_ctrl_c_and_debug(monkeypatch, fake_model, image, tmp_path, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("medinterp.cli._predict", interrupted)
    assert cli(["predict", "--model", str(fake_model), str(image), "--out", str(tmp_path / "p.csv")]) == 130
    assert "interrupted" in _one_line(capsys.readouterr().err)
    # --debug, before or after the command, shows the traceback behind the one line
    for argv in (["--debug", "predict"], ["predict", "--debug"]):
        assert cli([*argv, "--model", str(tmp_path / "gone.onnx"), str(image)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" in err and err.strip().splitlines()[-1].startswith("error: --model")


# --- atomic writes ---


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_get_the_umask_mode(umask, mode, tmp_path):
    old = os.umask(umask)
    try:
        io.write_text(tmp_path / "a.txt", "a\n")
        io.write_json(tmp_path / "m" / "b.json", {"b": 1})
        io.write_csv(tmp_path / "c.csv", pd.DataFrame({"x": [1.5]}))
        io.write_bytes(tmp_path / "d.bin", b"\0")
        with io.atomic_path(tmp_path / "e.npy") as tmp:
            tmp.unlink()  # a writer that replaces the file it is given
            tmp.write_bytes(b"e")
        with io.transaction():
            io.write_text(tmp_path / "f.txt", "f\n")
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 6
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: mode for p in files}


def test_data_and_directory_are_fsynced_before_and_after_the_rename(monkeypatch, tmp_path):
    synced: list[str] = []
    real = os.fsync

    def record(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        synced.append(("dir " if os.path.isdir(target) else "file ") + Path(target).name)
        real(fd)

    monkeypatch.setattr(io.os, "fsync", record)
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc")
    io.write_text(tmp_path / "out.txt", "x")
    assert len(synced) == 2 and synced[0].startswith("file .out.txt.") and synced[1] == f"dir {tmp_path.name}"
    synced.clear()
    with io.transaction():
        io.write_text(tmp_path / "a.txt", "a")
        io.write_text(tmp_path / "b.txt", "b")
        assert len(synced) == 2 and all(s.startswith("file .") for s in synced)  # data first, renames wait
    assert synced[2:] == [f"dir {tmp_path.name}"]  # one directory sync after them


def test_failure_inside_the_block_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half a fi")
            raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_write_error_names_the_output_not_its_temporary_file(monkeypatch, tmp_path):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError) as caught:
        io.write_text(tmp_path / "splits.json", "{}")
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "splits.json")
    assert list(tmp_path.iterdir()) == []


# --- stage transactions ---


def _old_set(folder: Path) -> dict[str, bytes]:
    for name in ("a.csv", "b.json", "c.txt", "sub/d.txt", "e.txt"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"old {name}\n")
    return _listing(folder)


def _writes_five(folder: Path, then=None):
    def main():
        io.write_csv(folder / "a.csv", pd.DataFrame({"x": [1, 2]}))
        io.write_json(folder / "b.json", {"new": True})
        io.write_text(folder / "c.txt", "new c\n")
        io.write_text(folder / "sub" / "d.txt", "new d\n")
        io.write_text(folder / "e.txt", "new e\n")
        if then is not None:
            then()

    return main


def test_stage_outputs_appear_together_and_reads_see_pending_files(tmp_path):
    out = tmp_path / "out"
    seen = {}

    def main():
        io.write_text(out / "model.onnx", "first")
        seen["before"] = (out / "model.onnx").exists()
        seen["exists"] = io.exists(out / "model.onnx")
        seen["read"] = io.readable(out / "model.onnx").read_text()
        io.write_text(out / "model.onnx", io.readable(out / "model.onnx").read_text() + " + metadata")  # attach()
        io.copy_file(out / "model.onnx", out / "copy.onnx")  # shutil.copyfile
        seen["temporaries"] = len([p for p in out.iterdir() if p.name.startswith(".")])

    run(main)
    assert seen == {"before": False, "exists": True, "read": "first", "temporaries": 2}
    assert _listing(out) == {"copy.onnx": b"first + metadata", "model.onnx": b"first + metadata"}


def test_a_stage_reads_back_its_own_export_and_checkpoint(tiny_onnx_classifier, tmp_path):
    """What the export stages do inside one transaction: copy an export, attach metadata (reads the
    pending ONNX file), run it in ONNX Runtime (parity), read a checkpoint written in the same run."""
    import numpy as np

    from medinterp.export import metadata
    from medinterp.export.parity import run as ort_run
    from medinterp.models import checkpoint as checkpoint_files

    out = tmp_path / "models"
    meta = {**metadata.read(tiny_onnx_classifier), "name": "copied"}
    info, arrays = checkpoint_files.read(checkpoint_files.path_in(tiny_onnx_classifier.parent))
    seen = {}

    def main():
        io.copy_file(tiny_onnx_classifier, out / "model.onnx")
        metadata.attach(out / "model.onnx", meta)
        outputs, _ = ort_run(out / "model.onnx", np.zeros((2, 3, 32, 32), np.float32), ["CPUExecutionProvider"])
        checkpoint_files.save(checkpoint_files.path_in(out), info, arrays)
        seen.update(
            shape=outputs.shape,
            arch=checkpoint_files.read_info(checkpoint_files.path_in(out))["architecture"],
            there=(out / "model.onnx").exists(),
        )

    run(main)
    assert seen == {"shape": (2, 1), "arch": "mobilenet_v2", "there": False}
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "model.json", "model.onnx"]
    assert metadata.read(out / "model.onnx")["name"] == "copied"


def test_disk_full_on_the_third_output_leaves_the_old_set(monkeypatch, tmp_path, capsys):
    old = _old_set(tmp_path)
    real, calls = Path.write_text, []

    def third_fails(self, *args, **kwargs):  # write_json and write_text go through Path.write_text
        calls.append(self.name)
        if len(calls) == 2:  # the third output: a.csv (to_csv), b.json, c.txt
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", third_fails)
    with pytest.raises(SystemExit) as caught:
        run(_writes_five(tmp_path))
    assert caught.value.code == 1
    assert _one_line(capsys.readouterr().err) == f"error: {tmp_path / 'c.txt'}: No space left on device"
    assert _listing(tmp_path) == old  # no output changed, no temporary file left


def test_disk_full_at_fsync_leaves_the_old_set(monkeypatch, tmp_path, capsys):
    old = _old_set(tmp_path)
    real, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(io.os, "fsync", fsync)
    with pytest.raises(SystemExit) as caught:
        run(_writes_five(tmp_path))
    assert caught.value.code == 1 and "No space left on device" in _one_line(capsys.readouterr().err)
    assert _listing(tmp_path) == old


def test_a_failed_rename_puts_back_the_outputs_already_renamed(monkeypatch, tmp_path, capsys):
    old = _old_set(tmp_path)
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 4:
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(dst))
        real(src, dst)

    monkeypatch.setattr(io.os, "replace", replace)
    with pytest.raises(SystemExit) as caught:
        run(_writes_five(tmp_path, then=lambda: io.write_text(tmp_path / "brand_new.txt", "x")))
    assert caught.value.code == 1 and "Input/output error" in _one_line(capsys.readouterr().err)
    assert _listing(tmp_path) == old  # the three renamed are back, brand_new.txt is gone, no backups left


def test_ctrl_c_in_a_stage_exits_130_and_changes_nothing(tmp_path, capsys):
    old = _old_set(tmp_path)

    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as caught:
        run(_writes_five(tmp_path, then=interrupt))
    assert caught.value.code == 130
    assert "interrupted" in _one_line(capsys.readouterr().err)
    assert _listing(tmp_path) == old


def test_sigterm_in_a_stage_exits_143_and_changes_nothing(tmp_path, capsys):
    old = _old_set(tmp_path)

    def terminate():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises first

    with pytest.raises(SystemExit) as caught:
        run(_writes_five(tmp_path, then=terminate))
    assert caught.value.code == 143 and "SIGTERM" in _one_line(capsys.readouterr().err)
    assert _listing(tmp_path) == old
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_ctrl_c_during_the_renames_waits_for_them():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with io.deferred_sigint():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            reached.append(True)
    assert reached == [True]


def test_os_error_in_a_stage_is_one_line_and_debug_shows_the_traceback(monkeypatch, tmp_path, capsys):
    old = _old_set(tmp_path)

    def denied():
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "data" / "x.png"))

    monkeypatch.delenv("MEDINTERP_DEBUG", raising=False)
    with pytest.raises(SystemExit) as caught:
        run(_writes_five(tmp_path, then=denied))
    assert caught.value.code == 1
    assert _one_line(capsys.readouterr().err) == f"error: {tmp_path / 'data' / 'x.png'}: Permission denied"
    assert _listing(tmp_path) == old

    monkeypatch.setenv("MEDINTERP_DEBUG", "1")
    with pytest.raises(SystemExit) as caught:
        run(_writes_five(tmp_path, then=denied))
    err = capsys.readouterr().err
    assert caught.value.code == 1 and "Traceback" in err and "PermissionError" in err
    assert err.strip().splitlines()[-1].startswith("error: ")
    assert _listing(tmp_path) == old


def test_a_bug_keeps_its_traceback_and_still_changes_nothing(tmp_path):
    old = _old_set(tmp_path)

    def bug():
        raise ZeroDivisionError("a bug, not a user error")

    with pytest.raises(ZeroDivisionError):
        run(_writes_five(tmp_path, then=bug))
    assert _listing(tmp_path) == old
