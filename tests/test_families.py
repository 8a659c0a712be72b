"""The Keras jobs' move to TensorFlow's GPU environment (docs/gpu.md), without starting a process."""

from __future__ import annotations

import sys

import pytest

from medinterp.errors import ConfigError
from medinterp.models import families


@pytest.fixture
def environment(tmp_path):
    python = tmp_path / ".venv-keras-gpu" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    return python.parent.parent


@pytest.fixture
def exec_calls(monkeypatch):
    calls = []
    monkeypatch.setattr(families.os, "execv", lambda path, argv: calls.append((str(path), argv)))
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "medinterp.stages.paper_classifier", "densenet201"])
    return calls


def test_a_keras_job_moves_to_the_gpu_environment_in_fast_mode(environment, exec_calls, monkeypatch):
    monkeypatch.setenv("MEDINTERP_NUMERICS", "fast")
    families.move_to_family_environment("keras", environment)
    python = str(environment / "bin" / "python")
    assert exec_calls == [(python, [python, "-m", "medinterp.stages.paper_classifier", "densenet201"])]


@pytest.mark.parametrize("case", ["torch job", "portable numerics", "no environment", "already there"])
def test_everything_else_stays_where_it_is(case, environment, exec_calls, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDINTERP_NUMERICS", "portable" if case == "portable numerics" else "fast")
    if case == "already there":
        monkeypatch.setattr(sys, "prefix", str(environment))
    where = tmp_path / "missing" if case == "no environment" else environment
    families.move_to_family_environment("torch" if case == "torch job" else "keras", where)
    assert exec_calls == []


def test_an_unknown_job_or_family_is_one_clear_error():
    with pytest.raises(ConfigError, match="no 'train_classifier' for family 'jax'"):
        families.family_function("train_classifier", "jax")
