"""Training and data-path throughput of one framework, run as its own process.

``python -m medinterp.benchmarks.workers torch|keras|epoch '<json settings>'`` prints one JSON object.
Only the named framework is imported, so the GPU check (:mod:`medinterp.benchmarks.gpu_check`)
never has TensorFlow and PyTorch in one process.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

KERAS_APPLICATIONS = {
    "mobilenet_v2": "MobileNetV2",
    "densenet201": "DenseNet201",
    "nasnet_mobile": "NASNetMobile",
    "resnet50": "ResNet50",
    "vgg16": "VGG16",
}
KERAS_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def torch_trainer(arch: str, precision: str, memory_format: str, device: str) -> Callable[[Any, Any], None]:
    """One SGD step of a fresh torchvision ``arch`` (2 classes) on a batch, under autocast for bf16/fp16."""
    import torch
    import torchvision

    layout = torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
    model = torchvision.models.get_model(arch, weights=None, num_classes=2).to(device).to(memory_format=layout)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    # fp16 needs loss scaling; bf16 has fp32's exponent range, which is why the check measures bf16
    scaler = torch.amp.GradScaler(device, enabled=precision == "fp16")

    def step(inputs: torch.Tensor, labels: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(inputs.to(memory_format=layout)), labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return step


def _synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def torch_training_rate(
    arch: str,
    image_size: int,
    batch_size: int,
    steps: int,
    warmup: int,
    precision: str,
    memory_format: str,
    device: str,
) -> dict[str, Any]:
    """Images per second of ``steps`` timed steps on random inputs already on ``device`` (the data
    path is measured apart), after ``warmup`` untimed ones."""
    import torch

    step = torch_trainer(arch, precision, memory_format, device)
    inputs = torch.randn(batch_size, 3, image_size, image_size, device=device)
    labels = torch.randint(0, 2, (batch_size,), device=device)
    for _ in range(warmup):
        step(inputs, labels)
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(inputs, labels)
    _synchronize(device)
    seconds = time.perf_counter() - start
    return {
        "architecture": arch,
        "image_size": image_size,
        "batch_size": batch_size,
        "steps": steps,
        "warmup_steps": warmup,
        "precision": precision,
        "memory_format": memory_format,
        "device": device,
        "wall_s": seconds,
        "images_per_second": steps * batch_size / seconds,
    }


def data_path_batches(images: np.ndarray, batch_size: int, device: str) -> Iterator[Any]:
    """Augmented training batches on ``device`` from the decoded arrays, epoch after epoch, through
    the ISIC stages' own data path (``models.torch.data.training_batches``, workers from the machine)."""
    import itertools

    import torch

    from medinterp.models.torch.data import training_batches
    from medinterp.params import Augment

    rows = np.arange(len(images))
    source = training_batches(
        images,
        rows,
        np.zeros(len(images), dtype=np.int64),
        batch_size,
        "auto",
        int(images.shape[1]),
        Augment(),
        0,
        torch.device(device),
    )
    return (x for x, _ in itertools.chain.from_iterable(itertools.repeat(source)))


def data_path_rate(image_size: int, images: int, batch_size: int, device: str) -> dict[str, Any]:
    """Images per second from a memory-mapped ``(N, H, W, 3) uint8`` array, as ``prepare`` writes
    them, to augmented batches on ``device`` (``models.torch.data.throughput``); the first batch
    (start-up) is not timed."""
    from medinterp.models.torch.data import throughput, worker_count
    from medinterp.params import Augment

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "images.npy"
        pixels = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(images, image_size, image_size, 3))
        pixels[:] = np.random.default_rng(0).integers(0, 256, size=pixels.shape, dtype=np.uint8)
        pixels.flush()
        batches = max(1, images // batch_size - 1)
        start = time.perf_counter()
        rate = throughput(np.load(path, mmap_mode="r"), image_size, batch_size, Augment(), device, "auto", batches)
        seconds = time.perf_counter() - start
    return {
        "image_size": image_size,
        "images": batches * batch_size,
        "batch_size": batch_size,
        "device": device,
        "loader_workers": worker_count("auto"),
        "wall_s": seconds,
        "images_per_second": rate,
    }


def torch_job(settings: dict[str, Any]) -> dict[str, Any]:
    import torch
    import torchvision

    device = "cuda" if torch.cuda.is_available() else "cpu"
    train = settings["training"]
    runs = [
        torch_training_rate(
            train["architecture"],
            train["image_size"],
            train["batch_size"],
            train["steps"],
            train["warmup"],
            precision,
            train["memory_format"],
            device,
        )
        for precision in train["precisions"]
    ]
    data = settings["data_path"]
    return {
        "family": "torch",
        "versions": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        },
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "training": runs,
        "data_path": data_path_rate(data["image_size"], data["images"], data["batch_size"], device),
    }


