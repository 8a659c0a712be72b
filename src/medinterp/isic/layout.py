"""Where the per-model stages put the outputs of one entry of ``models`` (``alexnet``,
``keras-resnet50``, ...): one folder per entry, so the architectures of one run sit side by side.

::

    models/isic/<entry>/<binary|multiclass>/checkpoint.npz, model.onnx, model.json
    metrics/isic/<entry>/binary.json, multiclass.json, export.json
    plots/isic/<entry>/<binary|multiclass>/     dvclive curves, predictions, ROC tables
"""

from __future__ import annotations

from pathlib import Path

from medinterp.models.checkpoint import path_in

MODELS = Path("models/isic")
METRICS = Path("metrics/isic")
PLOTS = Path("plots/isic")
TASKS = ("binary", "multiclass")


def model_folder(entry: str, task: str) -> Path:
    return MODELS / entry / task


def checkpoint(entry: str, task: str) -> Path:
    return path_in(model_folder(entry, task))


def report(entry: str, task: str) -> Path:
    """``metrics/isic/<entry>/<task>.json``; ``task`` ``export`` names the export's parity record."""
    return METRICS / entry / f"{task}.json"


def plots(entry: str, task: str) -> Path:
    return PLOTS / entry / task
