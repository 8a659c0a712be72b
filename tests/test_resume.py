"""Resuming an interrupted training (``medinterp.training.resume``): the loop with a fake model, the
resume file's fingerprint and bad files, and a real training stage killed mid-run and run again."""

from __future__ import annotations

import json
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_training_loop import Recorder

from medinterp.models import checkpoint as checkpoint_files
from medinterp.training.loop import FitConfig, fit
from medinterp.training.resume import ResumeFile, SeededBatches, array_inputs, discard_stage, resume_file

CONFIG = FitConfig(epochs=8, learning_rate=0.5, plateau_factor=0.5, plateau_patience=1, early_stopping_patience=4)


class Interrupted(Exception):
    pass


class RandomWalk:
    """A deterministic fake model: its weights take random steps (from its own generator) scaled by
    the learning rate; the validation loss is their distance from a target."""

    def __init__(self, crash_after: int | None = None):
        self.rng = np.random.default_rng(0)
        self.weights = np.zeros(3)
        self.lr = None
        self.crash_after = crash_after
        self.trained_epochs: list[int] = []

    def train_epoch(self, epoch):
        if self.crash_after is not None and epoch > self.crash_after:
            raise Interrupted(epoch)
        self.trained_epochs.append(epoch)
        self.weights = self.weights + self.lr * self.rng.normal(size=3)
        return {"loss": float(np.abs(self.weights).sum())}

    def evaluate(self):
        return {"loss": float(((self.weights - 1.0) ** 2).sum())}

    def get_state(self):
        return self.weights.copy()

    def set_state(self, state):
        self.weights = state.copy()

    def set_learning_rate(self, lr):
        self.lr = lr

    def training_state(self):
        return {"weights": self.weights.copy(), "rng": self.rng.bit_generator.state}

    def set_training_state(self, state):
        self.weights = state["weights"].copy()
        self.rng.bit_generator.state = state["rng"]


def _resume(tmp_path, settings=None, seed=0) -> ResumeFile:
    return resume_file(
        "stage@model", "fold0", settings or {"epochs": CONFIG.epochs}, seed, {"arrays": "digest"}, root=tmp_path
    )


def _uninterrupted():
    model, log = RandomWalk(), Recorder()
    return fit(model, CONFIG, log, prefix="fold0/"), model, log


@pytest.mark.parametrize("crash_after", [1, 2, 4])
def test_a_resumed_fit_equals_an_uninterrupted_one(tmp_path, capsys, crash_after):
    expected, reference, reference_log = _uninterrupted()
    assert 4 < expected.epochs_run and len({row["lr"] for row in expected.history}) > 1  # the plateau acted
    resume = _resume(tmp_path)
    with pytest.raises(Interrupted):
        fit(RandomWalk(crash_after), CONFIG, Recorder(), prefix="fold0/", resume=resume)
    assert len(pickle.loads(resume.path.read_bytes())["state"]["history"]) == crash_after

    model, log = RandomWalk(), Recorder()
    result = fit(model, CONFIG, log, prefix="fold0/", resume=resume)
    assert result == expected
    assert np.array_equal(model.weights, reference.weights)
    assert log.rows == reference_log.rows and log.step == reference_log.step  # the restored epochs replayed first
    assert model.trained_epochs == list(range(crash_after + 1, expected.epochs_run + 1))
    assert f"resuming train after epoch {crash_after} of 8" in capsys.readouterr().err


def test_a_finished_run_is_restored_without_training(tmp_path):
    expected, reference, _ = _uninterrupted()
    resume = _resume(tmp_path)
    fit(RandomWalk(), CONFIG, resume=resume)
    model, log = RandomWalk(), Recorder()
    assert fit(model, CONFIG, log, resume=resume) == expected
    assert (
        model.trained_epochs == []
        and np.array_equal(model.weights, reference.weights)
        and log.step == expected.epochs_run
    )