def epoch_job(settings: dict[str, Any]) -> dict[str, Any]:
    """A bounded training epoch on the prepared arrays: ``batches`` batches of the data path, each
    trained on, the first untimed (start-up). Labels are random: the rate does not depend on them."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    images = np.load(settings["arrays"], mmap_mode="r")
    size, batch_size, batches = images.shape[1], settings["batch_size"], settings["batches"]
    if len(images) < batch_size * (batches + 1):
        raise ValueError(f"{settings['arrays']}: {len(images)} rows cannot fill {batches + 1} batches of {batch_size}")
    step = torch_trainer(settings["architecture"], settings["precision"], settings["memory_format"], device)
    labels = torch.randint(0, 2, (batch_size,), device=device)
    stream = data_path_batches(images, batch_size, device)
    step(next(stream), labels)
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(batches):
        step(next(stream), labels)
    _synchronize(device)
    seconds = time.perf_counter() - start
    return {
        "arrays": settings["arrays"],
        "rows": len(images),
        "architecture": settings["architecture"],
        "image_size": size,
        "batch_size": batch_size,
        "batches": batches,
        "precision": settings["precision"],
        "memory_format": settings["memory_format"],
        "device": device,
        "torch": torch.__version__,
        "wall_s": seconds,
        "images_per_second": batches * batch_size / seconds,
    }


def keras_training_rate(
    arch: str, image_size: int, batch_size: int, steps: int, warmup: int, precision: str
) -> dict[str, Any]:
    """Images per second of ``steps`` timed ``train_on_batch`` calls (a traced step) of a
    ``keras.applications`` backbone under the mixed-precision policy of ``precision``."""
    import keras

    keras.mixed_precision.set_global_policy(KERAS_POLICIES[precision])
    try:
        build = getattr(keras.applications, KERAS_APPLICATIONS[arch])
        model = build(weights=None, input_shape=(image_size, image_size, 3), classes=2)
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        inputs = rng.random((batch_size, image_size, image_size, 3), dtype=np.float32)
        labels = rng.integers(0, 2, size=batch_size)
        for _ in range(warmup):
            model.train_on_batch(inputs, labels)
        start = time.perf_counter()
        for _ in range(steps):
            loss = model.train_on_batch(inputs, labels)
        float(np.asarray(loss))  # the last step has finished before the clock stops
        seconds = time.perf_counter() - start
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return {
        "architecture": arch,
        "image_size": image_size,
        "batch_size": batch_size,
        "steps": steps,
        "warmup_steps": warmup,
        "precision": precision,
        "policy": KERAS_POLICIES[precision],
        "wall_s": seconds,
        "images_per_second": steps * batch_size / seconds,
    }


def keras_job(settings: dict[str, Any]) -> dict[str, Any]:
    from medinterp.numerics import import_tensorflow

    tf = import_tensorflow()  # without its start-up lines on stderr (MEDINTERP_TF_LOGS=1 shows them)
    import keras

    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]
    build = tf.sysconfig.get_build_info()
    train = settings["training"]
    runs = [
        keras_training_rate(
            train["architecture"], train["image_size"], train["batch_size"], train["steps"], train["warmup"], precision
        )
        for precision in train["precisions"]
    ]
    for run in runs:
        run["device"] = "gpu" if gpus else "cpu"
    return {
        "family": "keras",
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "cuda": build.get("cuda_version"),
            "cudnn": build.get("cudnn_version"),
        },
        "device": "gpu" if gpus else "cpu",
        "device_name": names[0] if names else None,
        "training": runs,
    }


JOBS = {"torch": torch_job, "keras": keras_job, "epoch": epoch_job}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in JOBS:
        raise SystemExit(f"usage: python -m medinterp.benchmarks.workers {{{'|'.join(JOBS)}}} '<json settings>'")
    print(json.dumps(JOBS[args[0]](json.loads(args[1]))), flush=True)


if __name__ == "__main__":
    main()
