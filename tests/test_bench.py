"""`medinterp bench`: timing arithmetic, and eager PyTorch against ONNX Runtime on one exported model."""

from __future__ import annotations

import inspect
import itertools
import json
import time

import numpy as np
import pytest

from medinterp.cli import main as cli
from medinterp.export import metadata
from medinterp.inference import bench
from medinterp.inference.predict import preprocess
from medinterp.models.torch.export import eager_runner


class FakeClock:
    """A clock that stands still until :meth:`advance` moves it by the next of ``steps`` seconds."""

    def __init__(self, steps):
        self.now, self.steps, self.readings = 100.0, list(steps), 0

    def __call__(self):
        self.readings += 1
        return self.now

    def advance(self):
        self.now += self.steps.pop(0)


def test_images_per_second_is_batch_over_median_time():
    calls = []
    clock = FakeClock([9.0, 9.0, 0.25, 1.0, 0.5])  # two warmups (never timed), then three timed calls

    def run(batch):
        calls.append(len(batch))
        clock.advance()

    ips = bench.images_per_second(run, np.zeros((8, 3)), batch_size=4, repeats=3, warmup=2, clock=clock)
    assert calls == [4] * 5 and clock.readings == 6 and not clock.steps
    assert ips == 4 / 0.5  # the median of 0.25, 1.0 and 0.5 s
    with pytest.raises(ValueError, match="cannot fill"):
        bench.images_per_second(run, np.zeros((2, 3)), batch_size=4, repeats=1, clock=clock)
    assert calls == [4] * 5 and clock.readings == 6


def test_the_real_clock_is_the_default():
    for function in (bench.images_per_second, bench.bench_model):
        assert inspect.signature(function).parameters["clock"].default is time.perf_counter


def test_both_sides_get_the_same_inputs_and_agree(tiny_onnx_classifier):
    meta = metadata.read(tiny_onnx_classifier)
    inputs = bench.model_inputs(meta, 4, seed=1)
    rng_pixels = np.random.default_rng(1).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(inputs, preprocess(rng_pixels, meta["input"]))
    eager, framework = eager_runner(tiny_onnx_classifier, meta)
    onnx_run, provider = bench.onnx_runner(tiny_onnx_classifier, ["CPUExecutionProvider"])
    assert framework["name"] == "torch" and provider == "CPUExecutionProvider"
    np.testing.assert_allclose(onnx_run(inputs), eager(inputs), atol=1e-4)


def test_bench_model_times_both_sides_with_the_given_clock(tiny_onnx_classifier):
    clock = itertools.count(0.0, 0.25).__next__  # every reading 0.25 s after the last: each timed call takes 0.25 s
    result = bench.bench_model(
        tiny_onnx_classifier, batch_sizes=(1, 4), repeats=2, providers=["CPUExecutionProvider"], clock=clock
    )
    assert result["batches"] == {
        f"batch_{size}": {
            "eager_images_per_second": size / 0.25,
            "onnxruntime_images_per_second": size / 0.25,
            "onnxruntime_speedup": 1.0,
        }
        for size in (1, 4)
    }
    assert clock() == 0.25 * 2 * 2 * 2 * 2  # 2 batch sizes x 2 sides x 2 repeats x 2 readings, none elsewhere


def test_bench_command_writes_every_batch_size(tiny_onnx_classifier, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli(
        ["bench", str(tiny_onnx_classifier), "--batch-sizes", "1", "4", "--repeats", "2", "--out", str(out)]
    ) in (0, None)
    result = json.loads(out.read_text())
    row = result["models"][str(tiny_onnx_classifier)]
    assert set(row["batches"]) == {"batch_1", "batch_4"} and row["architecture"] == "mobilenet_v2"
    for timing in row["batches"].values():
        assert timing["eager_images_per_second"] > 0 and timing["onnxruntime_images_per_second"] > 0
        assert timing["onnxruntime_speedup"] == pytest.approx(
            timing["onnxruntime_images_per_second"] / timing["eager_images_per_second"]
        )
    assert result["machine"]["cpu_count"] >= 1 and "torch" in result["machine"]["versions"]
    assert row["provider"] in result["providers_available"]
    assert "eager ->" in capsys.readouterr().out