def test_a_stale_file_is_ignored_and_overwritten(tmp_path, capsys):
    expected, _, _ = _uninterrupted()
    with pytest.raises(Interrupted):
        fit(RandomWalk(crash_after=2), CONFIG, resume=_resume(tmp_path, seed=1))
    model = RandomWalk()
    assert fit(model, CONFIG, resume=_resume(tmp_path)) == expected
    assert model.trained_epochs[0] == 1
    err = capsys.readouterr().err
    assert "ignoring stale resume file" in err and "resuming" not in err
    assert pickle.loads(_resume(tmp_path).path.read_bytes())["fingerprint"] == _resume(tmp_path).fingerprint


@pytest.mark.parametrize("content", [b"", b"not a pickle", pickle.dumps({"something": "else"})])
def test_an_unreadable_file_is_ignored_with_one_line(tmp_path, capsys, content):
    expected, _, _ = _uninterrupted()
    resume = _resume(tmp_path)
    with pytest.raises(Interrupted):
        fit(RandomWalk(crash_after=3), CONFIG, resume=resume)
    whole = resume.path.read_bytes()
    resume.path.write_bytes(content or whole[: len(whole) // 2])  # empty: a file truncated mid-write
    model = RandomWalk()
    assert fit(model, CONFIG, resume=resume) == expected and model.trained_epochs[0] == 1
    warnings = [line for line in capsys.readouterr().err.splitlines() if "resume file" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: ignoring unreadable resume file")


def test_the_fingerprint_covers_settings_seed_data_and_code(tmp_path, monkeypatch):
    from medinterp.training import resume as resume_files

    base = resume_file("s", "r", {"lr": 0.1}, 0, {"a": 1}, root=tmp_path)
    changed = [
        resume_file("s", "r", {"lr": 0.2}, 0, {"a": 1}, root=tmp_path),
        resume_file("s", "r", {"lr": 0.1}, 1, {"a": 1}, root=tmp_path),
        resume_file("s", "r", {"lr": 0.1}, 0, {"a": 2}, root=tmp_path),
    ]
    monkeypatch.setattr(resume_files, "code_digest", lambda: "other code")
    changed.append(resume_file("s", "r", {"lr": 0.1}, 0, {"a": 1}, root=tmp_path))
    assert len({base.fingerprint, *(c.fingerprint for c in changed)}) == 5
    assert base.path == tmp_path / "s" / "r.pkl" and all(c.path == base.path for c in changed)


@pytest.mark.parametrize(
    "stage, run", [("", "fold0"), ("isic_binary@x", ""), ("../up", "fold0"), ("s", "a/b"), ("s", "..")]
)
def test_names_that_are_not_one_path_component_are_refused(tmp_path, stage, run):
    with pytest.raises(ValueError, match="without path separators"):
        resume_file(stage, run, {}, 0, {}, root=tmp_path)


def test_discard_stage_removes_its_files_only(tmp_path):
    for stage in ("a", "b"):
        resume_file(stage, "r", {}, 0, {}, root=tmp_path).save({"x": 1})
    discard_stage("a", root=tmp_path)
    assert not (tmp_path / "a").exists() and (tmp_path / "b" / "r.pkl").is_file()
    discard_stage("b", root=tmp_path)
    assert not tmp_path.exists()


def test_array_inputs_change_when_the_arrays_are_rebuilt(tmp_path):
    np.save(tmp_path / "t.npy", np.zeros(3))
    (tmp_path / "index.json").write_text(json.dumps({"t": {"size": 32, "csv_md5": "abc"}}))
    before = array_inputs("t", index=tmp_path / "index.json")
    assert before["t"]["csv_md5"] == "abc"
    time.sleep(0.01)
    np.save(tmp_path / "t.npy", np.zeros(3))
    assert array_inputs("t", index=tmp_path / "index.json") != before
    with pytest.raises(KeyError):
        array_inputs("missing", index=tmp_path / "index.json")


def test_seeded_batches_draw_from_their_generator():
    batches = SeededBatches(np.random.default_rng(0), lambda epoch, rng: [rng.integers(100, size=2) + epoch])
    first = batches(1)[0]
    state = batches.rng.bit_generator.state
    second = batches(1)[0]
    batches.rng.bit_generator.state = state
    assert np.array_equal(batches(1)[0], second) and not np.array_equal(first, second)


# -- the kill test: a real stage killed mid-run, then run again ----------------------------------

STAGE = "isic_multiclass"
ENTRY = "mobilenet_v2"
EPOCHS = 4


def _stage_command():
    return [sys.executable, "-m", f"medinterp.stages.{STAGE}", ENTRY]


def _dvclive_metrics(work: Path) -> dict[str, str]:
    """The dvclive curves (``step<TAB>value`` per epoch) by file name."""
    folder = work / f"plots/isic/{ENTRY}/{STAGE.split('_')[1]}/training/plots/metrics"
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*.tsv"))}


@pytest.fixture(scope="module")
def prepared(tiny_data, tmp_path_factory):
    """A Keras ISIC project on the tiny data, split and prepared: MobileNetV2 at 32 px, 4 epochs."""
    from test_keras_isic_stages import _params

    from medinterp.stages import prepare, split

    work = tmp_path_factory.mktemp("resume") / "uninterrupted"
    work.mkdir()
    params = _params(tiny_data)
    params["profiles"]["sample"]["isic"]["multiclass"]["epochs"] = EPOCHS
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    patch = pytest.MonkeyPatch()
    patch.chdir(work)
    patch.setattr(sys, "argv", ["stage"])
    try:
        split.main()
        prepare.main()
    finally:
        patch.undo()
    return work


def test_a_killed_stage_resumes_and_gives_the_uninterrupted_outputs(prepared):
    import shutil

    killed = Path(shutil.copytree(prepared, prepared.parent / "killed", symlinks=True))
    done = subprocess.run(_stage_command(), cwd=prepared, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming" not in done.stderr and not (prepared / ".resume").exists()

    saved = killed / f".resume/{STAGE}@{ENTRY}/model.pkl"
    process = subprocess.Popen(_stage_command(), cwd=killed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not saved.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the stage ended before it could be killed"
    completed = len(pickle.loads(saved.read_bytes())["state"]["history"])
    assert 1 <= completed < EPOCHS, f"killed after epoch {completed} of {EPOCHS}: nothing left to resume"

    again = subprocess.run(_stage_command(), cwd=killed, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming {ENTRY} {STAGE.split('_')[1]} after epoch {completed} of {EPOCHS}" in again.stderr
    assert not (killed / ".resume").exists()

    checkpoint = f"models/isic/{ENTRY}/multiclass/checkpoint.npz"
    (info, arrays), (expected_info, expected_arrays) = (
        checkpoint_files.read(killed / checkpoint),
        checkpoint_files.read(prepared / checkpoint),
    )
    assert info == expected_info and info["epochs_run"] == EPOCHS
    assert arrays.keys() == expected_arrays.keys() and all(
        np.array_equal(arrays[k], expected_arrays[k]) for k in arrays
    )
    for output in (
        f"metrics/isic/{ENTRY}/multiclass.json",
        f"plots/isic/{ENTRY}/multiclass/predictions_test.csv",
        f"plots/isic/{ENTRY}/multiclass/predictions_val.csv",
    ):
        assert (killed / output).read_bytes() == (prepared / output).read_bytes(), output
    curves, expected_curves = _dvclive_metrics(killed), _dvclive_metrics(prepared)
    assert curves.keys() == expected_curves.keys() and "val_loss.tsv" in curves
    for name, text in curves.items():
        assert text == expected_curves[name], name
        assert [line.split("\t")[0] for line in text.splitlines()[1:]] == [
            str(step) for step in range(1, EPOCHS + 1)
        ], name


def test_a_state_is_on_disk_at_once_inside_a_stage_transaction(tmp_path):
    """Stage outputs wait for the stage's end (io.transaction); a resume file must not, or a kill loses it."""
    from medinterp import io

    resume = _resume(tmp_path)
    with io.transaction():
        resume.save({"epoch": 1})
        assert resume.load() == {"epoch": 1}
        io.write_text(tmp_path / "output.txt", "deferred")
        assert not (tmp_path / "output.txt").exists()
    assert not list(resume.path.parent.glob("*.tmp"))
