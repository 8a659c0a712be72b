"""The GPU check's plan, skip logic and JSON without a GPU; the scale benchmark's helpers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medinterp.benchmarks import gpu_check, scale
from medinterp.errors import ConfigError

TINY_TORCH = {
    "architecture": "resnet18",
    "image_size": 32,
    "memory_format": "channels_last",
    "precisions": ["fp32", "bf16"],
    "batch_size": 2,
    "steps": 1,
    "warmup": 0,
}
TINY_DATA = {"image_size": 32, "images": 8, "batch_size": 4}


def fake_worker(device: str):
    def run_worker(family: str, settings: dict, python: str = "") -> dict:
        runs = [
            {"precision": p, "images_per_second": 1.0, "device": device} for p in settings["training"]["precisions"]
        ]
        return {"family": family, "device": device, "device_name": None, "versions": {}, "training": runs}

    return run_worker


def test_cpu_plan_leaves_out_the_gpu_parts_and_says_so():
    cpu, gpu = gpu_check.plan_for(False), gpu_check.plan_for(True)
    assert gpu.batch_sizes == (1, 8, 32, 128) and not gpu.skipped
    assert set(cpu.batch_sizes) < set(gpu.batch_sizes)
    assert any("32 and 128" in line for line in cpu.skipped)
    assert any("CUDA and TensorRT" in line for line in cpu.skipped)
    assert cpu.torch_training["steps"] < gpu.torch_training["steps"]


def test_no_driver_means_no_gpu_and_the_cpu_provider(monkeypatch):
    monkeypatch.setattr(gpu_check, "nvidia_driver_present", lambda: False)
    assert gpu_check.gpu_names() == []
    assert gpu_check.provider_sets(False) == [["CPUExecutionProvider"]]


def test_check_without_models_or_gpu_writes_every_section(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_check, "run_worker", fake_worker("cpu"))
    result = gpu_check.check(gpu_check.plan_for(False), models=[])
    assert set(result) >= {"gpu", "gpus", "machine", "plan", "skipped", "onnxruntime", "torch", "keras", "wall_s"}
    assert result["gpu"] is False and result["onnxruntime"] == {}
    assert any("no exported model" in line for line in result["skipped"])
    out = tmp_path / "gpu_bench.json"
    gpu_check.write_json(out, result)
    written = json.loads(out.read_text())
    assert written["plan"]["batch_sizes"] == [1, 8]
    assert written["keras"]["training"][1]["precision"] == "bf16"


def test_a_framework_without_the_gpu_on_a_gpu_machine_is_reported(monkeypatch):
    monkeypatch.setattr(gpu_check, "run_worker", fake_worker("cpu"))
    monkeypatch.setattr(gpu_check, "provider_sets", lambda gpu: [])
    skipped = gpu_check.check(gpu_check.plan_for(True), models=[])["skipped"]
    assert any(line.startswith("torch: the framework saw no GPU") for line in skipped)
    assert any(line.startswith("keras: the framework saw no GPU") for line in skipped)
    assert any("TensorRT" in line for line in skipped)


def test_torch_worker_measures_training_and_the_data_path():
    result = gpu_check.run_worker("torch", {"training": TINY_TORCH, "data_path": TINY_DATA})
    assert result["device"] == "cpu"
    assert [run["precision"] for run in result["training"]] == ["fp32", "bf16"]
    assert all(run["images_per_second"] > 0 and run["batch_size"] == 2 for run in result["training"])
    # the first batch is untimed: 8 images in batches of 4 leave 4 timed
    assert result["data_path"]["images"] == 4 and result["data_path"]["images_per_second"] > 0


def test_a_failing_worker_ends_with_its_last_error_line():
    with pytest.raises(ConfigError, match="torch benchmark failed: .*no_such_net"):
        gpu_check.run_worker(
            "torch", {"training": {**TINY_TORCH, "architecture": "no_such_net"}, "data_path": TINY_DATA}
        )


def test_full_profile_is_set_in_the_clone_params_with_comments_kept(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("data:\n  profile: sample   # the switch\n  root: data\nprepare:\n  jobs: 2\n")
    scale.set_full_profile(params, 7)
    text = params.read_text()
    assert re.search(r"profile: full +# the switch\n", text) and "jobs: 7" in text


def test_measure_reports_wall_time_and_peak_memory_and_fails_loudly(tmp_path):
    grow = (
        "import time; x = bytearray(64 * 2**20); time.sleep(1.2); t = time.process_time(); \n"
        "while time.process_time() - t < 0.3: pass"
    )
    result = scale.measure(["python", "-c", grow], tmp_path, _python_path())
    assert result["wall_s"] >= 1.5 and 0.3 <= result["cpu_s"] < result["wall_s"]  # the sleep costs no CPU
    assert result["peak_rss_largest_process_mb"] >= 64 and result["peak_rss_tree_mb"] >= 64
    with pytest.raises(ConfigError, match="exited 3"):
        scale.measure(["python", "-c", "raise SystemExit(3)"], tmp_path, _python_path())


def test_a_resumed_run_keeps_finished_phases_and_refuses_another_fraction(tmp_path):
    run = scale.Run(Path("."), tmp_path, 0.02, 1)
    calls = []
    assert run.phase("synth", lambda: calls.append(1) or {"wall_s": 1.0}) == {"wall_s": 1.0}
    again = scale.Run(Path("."), tmp_path, 0.02, 1)
    assert again.phase("synth", lambda: calls.append(2) or {"wall_s": 2.0}) == {"wall_s": 1.0}
    assert calls == [1]
    with pytest.raises(ConfigError, match="fraction 0.02, not 0.5"):
        scale.Run(Path("."), tmp_path, 0.5, 1)


def _python_path() -> dict[str, str]:
    import os
    import sys

    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin"}
