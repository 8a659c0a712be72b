"""Numerics pinned so that the same commit gives the same numbers on any x86-64 CPU with AVX2:
the switch, and a short training of each family that gives identical weights with the CPU's wider
instruction sets masked and one core instead of two (a stand-in for an older, smaller machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from medinterp import numerics

REPO = Path(__file__).resolve().parents[1]
PROBE = REPO / "tests" / "numerics_probe.py"
MASKED = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def _has_avx512() -> bool:
    try:
        return " avx512f " in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def test_portable_mode_pins_every_library_and_overrides_the_users_values():
    env = {"OMP_NUM_THREADS": "16", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX", "CUDA_VISIBLE_DEVICES": "0"}
    pins = numerics.configure(env)
    assert env["CUDA_VISIBLE_DEVICES"] == ""  # a GPU's kernels would give other numbers
    assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2" and env["MKL_CBWR"] == "AVX2" and env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert pins == {k: env[k] for k in pins}
    assert numerics.pinned_environment({"MEDINTERP_THREADS": "4"})["OPENBLAS_NUM_THREADS"] == "4"


def test_fast_mode_sets_nothing():
    env = {"MEDINTERP_NUMERICS": "fast", "OMP_NUM_THREADS": "16"}
    assert numerics.configure(env) == {} and env == {"MEDINTERP_NUMERICS": "fast", "OMP_NUM_THREADS": "16"}
    assert numerics.describe(env)["mode"] == "fast" and "fast" in numerics.summary(env)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"MEDINTERP_NUMERICS": "quick"}, "MEDINTERP_NUMERICS='quick': expected one of portable, fast"),
        ({"MEDINTERP_THREADS": "0"}, "MEDINTERP_THREADS='0': expected a whole number"),
        ({"MEDINTERP_THREADS": "two"}, "MEDINTERP_THREADS='two': expected a whole number"),
    ],
)
def test_bad_settings_are_refused(env, message):
    with pytest.raises(numerics.NumericsError, match=message):
        numerics.configure(env)


def _run(args: list[str], extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (*numerics.ISA_PINS, *numerics.THREAD_VARIABLES, numerics.MODE_VARIABLE, numerics.THREADS_VARIABLE)
    }
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env={**env, **extra_env}, capture_output=True, text=True, timeout=600
    )


def test_a_stage_process_has_the_pins_before_any_framework_loads():
    code = (
        "import medinterp.stages, torch, numpy, os; "
        "print(torch.get_num_threads(), torch.backends.cpu.get_cpu_capability(), os.environ['ONEDNN_MAX_CPU_ISA'])"
    )
    pinned = _run(["-c", code], {"OMP_NUM_THREADS": "7", "ATEN_CPU_CAPABILITY": "default"})
    assert pinned.returncode == 0, pinned.stderr
    assert pinned.stdout.split() == ["2", "AVX2", "AVX2"]
    refused = _run(["-c", "import medinterp.stages"], {"MEDINTERP_NUMERICS": "exact"})
    assert refused.returncode == 2 and refused.stderr.strip().startswith("error: MEDINTERP_NUMERICS='exact'")


def _probe(family: str, env: dict[str, str], *flags: str) -> dict:
    result = _run([str(PROBE), family, *flags], env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("family", ["torch", "keras"])
def test_short_training_is_identical_with_wider_instruction_sets_masked(family):
    """As is, and masked to AVX2 on one core: the same weights and predictions, bit for bit. On a
    CPU with AVX-512, the same training without the pins (fast mode) learns other weights, so the
    probe does see the kernels the pins choose between."""
    runs = [({}, ()), ({**MASKED}, ("--one-core",)), ({"MEDINTERP_NUMERICS": "fast"}, ())]
    with ThreadPoolExecutor(2) as pool:
        as_is, masked, fast = pool.map(lambda run: _probe(family, run[0], *run[1]), runs)
    assert masked == as_is
    if _has_avx512():
        assert fast["weights_sha256"] != as_is["weights_sha256"]
