"""Training batches from the decoded arrays (``preprocessing.arrays``): no image file is decoded
during training.

Loader processes only read whole batches of ``uint8`` rows from the (memory-mapped) arrays; the
main process moves each batch to the training device and augments it there, all at once
(``transforms.augment_batch``), with draws from one seeded numpy generator
(``training.augment.draw``). The batch order comes from another seeded generator in the main
process too, so the batches are the same for any number of loader processes, on any device.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from medinterp.models.torch.transforms import augment_batch
from medinterp.params import Augment
from medinterp.training.augment import draw

MAX_WORKERS = 8  # more processes than this only copy bytes faster than any augmentation consumes them


def worker_count(setting: int | Literal["auto"]) -> int:
    """Loader processes for ``isic.loader_workers``: ``auto`` leaves one core of those this process
    may use to the main process (at most :data:`MAX_WORKERS`), none on a single core."""
    if setting != "auto":
        return setting
    return min(len(os.sched_getaffinity(0)) - 1, MAX_WORKERS)


class ArrayBatches(Dataset):
    """Rows ``index`` of ``images`` (``(N, H, W, 3) uint8``, typically memory-mapped) with their
    labels, read a batch at a time: ``dataset[positions]`` -> ``(B, H, W, 3) uint8``, ``(B,) int64``."""

    def __init__(self, images: np.ndarray, index: np.ndarray, labels: np.ndarray):
        if len(index) != len(labels):
            raise ValueError(f"{len(index)} rows but {len(labels)} labels")
        self.images, self.index, self.labels = images, np.asarray(index), np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.asarray(self.images[self.index[positions]])), torch.from_numpy(
            self.labels[positions]
        )


class ShuffledBatches(Sampler[list[int]]):
    """Positions ``0 .. n-1`` in a new order each epoch, drawn from a numpy generator seeded with
    ``seed``, cut into batches of ``batch_size``. A last batch of a single image is dropped: batch
    normalisation cannot train on one image."""

    def __init__(self, n: int, batch_size: int, seed: int | np.random.SeedSequence):
        if batch_size < 2:
            raise ValueError(f"batch_size must be at least 2, got {batch_size}")
        self.n, self.batch_size, self.rng = n, batch_size, np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.n // self.batch_size + (self.n % self.batch_size > 1)

    def __iter__(self) -> Iterator[list[int]]:
        order = self.rng.permutation(self.n)
        for start in range(0, self.n, self.batch_size):
            batch = order[start : start + self.batch_size]
            if len(batch) > 1:
                yield batch.tolist()


class AugmentedBatches:
    """The training batches of one epoch per iteration: ``(x, y)`` on ``device``, ``x`` augmented
    and normalised ``(B, 3, size, size)`` float32 in ``memory_format``, ``y`` ``(B,)`` int64."""

    def __init__(
        self,
        loader: DataLoader,
        augment: Augment,
        size: int,
        device: torch.device,
        memory_format: torch.memory_format,
        rng: np.random.Generator,
    ):
        self.loader, self.augment, self.size, self.device = loader, augment, size, device
        self.memory_format, self.rng = memory_format, rng

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, labels in self.loader:
            images = images.to(self.device, non_blocking=True)
            x = augment_batch(images, draw(len(images), self.augment, self.rng), self.size, self.memory_format)
            yield x, labels.to(self.device, non_blocking=True)

    def state(self) -> dict[str, Any]:
        """Where both generators stand (plain, picklable values): the batch order and the augmentation."""
        return {"order": self.loader.sampler.rng.bit_generator.state, "augment": self.rng.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        self.loader.sampler.rng.bit_generator.state = state["order"]
        self.rng.bit_generator.state = state["augment"]


def training_batches(
    images: np.ndarray,
    index: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    workers: int | Literal["auto"],
    size: int,
    augment: Augment,
    seed: int,
    device: torch.device,
    memory_format: torch.memory_format = torch.channels_last,
) -> AugmentedBatches:
    """Shuffled, augmented batches of rows ``index`` of ``images``, reproducible by ``seed`` alone;
    ``workers`` loader processes (``"auto"``: :func:`worker_count`) read them, pinned when CUDA is there."""
    order_seed, augment_seed = np.random.SeedSequence(seed).spawn(2)
    workers = worker_count(workers)
    loader = DataLoader(
        ArrayBatches(images, index, labels),
        sampler=ShuffledBatches(len(index), batch_size, order_seed),
        batch_size=None,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
    )
    return AugmentedBatches(loader, augment, size, device, memory_format, np.random.default_rng(augment_seed))


def throughput(
    images: np.ndarray,
    size: int,
    batch_size: int,
    augment: Augment,
    device: torch.device | str = "cpu",
    workers: int | Literal["auto"] = "auto",
    batches: int = 20,
    seed: int = 0,
) -> float:
    """Images per second that training's data path alone delivers to ``device`` (read, augmented,
    normalised), over ``batches`` batches after one that starts the loader processes."""
    if len(images) < 2:
        raise ValueError(f"throughput needs at least 2 images, got {len(images)}")
    device = torch.device(device)
    source = training_batches(
        images,
        np.arange(len(images)),
        np.zeros(len(images), dtype=np.int64),
        batch_size,
        workers,
        size,
        augment,
        seed,
        device,
    )
    stream = itertools.chain.from_iterable(itertools.repeat(source))  # epoch after epoch
    next(stream)
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    sync()
    start, delivered = time.perf_counter(), 0
    for x, _ in itertools.islice(stream, batches):
        delivered += len(x)
    sync()
    return delivered / (time.perf_counter() - start)


def chunks(images: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive batches of ``images`` read into memory one at a time."""
    for start in range(0, len(images), batch_size):
        yield np.asarray(images[start : start + batch_size])
