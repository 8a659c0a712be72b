"""Throughput of an exported model under ONNX Runtime beside its framework's own eager inference.

Both run the same model on the same inputs (random pixels put through the preprocessing recorded
in the model's metadata) at each batch size; each timing is the median of ``repeats`` timed
batches after ``warmup`` untimed ones, as images per second. The framework side needs the
checkpoint the ONNX file was exported from, found through :func:`eager_model` by the family
recorded in the metadata; each model is measured in its own process (:func:`bench_in_subprocess`),
so TensorFlow and PyTorch never share one.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata as dist
from pathlib import Path

import numpy as np
from tqdm import tqdm

from medinterp.errors import ConfigError
from medinterp.export import metadata
from medinterp.export.parity import session
from medinterp.inference.predict import check_batch_size, input_size, preprocess
from medinterp.models.checkpoint import path_in
from medinterp.models.families import family_function

BATCH_SIZES = (1, 8, 32)
Runner = Callable[[np.ndarray], np.ndarray]
Clock = Callable[[], float]  # seconds; injectable so that tests need no real timing


def check_counts(batch_sizes: tuple[int, ...], repeats: int) -> None:
    """A :class:`ConfigError` unless there is at least one batch size, each positive, and ``repeats`` is positive."""
    if not batch_sizes:
        raise ConfigError("give at least one batch size")
    for size in batch_sizes:
        check_batch_size(size)
    check_batch_size(repeats, "repeats")


def model_inputs(meta: dict, count: int, seed: int = 0) -> np.ndarray:
    """``count`` random images in the model's input form (size, scaling, normalisation, layout)."""
    spec = meta["input"]
    size = input_size(spec)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(count, size, size, 3), dtype=np.uint8)
    return preprocess(pixels, spec)


def images_per_second(
    run: Runner, inputs: np.ndarray, batch_size: int, repeats: int, warmup: int = 1, clock: Clock = time.perf_counter
) -> float:
    """Median throughput of ``run`` over ``repeats`` timed calls on batches of ``batch_size``, each call
    timed by two readings of ``clock`` (seconds)."""
    batch = inputs[:batch_size]
    if len(batch) < batch_size:
        raise ValueError(f"{len(inputs)} inputs cannot fill a batch of {batch_size}")
    for _ in range(warmup):
        run(batch)
    seconds = []
    for _ in range(repeats):
        start = clock()
        run(batch)
        seconds.append(clock() - start)
    return batch_size / statistics.median(seconds)


def onnx_runner(onnx_path: str | Path, providers: list[str] | None = None) -> tuple[Runner, str]:
    sess = session(onnx_path, providers)
    name = sess.get_inputs()[0].name
    return (lambda x: sess.run(None, {name: x})[0]), sess.get_providers()[0]


def eager_model(onnx_path: Path, meta: dict) -> tuple[Runner, dict]:
    """The framework's own forward pass of the checkpoint ``onnx_path`` was exported from (an ISIC
    ``checkpoint.npz`` beside it, else the paper's weights file), and the framework's name and
    version. Imports only that model's framework."""
    job = "checkpoint_eager_runner" if path_in(onnx_path.parent).is_file() else "paper_eager_runner"
    return family_function(job, meta["family"])(onnx_path, meta)


def bench_model(
    onnx_path: str | Path,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    repeats: int = 5,
    providers: list[str] | None = None,
    clock: Clock = time.perf_counter,
) -> dict:
    """Eager and ONNX Runtime throughput of one exported model at each batch size."""
    check_counts(batch_sizes, repeats)
    onnx_path = Path(onnx_path)
    meta = metadata.read(onnx_path)
    inputs = model_inputs(meta, max(batch_sizes))
    eager, framework = eager_model(onnx_path, meta)
    ort_run, provider = onnx_runner(onnx_path, providers)
    rows = {}
    for batch_size in batch_sizes:
        eager_ips = images_per_second(eager, inputs, batch_size, repeats, clock=clock)
        ort_ips = images_per_second(ort_run, inputs, batch_size, repeats, clock=clock)
        rows[f"batch_{batch_size}"] = {
            "eager_images_per_second": eager_ips,
            "onnxruntime_images_per_second": ort_ips,
            "onnxruntime_speedup": ort_ips / eager_ips,
        }
    return {
        "model": str(onnx_path),
        "name": meta["name"],
        "architecture": meta["architecture"],
        "family": meta["family"],
        "input_shape": meta["input"]["shape"][1:],
        "framework": framework,
        "provider": provider,
        "eager_device": "cpu",
        "repeats": repeats,
        "batches": rows,
    }


def bench_in_subprocess(
    onnx_paths: list[Path], batch_sizes: tuple[int, ...], repeats: int, providers: list[str] | None = None
) -> list[dict]:
    """:func:`bench_model` for models of one family in a fresh Python process, so each framework
    is imported alone (and once)."""
    command = [
        sys.executable,
        "-m",
        "medinterp.inference.bench",
        *map(str, onnx_paths),
        "--repeats",
        str(repeats),
        "--batch-sizes",
        *map(str, batch_sizes),
    ] + (["--providers", *providers] if providers else [])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        last = last.removeprefix("error: ")
        raise ConfigError(f"benchmark of {', '.join(map(str, onnx_paths))} failed: {last}")
    return [json.loads(line) for line in done.stdout.strip().splitlines()[-len(onnx_paths) :]]


def run_benchmarks(
    models: dict[str, Path],
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    repeats: int = 5,
    providers: list[str] | None = None,
) -> dict:
    """Every model of ``models`` (name -> ONNX file), one process per framework family, with the machine."""
    from medinterp.export.parity import available_providers

    check_counts(batch_sizes, repeats)
    by_family: dict[str, list[str]] = {}
    for name, path in models.items():
        by_family.setdefault(metadata.read(path)["family"], []).append(name)
    results = {}
    for family, names in sorted(by_family.items()):
        print(f"bench: {len(names)} {family} model(s) ...", flush=True)
        for name, result in zip(
            names, bench_in_subprocess([models[n] for n in names], batch_sizes, repeats, providers)
        ):
            results[name] = result
    return {
        "machine": machine(),
        "providers_available": available_providers(),
        "batch_sizes": list(batch_sizes),
        "repeats": repeats,
        "models": {name: results[name] for name in models},
    }


def _version(name: str) -> str | None:
    try:
        return dist.version(name)
    except dist.PackageNotFoundError:
        return None


def machine() -> dict:
    """Where the numbers were measured."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {
            name: _version(name)
            for name in ("onnxruntime-gpu", "onnxruntime", "torch", "tensorflow-cpu", "tensorflow", "numpy")
            if _version(name)
        },
    }


def main(argv: list[str] | None = None) -> None:
    import argparse

    from medinterp.cli import positive_int

    parser = argparse.ArgumentParser(description="benchmark exported models of one family; one JSON line each")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--batch-sizes", nargs="+", type=positive_int, default=list(BATCH_SIZES))
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--providers", nargs="+")
    args = parser.parse_args(argv)
    for model in tqdm(args.models, desc="bench", unit="model", file=sys.stderr):
        print(json.dumps(bench_model(model, tuple(args.batch_sizes), args.repeats, args.providers)), flush=True)


if __name__ == "__main__":
    from medinterp.io import report_error

    try:
        main()
    except BaseException as exc:  # one line for the parent's message; anything else keeps its traceback
        code = report_error(exc)
        if code is None:
            raise
        sys.exit(code)
