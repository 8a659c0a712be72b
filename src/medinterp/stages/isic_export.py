"""Stage ``isic_export@<entry>``: both ISIC checkpoints of one entry of ``models`` as ONNX models
with their metadata, checked against the framework that trained them.

``python -m medinterp.stages.isic_export <entry>``. For each task,
``models/isic/<entry>/<task>/checkpoint.npz`` becomes ``models/isic/<entry>/<task>/model.onnx``
(dynamic batch, metadata inside and in ``model.json`` beside it) through the exporter of the
checkpoint's family; ONNX Runtime's logits on the task's test images must match the framework's
within ``isic.export.parity_tolerance``. ``metrics/isic/<entry>/export.json`` records the largest
and mean absolute differences and the execution provider that ran.
"""

from __future__ import annotations

import json

import numpy as np

from medinterp import params, runlog
from medinterp.export import metadata
from medinterp.io import write_json
from medinterp.isic import layout
from medinterp.models.checkpoint import read_info
from medinterp.models.families import family_function
from medinterp.preprocessing.arrays import load
from medinterp.stages import foreach_item, run

# task -> (its training table, the table of its test images, their split value (None: all rows),
#          the report's blocks that go into the model's metadata)
TASKS = {
    "binary": ("isic_binary", "isic2016_test", None, ("cv", "test")),
    "multiclass": ("isic_multiclass", "isic_multiclass", "test", ("val", "test")),
}


def flat_numbers(report: dict, blocks: tuple[str, ...]) -> dict[str, float]:
    """The numeric entries of ``report[block]`` as ``<block>_<key>``."""
    return {
        f"{block}_{key}": float(value)
        for block in blocks
        for key, value in report.get(block, {}).items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def main() -> None:
    entry, settings = foreach_item("models"), params.load().isic.export
    tolerance, opset = settings.parity_tolerance, settings.opset
    results, measured = {}, {}
    for task, (dataset, test_table, test_split, blocks) in TASKS.items():
        checkpoint = layout.checkpoint(entry, task)
        info = read_info(checkpoint)
        test = load(test_table, int(info["image_size"]))
        if test_split is not None:
            test = test.subset(test.frame["split"] == test_split)
        report = json.loads(layout.report(entry, task).read_text(encoding="utf-8"))
        fields = {
            "name": f"isic-{task}-{info['architecture']}",
            "dataset": dataset,
            "split": info["trained_on"],
            "metrics": flat_numbers(report, blocks),
            "params": {
                "model": info["architecture"],
                "family": info["family"],
                "seed": info["seed"],
                "data.profile": report["profile"],
                f"isic.{task}": info["settings"],
            },
            "provenance": metadata.provenance(__spec__.name, [checkpoint]),
        }
        export = family_function("export_checkpoint", info["family"])  # imports the checkpoint's framework
        onnx = layout.model_folder(entry, task) / "model.onnx"
        results[task], measured[task] = export(checkpoint, onnx, fields, np.asarray(test.images), tolerance, opset)
    write_json(layout.report(entry, "export"), results)
    runlog.write(f"isic_export@{entry}", onnx_parity=measured)


if __name__ == "__main__":
    run(main)
