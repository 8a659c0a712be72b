#!/usr/bin/env bash
# The scale benchmark (docs/scale.md): split, prepare, warm `dvc status`, a no-op `dvc repro` and
# one bounded ResNet50 epoch on a full-size synthetic dataset in a scratch clone -> metrics/scale.json.
#   benchmarks/scale.sh [SCRATCH (default /tmp/medinterp-scale)] [--fraction F (default 1.0)] [--cleanup] ...
# Rerun the same command after an interruption: finished phases are kept. At fraction 1.0 it decodes
# every full-size image (long on few cores; docs/scale.md has a measured run) and needs ~25 GB free
# beside SCRATCH (data and arrays, the DVC cache linked).
set -euo pipefail
cd "$(dirname "$0")/.."
exec uv run --locked python -m medinterp.benchmarks.scale "$@"
