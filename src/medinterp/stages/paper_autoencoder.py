"""Stage ``paper_autoencoder@<backbone>``: the paper's autoencoder pre-training (sections 3.1-3.2).

``python -m medinterp.stages.paper_autoencoder <backbone>``. Trains the backbone as the encoder of
an autoencoder on the BreakHis training split (binary cross-entropy, kept epoch by validation loss),
once per starting point the encoder variants need (``random``, and ``imagenet`` unless
``paper.weights`` is ``random``), all on one model object (Keras: with one traced step), in the
backbone's family (``medinterp.paper.networks``). Writes, per starting point ``<tag>``:

- ``models/paper/<backbone>/autoencoder/encoder-<tag>.weights.h5`` (Keras; ``.npz`` for torch):
  the encoder's weights;
- ``.../encoder-<tag>.onnx`` (+ ``.json``): the encoder, input [0, 1] NHWC, output the feature map;
- ``plots/paper/<backbone>/autoencoder/``: dvclive, ``plots/metrics/<tag>/`` (train/val loss per
  epoch) and ``plots/images/<tag>/reconstructions.png`` (validation images over their reconstructions);

and ``metrics/paper/<backbone>/autoencoder.json``: per tag the weights really used, the kept epoch,
its losses and the ONNX parity, plus the resolved settings and the seed.

An interrupted run resumes from its last completed epoch (``medinterp.training.resume``); the
networks train in ``paper.precision`` and are exported in float32.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dvclive import Live
from PIL import Image

from medinterp import params, runlog
from medinterp.export import metadata
from medinterp.io import write_json
from medinterp.paper import artifacts, data
from medinterp.paper.figures import reconstruction_grid
from medinterp.paper.training import batches, precision_scope, run_resume, start_from, training_setup
from medinterp.stages import run
from medinterp.training.loop import FitConfig, fit
from medinterp.training.resume import discard_stage


def main() -> None:
    backbone = sys.argv[1]
    stage = f"paper_autoencoder@{backbone}"
    config = params.load()
    spec, s, seed, train, val, nets, encoder = training_setup(config, backbone)
    val_x = data.as_float(val.images)
    with precision_scope(spec, s):
        model = nets.build_autoencoder(encoder, s.autoencoder.decoder_filters)
    initial = nets.get_weights(model)
    trainer = nets.trainable(
        model,
        nets.reconstruction_loss(),
        s.autoencoder.optimizer,
        s.autoencoder.learning_rate,
        val_x,
        val_x,
        s.batch_size,
    )  # batches: per run
    # the ONNX files hold float32 networks: a float32 copy of a mixed-precision encoder is exported
    exported = encoder if s.precision == "fp32" else nets.build_encoder(spec, s.image_size, "random")[0]
    exporter = nets.exporter(exported, "features")
    shown = val.images[: s.autoencoder.reconstructions]
    report, measured = {}, {}
    live = Live(str(artifacts.PLOTS / backbone / "autoencoder"), dvcyaml=False, save_dvc_exp=False)
    for tag in s.encoder_tags():
        used = start_from(nets, model, initial, encoder, spec, s.image_size, "random" if tag == "random" else s.weights)
        trainer.restart(batches(train, None, s.batch_size, seed, balance=False, augment=s.augment))
        starts_from = [s.weights] if tag != "random" and Path(s.weights).is_file() else []
        resume = run_resume(
            stage, tag, {**s.as_dict(backbone, "autoencoder"), "weights_used": used}, seed, *starts_from
        )
        live.step = 0
        result = fit(
            trainer,
            FitConfig.of(s.autoencoder),
            live,
            prefix=f"{tag}/",
            desc=f"{backbone} autoencoder ({tag})",
            resume=resume,
        )
        grid = reconstruction_grid(shown, trainer.predict(data.as_float(shown)))
        live.log_image(f"{tag}/reconstructions.png", Image.fromarray(grid))
        nets.save_weights(encoder, artifacts.encoder_path(backbone, tag, nets.weights_suffix))
        summary = {"weights_requested": tag, "weights_used": used, **artifacts.fit_summary(result)}
        meta = artifacts.onnx_metadata(
            spec,
            "encoder",
            tag,
            s.image_size,
            used,
            summary,
            {"seed": seed, "data.profile": config.data.profile, "paper": s.as_dict(backbone, "autoencoder")},
            nets.framework(),
            metadata.provenance(__spec__.name, [artifacts.ARRAYS, artifacts.SPLIT]),
        )
        if exported is not encoder:
            nets.set_weights(exported, nets.get_weights(encoder))
        summary["onnx_parity"], measured[tag] = exporter.export(
            artifacts.encoder_path(backbone, tag, ".onnx"), meta, val_x, s.parity_tolerance
        )
        report[tag] = summary
    live.end()
    write_json(
        artifacts.METRICS / backbone / "autoencoder.json",
        {**report, "seed": seed, "settings": s.as_dict(backbone, "autoencoder")},
    )
    runlog.write(stage, onnx_parity=measured)
    discard_stage(stage)


if __name__ == "__main__":
    run(main)
