"""One GPU check: ONNX Runtime (CUDA, TensorRT where present) against eager inference for every
exported model, torch and Keras training images/s, and the torch data path, in one JSON file.

Each framework runs in its own process (:mod:`medinterp.benchmarks.workers`,
:func:`medinterp.inference.bench.bench_in_subprocess`). Without a GPU the CPU half runs with a
smaller plan, and ``skipped`` in the JSON says what that left out. The Keras worker may run under
another interpreter (``--keras-python``): TensorFlow's CUDA build lives in its own environment
(docs/gpu.md).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from medinterp.errors import ConfigError
from medinterp.export.parity import nvidia_driver_present
from medinterp.inference.bench import bench_in_subprocess, machine
from medinterp.io import write_json

OUT = Path("metrics/gpu_bench.json")
MODEL_GLOBS = ("models/isic/*/*/model.onnx", "models/paper/*/classifier/*.onnx")
TENSORRT = "TensorrtExecutionProvider"


@dataclass(frozen=True)
class Plan:
    gpu: bool
    batch_sizes: tuple[int, ...]
    repeats: int
    torch_training: dict[str, Any]
    keras_training: dict[str, Any]
    data_path: dict[str, Any]
    skipped: tuple[str, ...]


def plan_for(gpu: bool) -> Plan:
    """What to measure: the whole check on a GPU; otherwise a CPU-sized half (fewer batch sizes,
    steps and images), as the GPU's plan would take far too long on a CPU."""
    torch_training = {
        "architecture": "resnet50",
        "image_size": 224,
        "memory_format": "channels_last",
        "precisions": ["fp32", "bf16"],
    }
    keras_training = {"architecture": "mobilenet_v2", "image_size": 128, "precisions": ["fp32", "bf16"]}
    if gpu:
        return Plan(
            True,
            (1, 8, 32, 128),
            10,
            {**torch_training, "batch_size": 128, "steps": 30, "warmup": 5},
            {**keras_training, "batch_size": 128, "steps": 30, "warmup": 5},
            {"image_size": 224, "images": 4096, "batch_size": 128},
            (),
        )
    return Plan(
        False,
        (1, 8),
        2,
        {**torch_training, "batch_size": 8, "steps": 2, "warmup": 1},
        {**keras_training, "batch_size": 16, "steps": 3, "warmup": 1},
        {"image_size": 224, "images": 256, "batch_size": 32},
        (
            "no NVIDIA GPU: ONNX Runtime's CUDA and TensorRT providers not measured (CPU provider instead)",
            "no NVIDIA GPU: batch sizes 32 and 128 not measured",
            "no NVIDIA GPU: training and the data path measured on the CPU with few steps and small batches",
        ),
    )


def gpu_names() -> list[str]:
    """The GPUs ``nvidia-smi`` lists; empty without a driver (checked first: no framework imported)."""
    if not nvidia_driver_present():
        return []
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in listed.stdout.splitlines() if line.strip()] if listed.returncode == 0 else []


def provider_sets(gpu: bool) -> list[list[str]]:
    """The ONNX Runtime provider lists to measure: CUDA and, where its libraries load, TensorRT."""
    import onnxruntime as ort

    if not gpu:
        return [["CPUExecutionProvider"]]
    sets = [["CUDAExecutionProvider", "CPUExecutionProvider"]]
    if TENSORRT in ort.get_available_providers() and _loads("libnvinfer.so.10"):
        sets.append([TENSORRT, "CUDAExecutionProvider", "CPUExecutionProvider"])
    return sets


def _loads(library: str) -> bool:
    try:
        ctypes.CDLL(library)
    except OSError:
        return False
    return True


def exported_models(root: Path = Path(".")) -> list[Path]:
    return sorted(path for pattern in MODEL_GLOBS for path in root.glob(pattern))


