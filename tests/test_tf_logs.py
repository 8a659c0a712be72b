"""TensorFlow's start-up lines on stderr (oneDNN's notice, the CPU-feature note, absl's warning):
left out of every process that loads TensorFlow through the project (``numerics.import_tensorflow``,
called by ``medinterp.models.keras``), shown with ``MEDINTERP_TF_LOGS=1``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO

from medinterp import numerics

# the lines this machine's TensorFlow 2.21 (CPU) writes while it loads
SEEN = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796165152.754297    6279 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. To turn "
    "them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n",
    "I0000 00:00:1796165152.809472    6279 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.\n",
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI FMA, in other operations, rebuild TensorFlow "
    "with the appropriate compiler flags.\n",
    "2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] Could not find cuda drivers "
    "on your machine, GPU will not be used.\n",
    "W0000 00:00:1758131045.228000 3722035 computation_placer.cc:177] computation placer already registered.\n",
]
KEPT = [
    "E0000 00:00:1758131045.203198 3722035 cuda_dnn.cc:8579] Unable to register cuDNN factory\n",
    "2025-09-17 14:44:05.176998: E external/local_xla/xla/stream_executor/cuda/cuda_fft.cc:467] "
    "Unable to register cuFFT\n",
    "Traceback (most recent call last):\n",
    "UserWarning: something a user should read\n",
    "I0000 is not a log line\n",
]


@pytest.mark.parametrize("line", SEEN)
def test_the_start_up_lines_are_recognised(line):
    assert numerics.is_tensorflow_banner(line)


@pytest.mark.parametrize("line", KEPT)
def test_errors_and_other_lines_are_not(line):
    assert not numerics.is_tensorflow_banner(line)


def test_only_the_dropped_lines_leave_stderr(capfd):
    """What C++ code and Python write to stderr inside the block: the banner lines are dropped,
    every other line reaches stderr once the block ends (an exception too)."""
    with pytest.raises(ZeroDivisionError):
        with numerics._stderr_lines_dropped(numerics.is_tensorflow_banner):
            os.write(2, "".join([SEEN[0], KEPT[0], SEEN[1]]).encode())
            print(KEPT[3], end="", file=sys.stderr)
            raise ZeroDivisionError("an exception inside the block")
    assert sorted(capfd.readouterr().err.splitlines(keepends=True)) == sorted([KEPT[0], KEPT[3]])


def tf_logs(env_logs: str | None) -> str:
    """stderr of a process that loads TensorFlow through the project (as a Keras stage does)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", numerics.TF_LOGS_VARIABLE)}
    if env_logs is not None:
        env[numerics.TF_LOGS_VARIABLE] = env_logs
    probe = (
        "import medinterp.models.keras.adapter\nimport tensorflow as tf\nprint(float(tf.reduce_sum(tf.ones((2, 2)))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4.0"
    return done.stderr


def test_a_keras_process_writes_no_start_up_lines_by_default_and_all_with_medinterp_tf_logs():
    quiet, loud = tf_logs(None), tf_logs("1")
    assert not [line for line in quiet.splitlines() if numerics.is_tensorflow_banner(line)], quiet
    assert "oneDNN" not in quiet and "absl::InitializeLog" not in quiet and "cpu_feature_guard" not in quiet, quiet
    # which lines TensorFlow writes depends on its build and the machine; this CPU build writes these
    assert [line for line in loud.splitlines() if numerics.is_tensorflow_banner(line)], loud
    if "oneDNN custom operations are on" in loud:
        assert "oneDNN custom operations are on" not in quiet
