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
"""

from __future__ import annotations

import os
from typing import Mapping

from medinterp.errors import ConfigError

MODE_VARIABLE = "MEDINTERP_NUMERICS"
THREADS_VARIABLE = "MEDINTERP_THREADS"
MODES = ("portable", "fast")
DEFAULT_THREADS = 2

# The AVX2 level of every library that chooses kernels by CPU (the oldest CPU promised).
ISA_PINS = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",          # oneDNN, in both PyTorch and TensorFlow
    "DNNL_MAX_CPU_ISA": "AVX2",            # its older name
    "MKL_CBWR": "AVX2",                    # MKL's conditional numerical reproducibility (PyTorch's BLAS)
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",         # PyTorch's own vectorised kernels
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",   # numpy's loops above AVX2
    "OPENBLAS_CORETYPE": "Haswell",        # numpy's and scipy's BLAS
    "CUDA_VISIBLE_DEVICES": "",            # no GPU: its kernels give other numbers again
}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


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
    return {"mode": mode(environ), "threads": threads(environ) if portable else None,
            "environment": {name: environ.get(name) for name in names}}
