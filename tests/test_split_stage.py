"""The split stage end to end: as a process, and through `dvc repro` in a scratch repository."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, split_workdir

from medinterp.datasets.sources import file_digests, referenced_files
from medinterp.errors import DatasetError

OUTPUTS = [
    "splits/breakhis.csv",
    "splits/brecahad.csv",
    "splits/isic_binary.csv",
    "splits/isic2016_test.csv",
    "splits/isic_multiclass.csv",
    "splits/removed.csv",
    "splits/sources.csv",
    "metrics/splits.json",
]


def _run_stage(work: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medinterp.stages.split"], cwd=work, capture_output=True, text=True)


def test_stage_writes_every_output_and_is_byte_stable(tiny_data, tmp_path):
    work = split_workdir(tmp_path, tiny_data)
    first = _run_stage(work)
    assert first.returncode == 0, first.stderr
    snapshot = {name: (work / name).read_bytes() for name in OUTPUTS}
    assert _run_stage(work).returncode == 0
    assert {name: (work / name).read_bytes() for name in OUTPUTS} == snapshot

    summary = json.loads(snapshot["metrics/splits.json"])
    assert set(summary["read"]) == {"breakhis", "brecahad", "isic2020", "isic2019", "isic2016_train", "isic2016_test"}
    assert summary["read"]["isic2019"]["skipped_by_reason"] == {"not an image file": 2}
    assert summary["brecahad"]["removed_by_reason"] == {"duplicate": 1, "no tumor points": 1}
    assert set(summary["breakhis"]["split"]) == {"train", "val"}
    assert set(summary["breakhis"]["split"]["val"]) == {"benign", "malignant", "total"}
    assert set(summary["isic_binary"]["folds"]) == {f"fold{k}" for k in range(5)}
    assert set(summary["isic_multiclass"]["split"]) == {"train", "val", "test"}
    removed = (work / "splits/removed.csv").read_text().splitlines()
    assert removed[0] == "dataset,file,reason"
    assert len(removed) - 1 == sum(s["skipped"] for s in summary["read"].values()) + sum(
        summary[t]["removed"] for t in ("breakhis", "brecahad", "isic_binary", "isic_multiclass")
    )

    sources = pd.read_csv(work / "splits/sources.csv")
    named = set()
    for table in ("breakhis", "brecahad", "isic_binary", "isic2016_test", "isic_multiclass"):
        frame = pd.read_csv(work / f"splits/{table}.csv")
        named |= set(frame["image"]) | set(frame.get("annotation", []))
    assert list(sources["file"]) == sorted(named)
    for row in sources.sample(5, random_state=0).itertuples():
        blob = (tiny_data / row.file).read_bytes()
        assert (row.bytes, row.md5) == (len(blob), hashlib.md5(blob).hexdigest())


def test_a_changed_image_changes_only_its_digest(data_copy, tmp_path):
    work = split_workdir(tmp_path, data_copy)
    assert _run_stage(work).returncode == 0
    before = pd.read_csv(work / "splits/sources.csv").set_index("file")
    image = next(f for f in before.index if f.endswith(".jpg"))
    blob = bytearray((data_copy / image).read_bytes())
    blob[-3] ^= 0xFF  # inside the entropy-coded data: same size, other pixels
    (data_copy / image).write_bytes(bytes(blob))
    assert _run_stage(work).returncode == 0
    after = pd.read_csv(work / "splits/sources.csv").set_index("file")
    changed = after.index[(after["md5"] != before["md5"]).to_numpy()]
    assert list(changed) == [image] and after.loc[image, "bytes"] == before.loc[image, "bytes"]


def test_file_digests_reject_an_unreadable_file(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    assert file_digests(tmp_path, ["a.png"]).to_dict("records") == [
        {"file": "a.png", "bytes": 1, "md5": hashlib.md5(b"x").hexdigest()}
    ]
    with pytest.raises(DatasetError, match="missing.png.*cannot be read"):
        file_digests(tmp_path, ["a.png", "missing.png"])


def test_referenced_files_are_distinct_and_sorted():
    tables = [
        pd.DataFrame({"image": ["b.jpg", "a.jpg"], "label": [0, 1]}),
        pd.DataFrame({"image": ["a.jpg"], "annotation": ["a.json"]}),
    ]
    assert referenced_files(tables) == ["a.jpg", "a.json", "b.jpg"]


def test_stage_error_is_one_line_without_traceback(data_copy, tmp_path):
    bad = sorted((data_copy / "BreCaHAD" / "groundTruth").glob("*.json"))[0]
    bad.write_text("{not json")
    result = _run_stage(split_workdir(tmp_path, data_copy))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.strip().startswith("error: ") and bad.name in result.stderr and "malformed JSON" in result.stderr
    )
    assert not (tmp_path / "work" / "metrics" / "splits.json").exists()


def test_full_profile_refuses_the_synthetic_sample(tiny_data, tmp_path):
    result = _run_stage(split_workdir(tmp_path, tiny_data, **{"data.profile": "full"}))
    assert result.returncode == 2
    assert "holds the synthetic sample" in result.stderr and "Traceback" not in result.stderr


def test_bad_param_is_a_clear_error(tiny_data, tmp_path):
    result = _run_stage(split_workdir(tmp_path, tiny_data, **{"split.isic_binary.folds": 500}))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "folds" in result.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_dvc_repro_runs_the_split_stage(tiny_data, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(REPO / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(tiny_data, repo / "data")
    shutil.copy(REPO / "dvc.yaml", repo / "dvc.yaml")
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"split": stages["stages"]["split"]}}, sort_keys=False))
    params = yaml.safe_load((split_workdir(tmp_path, Path("data")) / "params.yaml").read_text())
    (repo / "params.yaml").write_text(yaml.safe_dump(params))

    def dvc(*args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc("init", "-q")
    dvc("repro", "split")
    assert all((repo / name).is_file() for name in OUTPUTS)
    assert "up to date" in dvc("status")
    assert "didn't change" in dvc("repro", "split")
    metrics = dvc("metrics", "show", "--json")
    assert "breakhis" in metrics
