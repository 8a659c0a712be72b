"""dvc.lock records the source folders as git holds them, so a fresh clone's `dvc status` is clean.

DVC hashes a folder dep file by file, untracked files included: a ``.pyc`` or a stray file in
``src/`` once went into dvc.lock, and every fresh clone then saw 26 stages' code as modified.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def tracked_files(folder: str, repo: Path = REPO) -> dict[str, int]:
    """path -> size in bytes of each file git tracks below ``folder`` at HEAD."""
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "-l", "HEAD", "--", folder], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    files = {}
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        files[path] = int(meta.split()[3])
    return files


def lock_mismatches(lock: dict, tracked) -> list[str]:
    """Source-folder deps of ``lock`` whose file count or size differs from git's ``tracked(folder)``."""
    wrong = []
    for stage, entry in lock["stages"].items():
        for dep in entry.get("deps", []):
            if not dep["path"].startswith("src/") or "nfiles" not in dep:
                continue
            files = tracked(dep["path"])
            if (dep["nfiles"], dep["size"]) != (len(files), sum(files.values())):
                wrong.append(
                    f"{stage}: {dep['path']} locked with {dep['nfiles']} files, {dep['size']} bytes; "
                    f"git holds {len(files)} files, {sum(files.values())} bytes"
                )
    return wrong


def source_changed_since_head() -> bool:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "src", "dvc.lock"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return bool(status.strip())


def test_lock_counts_only_the_committed_source_files():
    if source_changed_since_head():
        pytest.skip("src/ or dvc.lock differ from HEAD: the lock is compared with a committed tree only")
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())
    assert lock_mismatches(lock, tracked_files) == []


def test_lock_holds_only_the_stages_of_dvc_yaml():
    # DVC rewrites the entries of the stages it runs and keeps the rest: a renamed stage's old entry stays
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        stages = {stage.addressing for stage in repo.index.stages if stage.cmd}
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())
    assert sorted(set(lock["stages"]) - stages) == []


def test_a_stray_file_in_a_locked_folder_is_reported():
    lock = {
        "stages": {
            "train": {
                "deps": [
                    {"path": "src/pkg", "md5": "x.dir", "size": 30, "nfiles": 3},
                    {"path": "arrays/a.npy", "md5": "y", "size": 5},
                ]
            }
        }
    }
    committed = {"src/pkg": {"src/pkg/a.py": 10, "src/pkg/b.py": 12}}
    assert lock_mismatches(lock, committed.__getitem__) == [
        "train: src/pkg locked with 3 files, 30 bytes; git holds 2 files, 22 bytes"
    ]
    lock["stages"]["train"]["deps"][0].update(nfiles=2, size=22)
    assert lock_mismatches(lock, committed.__getitem__) == []


@pytest.mark.parametrize(
    "path", ["src/medinterp/isic/__pycache__/trained.cpython-311.pyc", "src/medinterp/trained.cpython-312.pyc"]
)
def test_dvc_ignores_python_bytecode_in_source_folders(path):
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        assert repo.dvcignore.is_ignored_file(str(REPO / path))
        assert not repo.dvcignore.is_ignored_file(str(REPO / "src/medinterp/isic/trained.py"))
