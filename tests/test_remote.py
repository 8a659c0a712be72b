"""A real DVC remote round trip on this repository's own data: push to a local-directory remote,
lose the data and the cache, pull it back, and find it unchanged."""

from __future__ import annotations

import shutil
import sys

import pytest
import yaml
from conftest import REPO, run_command


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_push_and_pull_through_a_local_directory_remote(tmp_path):
    clone, store = tmp_path / "clone", tmp_path / "remote"
    run_command(["git", "clone", "-q", str(REPO), str(clone)], tmp_path)

    def dvc(*args):
        return run_command([sys.executable, "-m", "dvc", *args], clone)

    dvc("pull", "-q", "data.dvc")
    dvc("remote", "add", "--local", "mine", str(store))
    dvc("push", "-q", "-r", "mine", "data.dvc")
    assert any(store.rglob("*")), "nothing was pushed"

    shutil.rmtree(clone / "data")
    shutil.rmtree(clone / ".dvc" / "cache")
    dvc("pull", "-q", "-r", "mine", "data.dvc")
    # dvc status re-hashes data/ against data.dvc: any missing or altered file shows up here.
    assert "Data and pipelines are up to date" in dvc("status", "data.dvc")
    tracked = yaml.safe_load((clone / "data.dvc").read_text())["outs"][0]["nfiles"]
    assert sum(1 for p in (clone / "data").rglob("*") if p.is_file()) == tracked