def run_worker(family: str, settings: dict[str, Any], python: str = sys.executable) -> dict[str, Any]:
    """One worker process; its last stdout line is the result, its last stderr line the error."""
    start = time.perf_counter()
    done = subprocess.run(
        [python, "-m", "medinterp.benchmarks.workers", family, json.dumps(settings)], capture_output=True, text=True
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise ConfigError(f"{family} benchmark failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - start
    return result


def bench_onnx(models: list[Path], plan: Plan, providers: list[str]) -> dict[str, Any]:
    """:func:`medinterp.inference.bench.bench_in_subprocess` per family, with each family's wall time."""
    from medinterp.export import metadata

    by_family: dict[str, list[Path]] = {}
    for path in models:
        by_family.setdefault(metadata.read(path)["family"], []).append(path)
    results: dict[str, Any] = {}
    wall_s: dict[str, float] = {}
    for family, paths in sorted(by_family.items()):
        start = time.perf_counter()
        print(f"gpu_check: {len(paths)} {family} model(s), providers {providers[0]} ...", flush=True)
        for path, result in zip(paths, bench_in_subprocess(paths, plan.batch_sizes, plan.repeats, providers)):
            results[str(path)] = result
        wall_s[family] = time.perf_counter() - start
    return {"providers": providers, "wall_s": wall_s, "models": results}


def check(
    plan: Plan, models: list[Path], keras_python: str = sys.executable, gpus: list[str] | None = None
) -> dict[str, Any]:
    start = time.perf_counter()
    skipped = list(plan.skipped)
    if not models:
        skipped.append(
            "no exported model found (models/isic/*/*/model.onnx, models/paper/*/classifier/*.onnx): "
            "ONNX Runtime not measured"
        )
    onnx = (
        {providers[0]: bench_onnx(models, plan, providers) for providers in provider_sets(plan.gpu)} if models else {}
    )
    if plan.gpu and TENSORRT not in onnx:
        skipped.append("TensorRT provider not available (onnxruntime build or libnvinfer.so.10): not measured")
    print("gpu_check: torch training and data path ...", flush=True)
    torch_result = run_worker("torch", {"training": plan.torch_training, "data_path": plan.data_path})
    print(f"gpu_check: keras training ({keras_python}) ...", flush=True)
    keras_result = run_worker("keras", {"training": plan.keras_training}, keras_python)
    for family, result in (("torch", torch_result), ("keras", keras_result)):
        if plan.gpu and result["device"] == "cpu":
            skipped.append(
                f"{family}: the framework saw no GPU, so its training ran on the CPU "
                "(Keras: run with --keras-python of the keras-gpu environment, docs/gpu.md)"
            )
    return {
        "gpu": plan.gpu,
        "gpus": gpus or [],
        "machine": machine(),
        "plan": asdict(plan),
        "skipped": skipped,
        "onnxruntime": onnx,
        "torch": torch_result,
        "keras": keras_result,
        "wall_s": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> None:
    from medinterp.cli import positive_int

    parser = argparse.ArgumentParser(description="ONNX Runtime, training and data-path throughput on this machine")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--models", nargs="*", type=Path, help="ONNX files (default: every exported model)")
    parser.add_argument("--keras-python", default=sys.executable, help="interpreter for the Keras worker")
    parser.add_argument("--cpu", action="store_true", help="the CPU half even where there is a GPU")
    parser.add_argument("--steps", type=positive_int, help="timed training steps instead of the plan's")
    parser.add_argument(
        "--image-size", type=positive_int, help="training and data-path image side instead of the plan's"
    )
    parser.add_argument("--batch-size", type=positive_int, help="training and data-path batch instead of the plan's")
    args = parser.parse_args(argv)

    gpus = [] if args.cpu else gpu_names()
    plan = plan_for(bool(gpus))
    overrides = {
        k: v for k, v in (("steps", args.steps), ("image_size", args.image_size), ("batch_size", args.batch_size)) if v
    }
    if overrides:
        data_overrides = {k: v for k, v in overrides.items() if k != "steps"}
        plan = replace(
            plan,
            torch_training={**plan.torch_training, **overrides},
            keras_training={**plan.keras_training, **overrides},
            data_path={**plan.data_path, **data_overrides},
        )
    models = exported_models() if args.models is None else args.models
    result = check(plan, models, args.keras_python, gpus)
    write_json(args.out, result)
    for line in result["skipped"]:
        print(f"gpu_check: skipped: {line}")
    print(f"gpu_check: wrote {args.out} in {result['wall_s']:.0f} s")


if __name__ == "__main__":
    from medinterp.benchmarks import run_script

    run_script(main)
