"""`medinterp bench`: timing arithmetic, and eager PyTorch against ONNX Runtime on one exported model."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from medinterp.cli import main as cli
from medinterp.export import metadata as M
from medinterp.inference import bench
from medinterp.inference.predict import preprocess
from medinterp.models.torch.checkpoint import eager_runner


def test_images_per_second_is_batch_over_median_time():
    calls = []

    def slow(batch):
        calls.append(len(batch))
        time.sleep(0.02)

    ips = bench.images_per_second(slow, np.zeros((8, 3)), batch_size=4, repeats=3, warmup=2)
    assert calls == [4] * 5
    assert 4 / 0.03 < ips < 4 / 0.02
    with pytest.raises(ValueError, match="cannot fill"):
        bench.images_per_second(slow, np.zeros((2, 3)), batch_size=4, repeats=1)


def test_both_sides_get_the_same_inputs_and_agree(tiny_onnx_classifier):
    meta = M.read(tiny_onnx_classifier)
    inputs = bench.model_inputs(meta, 4, seed=1)
    rng_pixels = np.random.default_rng(1).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(inputs, preprocess(rng_pixels, meta["input"]))
    eager, framework = eager_runner(tiny_onnx_classifier, meta)
    onnx_run, provider = bench.onnx_runner(tiny_onnx_classifier, ["CPUExecutionProvider"])
    assert framework["name"] == "torch" and provider == "CPUExecutionProvider"
    np.testing.assert_allclose(onnx_run(inputs), eager(inputs), atol=1e-4)


def test_bench_command_writes_every_batch_size(tiny_onnx_classifier, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli(["bench", str(tiny_onnx_classifier), "--batch-sizes", "1", "4", "--repeats", "2", "--out", str(out)]) in (0, None)
    result = json.loads(out.read_text())
    row = result["models"][str(tiny_onnx_classifier)]
    assert set(row["batches"]) == {"batch_1", "batch_4"} and row["architecture"] == "mobilenet_v2"
    for timing in row["batches"].values():
        assert timing["eager_images_per_second"] > 0 and timing["onnxruntime_images_per_second"] > 0
        assert timing["onnxruntime_speedup"] == pytest.approx(
            timing["onnxruntime_images_per_second"] / timing["eager_images_per_second"])
    assert result["machine"]["cpu_count"] >= 1 and "torch" in result["machine"]["versions"]
    assert row["provider"] in result["providers_available"]
    assert "eager ->" in capsys.readouterr().out
