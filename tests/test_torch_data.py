"""The torch family's training batches (``models.torch.data``): read by index from memory-mapped
``uint8`` arrays, shuffled and augmented from seeded numpy generators in the main process, so
the batches do not depend on the number of loader processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import THESIS_AUGMENT

from medinterp.models.torch import data
from medinterp.models.torch.transforms import augment_batch
from medinterp.training.augment import draw


@pytest.fixture
def memmapped(tmp_path) -> np.ndarray:
    images = np.random.default_rng(0).integers(0, 256, (23, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    return np.load(tmp_path / "images.npy", mmap_mode="r")


def epochs(batches: data.AugmentedBatches, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [batch for _ in range(count) for batch in batches]


def test_auto_workers_leave_one_core_to_training_and_stop_at_eight(monkeypatch):
    assert data.worker_count(3) == 3 and data.worker_count(0) == 0
    for cores, workers in ((1, 0), (2, 1), (5, 4), (9, 8), (64, 8)):
        monkeypatch.setattr(data.os, "sched_getaffinity", lambda _, cores=cores: set(range(cores)))
        assert data.worker_count("auto") == workers


def test_each_epoch_is_a_new_seeded_order_and_a_last_single_image_is_dropped():
    sampler = data.ShuffledBatches(13, 4, seed=5)
    first, second = list(sampler), list(sampler)
    assert [len(b) for b in first] == [4, 4, 4] == [len(b) for b in second] and len(sampler) == 3
    assert len(set(sum(first, []))) == 12 and first != second
    assert list(data.ShuffledBatches(13, 4, seed=5)) == first
    assert [len(b) for b in data.ShuffledBatches(14, 4, seed=0)] == [4, 4, 4, 2] and len(
        data.ShuffledBatches(14, 4, 0)
    ) == 4
    assert sorted(sum(list(data.ShuffledBatches(14, 4, seed=0)), [])) == list(range(14))
    with pytest.raises(ValueError, match="batch_size must be at least 2, got 1"):
        data.ShuffledBatches(10, 1, seed=0)


def test_a_batch_is_read_by_index_from_the_memory_map(memmapped):
    index, labels = np.array([20, 3, 7, 11]), np.array([1, 0, 1, 1])
    dataset = data.ArrayBatches(memmapped, index, labels)
    images, got = dataset[[2, 0]]
    assert images.dtype == torch.uint8 and np.array_equal(images.numpy(), np.asarray(memmapped)[[7, 20]])
    assert got.dtype == torch.int64 and got.tolist() == [1, 1] and len(dataset) == 4
    with pytest.raises(ValueError, match="4 rows but 3 labels"):
        data.ArrayBatches(memmapped, index, labels[:3])


def test_the_batches_are_the_same_for_zero_and_two_loader_processes(memmapped):
    index, labels = np.arange(2, 23), np.arange(21) % 3

    def make(workers):
        return data.training_batches(
            memmapped, index, labels, 6, workers, 12, THESIS_AUGMENT, seed=4, device=torch.device("cpu")
        )

    serial, parallel = epochs(make(0), 2), epochs(make(2), 2)
    assert [len(y) for _, y in serial] == [6, 6, 6, 3] * 2
    for (x0, y0), (x2, y2) in zip(serial, parallel, strict=True):
        assert torch.equal(x0, x2) and torch.equal(y0, y2)
        assert x0.shape[1:] == (3, 12, 12) and x0.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(serial[0][0], serial[4][0][:6])  # the second epoch is another draw


def test_batches_are_the_hand_made_ones_from_the_seed(memmapped):
    """The batch order and the draws come from the two streams of ``SeedSequence(seed)``."""
    index, labels = np.arange(23), np.zeros(23, dtype=np.int64)
    (x, _), *_ = data.training_batches(
        memmapped, index, labels, 8, 0, 16, THESIS_AUGMENT, seed=9, device=torch.device("cpu")
    )
    order_seed, augment_seed = np.random.SeedSequence(9).spawn(2)
    rows = np.random.default_rng(order_seed).permutation(23)[:8]
    expected = augment_batch(
        torch.from_numpy(np.asarray(memmapped)[rows]), draw(8, THESIS_AUGMENT, np.random.default_rng(augment_seed)), 16
    )
    assert torch.equal(x, expected)


def test_a_saved_state_continues_with_the_same_batches(memmapped):
    index, labels = np.arange(23), np.zeros(23, dtype=np.int64)

    def make(seed):
        return data.training_batches(memmapped, index, labels, 8, 0, 16, THESIS_AUGMENT, seed, torch.device("cpu"))

    run = make(1)
    epochs(run, 1)
    state = run.state()
    expected = epochs(run, 1)
    resumed = make(2)
    resumed.set_state(state)
    for (x, y), (xr, yr) in zip(expected, epochs(resumed, 1), strict=True):
        assert torch.equal(x, xr) and torch.equal(y, yr)


def test_throughput_counts_delivered_images(memmapped):
    assert data.throughput(np.asarray(memmapped), 16, 8, THESIS_AUGMENT, workers=0, batches=3) > 0
    with pytest.raises(ValueError, match="at least 2 images, got 1"):
        data.throughput(np.asarray(memmapped)[:1], 16, 8, THESIS_AUGMENT)
