"""Stage ``isic_multiclass@<entry>``: the thesis's eight-class ISIC 2019 task for one entry of ``models``.

``python -m medinterp.stages.isic_multiclass <entry>``. Trains on the ``train`` rows of
``splits/isic_multiclass.csv``, keeps the epoch with the best ``isic.multiclass.monitor`` on the
``val`` rows, and evaluates the ``val`` and ``test`` rows. Class weights:
``isic.multiclass.class_weights`` when given, else the thesis's manual scheme,
``class_weight_range`` from the rarest training class down to the most frequent.

Trains the entry in its family. Outputs (``medinterp.isic.layout``):
``models/isic/<entry>/multiclass/checkpoint.npz``, ``metrics/isic/<entry>/multiclass.json``, and
under ``plots/isic/<entry>/multiclass/``: ``training/`` (dvclive curves), ``predictions_val.csv``,
``predictions_test.csv``, ``roc_val.csv`` and ``roc_test.csv`` (macro-average one-vs-rest).

The training resumes from its last completed epoch after an interruption
(``.resume/isic_multiclass@<entry>/model.pkl``, ``medinterp.training.resume``).
"""

from __future__ import annotations

import numpy as np

from medinterp import params, runlog
from medinterp.errors import DatasetError
from medinterp.evaluation.curves import macro_roc_table
from medinterp.io import write_csv, write_json
from medinterp.isic import layout
from medinterp.isic.predictions import predictions_table
from medinterp.isic.reports import multiclass_report, run_block
from medinterp.models.families import family_function
from medinterp.preprocessing.arrays import SPLITS, load
from medinterp.stages import foreach_item, run
from medinterp.training import class_weights
from medinterp.training.classifier import TrainingData, run_resume
from medinterp.training.resume import discard_stage

EVALUATED = ("val", "test")


def main() -> None:
    entry, config = foreach_item("models"), params.load()
    stage = f"isic_multiclass@{entry}"
    spec, settings, seed = config.model_spec(entry), config.isic_task("multiclass", entry), config.seed
    plots = layout.plots(entry, "multiclass")
    class_names = list(config.split.isic_multiclass.classes)
    block = config.isic.multiclass
    # a framework takes seconds to import: only once the params are known to be usable
    from dvclive import Live

    train_classifier = family_function("train_classifier", spec.family)

    table = load("isic_multiclass", settings.image_size)
    named = [class_names[k] if 0 <= k < len(class_names) else None for k in table.labels]
    if named != table.frame["class_name"].tolist():
        raise DatasetError(
            SPLITS / "isic_multiclass.csv",
            f"labels do not follow split.isic_multiclass.classes {class_names}; rerun the split stage",
        )
    split = table.frame["split"].to_numpy()
    train_index = np.flatnonzero(split == "train")
    labels = table.labels[train_index]
    weights = class_weights.manual(
        labels, class_names, block.class_weights, list(block.class_weight_range), "isic.multiclass"
    )
    parts = {name: table.subset(split == name) for name in EVALUATED}

    with Live(str(plots / "training"), dvcyaml=False, save_dvc_exp=False) as live:
        live.step = 1
        data = TrainingData(table.images, train_index, labels, np.asarray(parts["val"].images), parts["val"].labels)
        trained = train_classifier(
            spec,
            settings,
            class_names,
            weights,
            data,
            seed,
            live,
            desc=f"{spec.name} multiclass",
            resume=run_resume(stage, "model", spec, settings, weights, seed, "isic_multiclass"),
        )

    probs = {name: trained.predict(np.asarray(part.images)) for name, part in parts.items()}
    run_info = run_block(spec.name, spec.family, trained.init_used, seed, config.data.profile, settings.image_size)
    trained.save(layout.checkpoint(entry, "multiclass"), trained_on="splits/isic_multiclass.csv split=train")
    for name, part in parts.items():
        write_csv(plots / f"predictions_{name}.csv", predictions_table(part.frame, probs[name], class_names))
        write_csv(plots / f"roc_{name}.csv", macro_roc_table(part.labels, probs[name]))
    report = multiclass_report(
        trained.fit,
        {name: (parts[name].labels, probs[name]) for name in EVALUATED},
        class_names,
        run_info,
        [float(w) for w in weights],
        settings.as_dict(),
    )
    write_json(layout.report(entry, "multiclass"), report)
    runlog.write(stage, speed={"train_images_per_second": trained.train_images_per_second})
    discard_stage(stage)


if __name__ == "__main__":
    run(main)
