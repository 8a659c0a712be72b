#!/usr/bin/env bash
# One GPU check (docs/gpu.md): ONNX Runtime vs eager for every exported model, ResNet50 and
# MobileNetV2 training images/s (fp32, bf16), the torch data path -> metrics/gpu_bench.json.
# Sized to take minutes on one GPU; without one it runs the CPU half, says what it skipped, exits 0.
# Extra arguments go to `python -m medinterp.benchmarks.gpu_check` (--cpu, --models, --steps, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

# Portable numerics hide every GPU (src/medinterp/numerics.py): this check is about the GPU.
export MEDINTERP_NUMERICS=fast
# TensorFlow's CUDA build lives in its own environment (docs/gpu.md); the CPU one is the default's.
keras_python=.venv-keras-gpu/bin/python
if [[ -x "$keras_python" ]]; then
  set -- --keras-python "$keras_python" "$@"
fi
# A guard against a hang, not a budget: a shared CPU-only machine needs far longer than a GPU one.
limit_s="${GPU_CHECK_TIMEOUT_S:-1200}"
status=0
timeout "$limit_s" uv run --locked python -m medinterp.benchmarks.gpu_check "$@" || status=$?
if [[ $status -eq 124 ]]; then
  echo "gpu_check: stopped after ${limit_s} s (GPU_CHECK_TIMEOUT_S); metrics/gpu_bench.json not written" >&2
fi
exit "$status"
