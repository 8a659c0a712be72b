"""Training batches from the decoded arrays (``preprocessing.arrays``): no image file is decoded
during training, and ``workers`` processes read and augment while the main process trains."""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class ArrayDataset(Dataset):
    """Rows ``index`` of ``images`` (``(N, H, W, 3) uint8``, typically memory-mapped), each passed
    through ``transform`` as a ``(3, H, W) uint8`` tensor, with its label."""

    def __init__(self, images: np.ndarray, index: np.ndarray, labels: np.ndarray, transform: Callable[[torch.Tensor], torch.Tensor]):
        if len(index) != len(labels):
            raise ValueError(f"{len(index)} rows but {len(labels)} labels")
        self.images, self.index, self.labels, self.transform = images, np.asarray(index), np.asarray(labels), transform

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        pixels = torch.from_numpy(np.array(self.images[self.index[i]])).permute(2, 0, 1)
        return self.transform(pixels), int(self.labels[i])


def train_loader(dataset: ArrayDataset, batch_size: int, workers: int, seed: int) -> DataLoader:
    """Shuffled batches, reproducible by ``seed`` for a given number of ``workers`` (each worker's
    random transforms are seeded from it by PyTorch).

    A last batch of a single image is dropped: batch normalisation cannot train on one image.
    """
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=workers, persistent_workers=workers > 0,
        drop_last=len(dataset) % batch_size == 1, generator=torch.Generator().manual_seed(seed),
    )


def chunks(images: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive batches of ``images`` read into memory one at a time."""
    for start in range(0, len(images), batch_size):
        yield np.asarray(images[start:start + batch_size])
