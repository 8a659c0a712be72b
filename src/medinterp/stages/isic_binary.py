"""Stage ``isic_binary@<entry>``: the thesis's binary task (benign vs malignant) for one entry of ``models``.

``python -m medinterp.stages.isic_binary <entry>``. Stratified 5-fold cross-validation over the
``fold`` column of ``splits/isic_binary.csv``: fold k's model trains on the other folds (seed
``seed + k``) and validates on fold k; every fold's model is also tested on the ISIC 2016 test set,
and the fold with the best ``isic.binary.best_fold_by`` becomes the task's model.

Trains the entry in its family (torchvision or Keras). Outputs (paths in ``medinterp.isic.layout``):
``models/isic/<entry>/binary/checkpoint.npz`` (see ``models.checkpoint``),
``metrics/isic/<entry>/binary.json``, and under ``plots/isic/<entry>/binary/``: ``training/``
(dvclive curves per fold), ``predictions_val.csv`` (out-of-fold), ``predictions_test.csv`` (the
kept model on ISIC 2016), ``roc_val.csv`` and ``roc_test.csv``.

Each fold's training resumes from its last completed epoch after an interruption, and a finished
fold is not trained again (``.resume/isic_binary@<entry>/fold<k>.pkl``, ``medinterp.training.resume``).
"""

from __future__ import annotations

import numpy as np

from medinterp import params, runlog
from medinterp.evaluation.curves import roc_table
from medinterp.io import write_csv, write_json
from medinterp.isic import layout
from medinterp.isic.crossval import cross_validate
from medinterp.isic.predictions import predictions_table
from medinterp.isic.reports import binary_report, run_block
from medinterp.models.families import family_function
from medinterp.preprocessing.arrays import load
from medinterp.splits.isic import BINARY_CLASSES
from medinterp.stages import foreach_item, run
from medinterp.training import class_weights
from medinterp.training.classifier import TrainingData, run_resume
from medinterp.training.resume import discard_stage


def main() -> None:
    entry, config = foreach_item("models"), params.load()
    stage = f"isic_binary@{entry}"
    spec, settings, seed = config.model_spec(entry), config.isic_task("binary", entry), config.seed
    plots = layout.plots(entry, "binary")
    # a framework takes seconds to import: only once the params are known to be usable
    from dvclive import Live

    train_classifier = family_function("train_classifier", spec.family)

    table = load("isic_binary", settings.image_size)
    test = load("isic2016_test", settings.image_size)
    class_names = list(BINARY_CLASSES)

    with Live(str(plots / "training"), dvcyaml=False, save_dvc_exp=False) as live:

        def train_fold(fold: int, train_index: np.ndarray, val_index: np.ndarray):
            live.step = 1  # each fold's curves start at epoch 1
            labels = table.labels[train_index]
            weights = class_weights.balanced(labels, len(class_names))
            data = TrainingData(
                table.images, train_index, labels, np.asarray(table.images[val_index]), table.labels[val_index]
            )
            return train_classifier(
                spec,
                settings,
                class_names,
                weights,
                data,
                seed + fold,
                live,
                prefix=f"fold{fold}/",
                desc=f"{spec.name} binary fold {fold}",
                resume=run_resume(stage, f"fold{fold}", spec, settings, weights, seed + fold, "isic_binary"),
            )

        cv = cross_validate(table, test, class_names, train_fold, config.isic.binary.best_fold_by)

    best = cv.best
    run_info = run_block(spec.name, spec.family, best.init_used, seed, config.data.profile, settings.image_size)
    best.save(
        layout.checkpoint(entry, "binary"),
        fold=cv.best_fold,
        trained_on=f"splits/isic_binary.csv folds other than {cv.best_fold}",
    )
    write_csv(
        plots / "predictions_val.csv",
        predictions_table(table.frame, cv.val_prob, class_names, {"fold": table.frame["fold"]}),
    )
    write_csv(plots / "predictions_test.csv", predictions_table(test.frame, cv.test_prob, class_names))
    write_csv(plots / "roc_val.csv", roc_table(table.labels, cv.val_prob))
    write_csv(plots / "roc_test.csv", roc_table(test.labels, cv.test_prob))
    write_json(
        layout.report(entry, "binary"), binary_report(cv, test.labels, class_names, run_info, settings.as_dict())
    )
    runlog.write(
        stage, speed={"train_images_per_second": {f"fold{k}": v for k, v in enumerate(cv.train_images_per_second)}}
    )
    discard_stage(stage)


if __name__ == "__main__":
    run(main)
