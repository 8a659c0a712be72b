"""CPU numerics that do not depend on the machine: the same commit gives the same numbers on any
x86-64 CPU with AVX2 or newer.

Measured on a 2-core Xeon with AVX-512 and AMX (docs/reproducibility.md): a short training
gave other weights, run to run the same, when only one of these changed:

- the instruction set that oneDNN picks at run time (PyTorch's convolutions, and TensorFlow's
  convolutions and the matrix-multiply kernel under Eigen even with ``TF_ENABLE_ONEDNN_OPTS=0``);
- the one MKL picks (PyTorch's BLAS);
- the vector width of PyTorch's own kernels (``ATEN_CPU_CAPABILITY``);
- the number of threads (1, 2 and 4 threads gave three different results in both frameworks:
  work is split, and partial sums added, per thread).

A GPU computes with other kernels again (cuDNN), so portable mode also hides GPUs from the
stages: the committed numbers are the CPU's, and a machine with a GPU gives them back too.

:func:`configure` pins all of them, plus numpy's dispatched loops and OpenBLAS's kernel (no
difference measured, pinned for the same reason), through environment variables that the
libraries read when they load: it must run before numpy, TensorFlow or PyTorch is imported, so
every stage process calls it first (``medinterp.stages``). ``MEDINTERP_NUMERICS=fast`` leaves the
libraries to choose (the GPU where there is one, the widest vectors and every core: faster,
results tied to the machine); ``MEDINTERP_THREADS`` sets the fixed thread count (default 2: the
committed results were made with 2, a different count gives different numbers).

TensorFlow's start-up lines on stderr (oneDNN's notice, the CPU-feature note, absl's "before
absl::InitializeLog()" warning) carry no information a stage needs, so :func:`import_tensorflow`,
which :mod:`medinterp.models.keras` calls before any of its modules imports TensorFlow, leaves
them out: ``TF_CPP_MIN_LOG_LEVEL`` defaults to 2 (no INFO or WARNING lines of TensorFlow's C++
logging), and the INFO and WARNING lines written while TensorFlow loads, before that setting is
read (this machine's TensorFlow 2.21 writes oneDNN's notice then, whatever the level), are dropped;
errors and anything else pass. ``MEDINTERP_TF_LOGS=1`` shows them all. Neither touches
``TF_ENABLE_ONEDNN_OPTS`` or any other setting that changes the numbers.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType

from medinterp.errors import ConfigError

MODE_VARIABLE = "MEDINTERP_NUMERICS"
THREADS_VARIABLE = "MEDINTERP_THREADS"
TF_LOGS_VARIABLE = "MEDINTERP_TF_LOGS"
MODES = ("portable", "fast")
DEFAULT_THREADS = 2

# The AVX2 level of every library that chooses kernels by CPU (the oldest CPU promised).
ISA_PINS = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN, in both PyTorch and TensorFlow
    "DNNL_MAX_CPU_ISA": "AVX2",  # its older name
    "MKL_CBWR": "AVX2",  # MKL's conditional numerical reproducibility (PyTorch's BLAS)
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's own vectorised kernels
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's loops above AVX2
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's and scipy's BLAS
    "CUDA_VISIBLE_DEVICES": "",  # no GPU: its kernels give other numbers again
}
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


class NumericsError(ConfigError):
    """The numerics cannot be pinned as asked."""


def mode(environ: Mapping[str, str] = os.environ) -> str:
    value = environ.get(MODE_VARIABLE, "portable").strip().lower() or "portable"
    if value not in MODES:
        raise NumericsError(f"{MODE_VARIABLE}={value!r}: expected one of {', '.join(MODES)}")
    return value


def threads(environ: Mapping[str, str] = os.environ) -> int:
    raw = environ.get(THREADS_VARIABLE, str(DEFAULT_THREADS)).strip()
    if not raw.isdigit() or int(raw) < 1:
        raise NumericsError(f"{THREADS_VARIABLE}={raw!r}: expected a whole number of threads, 1 or more")
    return int(raw)


def pinned_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The variables :func:`configure` sets in portable mode (empty in fast mode)."""
    if mode(environ) == "fast":
        return {}
    count = str(threads(environ))
    return {**ISA_PINS, **{name: count for name in THREAD_VARIABLES}}


def configure(environ: os._Environ | dict = os.environ) -> dict[str, str]:
    """Pin the numerics in ``environ`` (this process and the processes it starts) and return what
    was set. Values a user set for the same variables are overridden in portable mode: any other
    value would give other numbers. A framework already loaded keeps what it read when it loaded
    (tests import stage modules into a process that has PyTorch already)."""
    pins = pinned_environment(environ)
    environ.update(pins)
    return pins


def summary(environ: Mapping[str, str] = os.environ) -> str:
    """One line for the report: which numerics made the numbers."""
    if mode(environ) == "fast":
        return f"fast ({MODE_VARIABLE}=fast): the libraries chose the device, kernels and threads for this machine"
    return f"portable: CPU only, AVX2 kernels, {threads(environ)} threads: the same numbers on any x86-64 CPU with AVX2"


def describe(environ: Mapping[str, str] = os.environ) -> dict:
    """What the run logs record: the mode, the thread count and every pinned variable as set."""
    names = [*ISA_PINS, *THREAD_VARIABLES]
    portable = mode(environ) == "portable"
    return {
        "mode": mode(environ),
        "threads": threads(environ) if portable else None,
        "environment": {name: environ.get(name) for name in names},
    }


# -- TensorFlow's start-up lines ---------------------------------------------------------------

TF_LOG_LEVEL = ("TF_CPP_MIN_LOG_LEVEL", "2")  # 2: errors only, from TensorFlow's C++ logging
_TF_BANNER = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] .*"  # absl: I0000 00:00:1796165152.754297    6279 port.cc:153] ...
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] \S+:\d+\] .*"  # tsl: 2025-01-01 12:00:00.000: I path.cc:32] ...
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
)


def tensorflow_logs(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether TensorFlow's start-up and INFO/WARNING log lines are shown (``MEDINTERP_TF_LOGS=1``)."""
    return environ.get(TF_LOGS_VARIABLE, "").strip() == "1"


def is_tensorflow_banner(line: str) -> bool:
    """An INFO or WARNING line of TensorFlow's C++ logging, or absl's note that it logs to stderr."""
    return _TF_BANNER.fullmatch(line.rstrip("\r\n")) is not None


@contextmanager
def _stderr_lines_dropped(drop: Callable[[str], bool]) -> Iterator[None]:
    """File descriptor 2 (what C++ libraries write to, and ``sys.stderr``) into a temporary file
    for the block; afterwards every line of it that ``drop`` does not match goes to stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                captured.seek(0)
                kept = [
                    line
                    for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not drop(line)
                ]
                if kept:
                    with open(2, "wb", closefd=False) as stderr:
                        stderr.write("".join(kept).encode())
    finally:
        os.close(saved)


def import_tensorflow() -> ModuleType:
    """``import tensorflow``, without its start-up lines unless ``MEDINTERP_TF_LOGS=1`` (see above).
    Only the first import in a process can leave them out; later calls return the loaded module."""
    if "tensorflow" not in sys.modules and not tensorflow_logs():
        os.environ.setdefault(*TF_LOG_LEVEL)  # read by TensorFlow when it loads; inherited by child processes
        with _stderr_lines_dropped(is_tensorflow_banner):
            import tensorflow
    import tensorflow

    return tensorflow
