"""Run an exported model with ONNX Runtime and compare it with the framework's own outputs.

Kept free of TensorFlow and PyTorch imports: ONNX Runtime runs on the CUDA execution provider when
the machine has one and on the CPU otherwise, and the caller learns which ran.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np

PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


def nvidia_driver_present() -> bool:
    """Whether the NVIDIA driver library loads: onnxruntime-gpu lists its CUDA provider even
    without one, then logs a load error before falling back to the CPU."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def available_providers() -> list[str]:
    """The providers this machine can really run, best first."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    if (
        not nvidia_driver_present() or os.environ.get("CUDA_VISIBLE_DEVICES") == ""
    ):  # no GPU, or hidden (medinterp.numerics)
        available.discard("CUDAExecutionProvider")
    return [p for p in PREFERRED_PROVIDERS if p in available]


def session(onnx_path: str | Path, providers: list[str] | None = None):
    """An inference session on the best available provider (CUDA, else CPU) unless ``providers`` is given."""
    import onnxruntime as ort

    from medinterp.io import readable

    # a stage's own export is read back (parity) before its transaction renames it into place
    return ort.InferenceSession(str(readable(onnx_path)), providers=providers or available_providers())


def run(
    onnx_path: str | Path, inputs: np.ndarray, providers: list[str] | None = None, batch_size: int = 32
) -> tuple[np.ndarray, str]:
    """Outputs of the model's first output for ``inputs`` (batched), and the provider that ran."""
    sess = session(onnx_path, providers)
    name = sess.get_inputs()[0].name
    parts = [
        sess.run(None, {name: np.ascontiguousarray(inputs[i : i + batch_size], dtype=np.float32)})[0]
        for i in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(parts), sess.get_providers()[0]


def checked(path: str | Path, measured: dict, tolerance: float, framework: str) -> dict:
    """The record of a parity check that tracked outputs keep (samples, tolerance, passed): the
    measured differences depend on the CPU's kernels in ONNX Runtime and go to the run log
    instead. Raises ``RuntimeError`` when ``measured`` exceeds ``tolerance``."""
    if not measured["max_abs_diff"] <= tolerance:
        raise RuntimeError(
            f"{path}: ONNX Runtime and {framework} outputs differ by up to {measured['max_abs_diff']:.3g} "
            f"(tolerance {tolerance:g}) on {measured['samples']} images"
        )
    return {"samples": measured["samples"], "tolerance": tolerance, "within_tolerance": True}


def parity(
    onnx_path: str | Path, inputs: np.ndarray, reference: np.ndarray, providers: list[str] | None = None
) -> dict:
    """Max and mean absolute difference between ONNX Runtime's outputs and ``reference``."""
    outputs, provider = run(onnx_path, inputs, providers)
    reference = np.asarray(reference, dtype=np.float32).reshape(outputs.shape)
    diff = np.abs(outputs.astype(np.float64) - reference)
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "provider": provider,
        "samples": int(len(inputs)),
    }
