"""Stage ``paper_classifier@<backbone>``: the paper's three classifier variants (section 4.3).

``python -m medinterp.stages.paper_classifier <backbone>``. A densely connected head on the
backbone, trained on the BreakHis training split with rotation and mirroring and the benign class
drawn up to the malignant count, the epoch kept by ``paper.classifier.monitor``:

- ``vanilla``: the backbone starts from ImageNet weights (as ``paper.weights`` gives them);
- ``encoder-imagenet`` / ``encoder-random``: the backbone starts from the encoder that
  ``paper_autoencoder`` pre-trained from ImageNet / random weights.

Variants that start identically (both encoder variants when ``paper.weights`` is ``random``) are
trained once; each still gets its files, and says ``same_run_as``. All runs share one model object
(Keras: and one traced step), in the backbone's family (``medinterp.paper.networks``). Writes, per
variant:

- ``models/paper/<backbone>/classifier/<variant>.weights.h5`` (Keras; ``.npz`` for torch);
- ``.../<variant>.onnx`` (+ ``.json``): input [0, 1] NHWC at ``paper.evaluate.image_size``, the size
  Table 2 runs BreCaHAD at (the network is fully convolutional up to its pooled head, so the weights
  trained at ``paper.image_size`` are the same network there), output ``logit`` (sigmoid:
  P(malignant)); so the artifact gives Table 2's probabilities. Parity is checked on the validation
  images resized to that size;

``plots/paper/<backbone>/classifier/`` (dvclive, ``plots/metrics/<run>/``: train/val loss, val
accuracy and ROC AUC, learning rate per epoch) and ``metrics/paper/<backbone>/classifier.json`` (per variant: training,
weights requested and really used, kept epoch and its metrics, ONNX parity; the settings, the seed).

An interrupted run resumes from its last completed epoch (``medinterp.training.resume``); the
networks train in ``paper.precision`` and are exported in float32.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from dvclive import Live
from scipy.special import expit

from medinterp import params, runlog
from medinterp.evaluation.classification import binary_metrics
from medinterp.export import metadata
from medinterp.io import copy_file, write_json
from medinterp.paper import artifacts, data
from medinterp.paper.networks import PaperNetworks
from medinterp.paper.training import batches, precision_scope, run_resume, start_from, training_setup
from medinterp.params import VARIANTS
from medinterp.stages import run
from medinterp.training.loop import FitConfig, fit
from medinterp.training.resume import discard_stage


def validation_metrics(labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    found = binary_metrics(labels.ravel(), expit(logits.ravel().astype(np.float64)))
    return {k: found[k] for k in ("accuracy", "roc_auc") if found[k] is not None}


def export_setup(nets: PaperNetworks, model, trainer, spec, s, val_x: np.ndarray):
    """The model the ONNX files are made from (``model`` itself when evaluation runs at the
    training size in float32, else the same float32 network at the evaluation size, given
    ``model``'s weights before each export where it is another object), its exporter, and the
    parity images at that size."""
    size = s.evaluate.image_size
    if size == s.image_size and s.precision == "fp32":
        return model, nets.exporter(model, "logit", trainer), val_x
    at_size = nets.classifier_at_size(model, spec, size, s.classifier.head_units, s.classifier.dropout)
    return at_size, nets.exporter(at_size, "logit"), nets.resize(val_x, size)


def main() -> None:
    backbone = sys.argv[1]
    stage = f"paper_classifier@{backbone}"
    config = params.load()
    spec, s, seed, train, val, nets, encoder = training_setup(config, backbone)
    val_x, val_y = data.as_float(val.images), val.labels.reshape(-1, 1).astype(np.float32)
    train_y = train.labels.reshape(-1, 1)
    with precision_scope(spec, s):
        model = nets.build_classifier(encoder, s.classifier.head_units, s.classifier.dropout)
    initial = nets.get_weights(model)
    trainer = nets.trainable(
        model,
        nets.classification_loss(),
        s.classifier.optimizer,
        s.classifier.learning_rate,
        val_x,
        val_y,
        s.batch_size,
        validation_metrics,
    )
    exported_model, exporter, parity_x = export_setup(nets, model, trainer, spec, s, val_x)
    runs = s.runs()
    report, measured = {}, {}
    live = Live(str(artifacts.PLOTS / backbone / "classifier"), dvcyaml=False, save_dvc_exp=False)
    for name in dict.fromkeys(runs.values()):
        variant = VARIANTS[name]
        if variant.autoencoder:
            tag = s.encoder_tag(variant)
            weights = artifacts.encoder_path(backbone, tag, nets.weights_suffix)
            nets.set_weights(model, initial)
            nets.load_weights(encoder, weights)
            inputs = [artifacts.ARRAYS, artifacts.SPLIT, weights]
            used = json.loads(artifacts.encoder_path(backbone, tag, ".json").read_text(encoding="utf-8"))["init_used"]
            starts_from = [weights]
        else:
            used = start_from(nets, model, initial, encoder, spec, s.image_size, s.init_for(variant.weights))
            inputs = [artifacts.ARRAYS, artifacts.SPLIT]
            starts_from = [used] if Path(used).is_file() else []
        trainer.restart(batches(train, train_y, s.batch_size, seed, s.classifier.balance_classes, s.augment))
        resume = run_resume(
            stage, name, {**s.as_dict(backbone, "classifier"), "weights_used": used}, seed, *starts_from
        )
        live.step = 0
        result = fit(
            trainer,
            FitConfig.of(s.classifier),
            live,
            prefix=f"{name}/",
            desc=f"{backbone} classifier ({name})",
            resume=resume,
        )
        summary = artifacts.fit_summary(result)
        exported = None
        for member in (v for v in s.variant_list if runs[v.name] == name):
            row = {
                "training": member.training,
                "weights_requested": member.weights,
                "weights_used": used,
                "same_run_as": None if member.name == name else name,
                **summary,
            }
            nets.save_weights(model, artifacts.classifier_path(backbone, member.name, nets.weights_suffix))
            meta = artifacts.onnx_metadata(
                spec,
                "classifier",
                member.name,
                s.evaluate.image_size,
                used,
                summary,
                {
                    "seed": seed,
                    "data.profile": config.data.profile,
                    "variant": {k: row[k] for k in ("training", "weights_requested", "same_run_as")},
                    "trained_at_image_size": s.image_size,
                    "paper": s.as_dict(backbone, "classifier"),
                },
                nets.framework(),
                metadata.provenance(__spec__.name, inputs),
            )
            path = artifacts.classifier_path(backbone, member.name, ".onnx")
            if exported is None:
                if exported_model is not model:
                    nets.set_weights(exported_model, nets.get_weights(model))
                record, measured[name] = exporter.export(path, meta, parity_x, s.parity_tolerance)
                exported = (path, record)
            else:  # the same network: copy the export, with this variant's metadata
                copy_file(exported[0], path)  # the first export is still pending in this stage's transaction
                metadata.attach(path, {**meta, "metrics": {**meta["metrics"], "onnx_parity": exported[1]}})
            report[member.name] = {**row, "onnx_parity": exported[1]}
    live.end()
    ordered = {v.name: report[v.name] for v in s.variant_list}
    write_json(
        artifacts.METRICS / backbone / "classifier.json",
        {**ordered, "seed": seed, "settings": s.as_dict(backbone, "classifier")},
    )
    runlog.write(stage, onnx_parity=measured)
    discard_stage(stage)


if __name__ == "__main__":
    run(main)
