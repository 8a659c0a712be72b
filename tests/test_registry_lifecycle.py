"""A model's lifecycle in the registry, as docs/registry.md tells it: ``gto register`` gives a version
(a Git tag ``<name>@v<semver>``), ``gto assign --stage prod`` promotes it (``<name>#prod#<n>``),
and another project fetches the model by stage or by version with ``dvc artifacts get`` from a
second clone. Promoting a newer version moves ``--stage prod`` to its bytes; the old version's
bytes stay where ``--rev`` points.

Everything happens in a throw-away git + DVC repository under ``tmp_path`` with a local DVC remote;
the commands are the CLIs' own entry points called in this process (each would otherwise spend a
second importing DVC or GTO).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

NAME = "isic-alexnet-binary-classifier"  # the pattern of dvc.yaml's per-architecture ISIC artifacts
MODEL = "models/isic/alexnet/binary/model.onnx"
ARTIFACTS = f"""artifacts:
  {NAME}:
    path: {MODEL}
    type: model
    desc: stand-in for an exported ISIC classifier
    labels: [dataset-isic, task-binary, architecture-alexnet, family-torch]
"""


@pytest.fixture
def identity(tmp_path, monkeypatch):
    """A git identity from the environment alone: no global or system git config is read.

    ``DVC_TEST`` is DVC's switch for its own in-process tests: without it, DVC's output re-installs
    the colorama wrapper of the ``sys.stderr`` it saw when first imported (see :func:`dvc`)."""
    empty = tmp_path / "gitconfig"
    empty.write_text("")
    for key, value in {
        "GIT_AUTHOR_NAME": "Registry Test",
        "GIT_AUTHOR_EMAIL": "registry@example.com",
        "GIT_COMMITTER_NAME": "Registry Test",
        "GIT_COMMITTER_EMAIL": "registry@example.com",
        "GIT_CONFIG_GLOBAL": str(empty),
        "GIT_CONFIG_NOSYSTEM": "1",
        "DVC_TEST": "1",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(tmp_path / "dvc-site"),
    }.items():
        monkeypatch.setenv(key, value)


def git(cwd, *args) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def dvc(cwd, *args, monkeypatch) -> None:
    """``dvc <args>`` in ``cwd``. Its output goes to a buffer of its own: DVC wraps (and in a
    session that already ran other tests, closes) the ``sys.stderr`` it finds, pytest's capture."""
    monkeypatch.chdir(cwd)
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        from dvc.cli import main

        code = main(list(args))
    assert code == 0, f"dvc {' '.join(args)} failed in {cwd}: {output.getvalue()}"


def gto(repo, *args) -> str:
    from click.testing import CliRunner
    from gto.cli import app

    result = CliRunner().invoke(app, [*args[:1], "--repo", str(repo), *args[1:]], catch_exceptions=False)
    assert result.exit_code == 0, f"gto {' '.join(args)}: {result.output}"
    return result.output


def next_second() -> None:
    """Wait for the clock's next whole second: DVC and GTO order a stage's assignments by the time
    of their tags, in whole seconds, and this test could otherwise make two within one."""
    time.sleep(1 - time.time() % 1)


def export(repo, payload: bytes, message: str, monkeypatch) -> None:
    """What a pipeline run ends with: the model file tracked by DVC, pushed, committed."""
    (repo / MODEL).parent.mkdir(parents=True, exist_ok=True)
    (repo / MODEL).write_bytes(payload)
    dvc(repo, "add", "-q", MODEL, monkeypatch=monkeypatch)
    dvc(repo, "push", "-q", monkeypatch=monkeypatch)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def fetch(clone, elsewhere, *selector, monkeypatch) -> bytes:
    out = elsewhere / "model.onnx"
    out.unlink(missing_ok=True)
    dvc(elsewhere, "artifacts", "get", str(clone), NAME, *selector, "-o", str(out), monkeypatch=monkeypatch)
    return out.read_bytes()


def test_register_promote_and_fetch_by_stage_and_version(tmp_path, identity, monkeypatch):
    origin, store, clone, elsewhere = (tmp_path / n for n in ("origin", "store", "clone", "elsewhere"))
    origin.mkdir()
    elsewhere.mkdir()
    git(origin, "init", "-q")
    dvc(origin, "init", "-q", monkeypatch=monkeypatch)
    # the remote every clone reads the model bytes from, as this repository's .dvc/sample-store
    (origin / ".dvc" / "config").write_text(f"[core]\n    remote = store\n['remote \"store\"']\n    url = {store}\n")
    (origin / "dvc.yaml").write_text(ARTIFACTS)
    first, second = b"ONNX stand-in, first export", b"ONNX stand-in, second export"

    export(origin, first, "first export", monkeypatch)
    gto(origin, "register", NAME, "--version", "v1.0.0", "-m", "first export")
    gto(origin, "assign", NAME, "--stage", "prod", "-m", "first export to prod")
    assert git(origin, "tag", "--list").split() == [f"{NAME}#prod#1", f"{NAME}@v1.0.0"]
    shown = json.loads(gto(origin, "show", "--json"))
    assert shown[NAME]["version"] == "v1.0.0" and shown[NAME]["stage"] == {"prod": "v1.0.0"}

    git(tmp_path, "clone", "-q", str(origin), str(clone))
    assert fetch(clone, elsewhere, "--stage", "prod", monkeypatch=monkeypatch) == first
    assert fetch(clone, elsewhere, "--rev", "v1.0.0", monkeypatch=monkeypatch) == first

    next_second()
    export(origin, second, "second export", monkeypatch)
    gto(origin, "register", NAME, "--bump-minor", "-m", "second export")
    gto(origin, "assign", NAME, "--stage", "prod", "-m", "second export to prod")
    assert {f"{NAME}@v1.1.0", f"{NAME}#prod#2"} <= set(git(origin, "tag", "--list").split())
    assert json.loads(gto(origin, "show", "--json"))[NAME]["stage"] == {"prod": "v1.1.0"}
    git(clone, "pull", "-q", "--tags")

    assert fetch(clone, elsewhere, "--stage", "prod", monkeypatch=monkeypatch) == second
    assert fetch(clone, elsewhere, monkeypatch=monkeypatch) == second  # no selector: the latest version
    assert fetch(clone, elsewhere, "--rev", "v1.0.0", monkeypatch=monkeypatch) == first
    assert fetch(clone, elsewhere, "--rev", "v1.1.0", monkeypatch=monkeypatch) == second
    # `dvc get` takes the Git tag itself as the revision
    dvc(elsewhere, "get", "--rev", f"{NAME}@v1.0.0", str(clone), MODEL, "-o", "by-tag.onnx", monkeypatch=monkeypatch)
    assert (elsewhere / "by-tag.onnx").read_bytes() == first
