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
"""

from __future__ import annotations

import sys

from dvclive import Live
from PIL import Image

from medinterp import params as P
from medinterp import runlog
from medinterp.export import metadata as M
from medinterp.io import write_json
from medinterp.paper import artifacts as A
from medinterp.paper import data
from medinterp.paper.figures import reconstruction_grid
from medinterp.paper.training import batches, start_from, training_setup
from medinterp.stages import run
from medinterp.training.loop import FitConfig, fit


def main() -> None:
    backbone = sys.argv[1]
    params = P.load()
    spec, s, seed, train, val, nets, encoder = training_setup(params, backbone)
    val_x = data.as_float(val.images)
    model = nets.build_autoencoder(encoder, s.autoencoder.decoder_filters)
    initial = nets.get_weights(model)
    trainer = nets.trainable(model, nets.reconstruction_loss(), s.autoencoder.optimizer, s.autoencoder.learning_rate,
                             val_x, val_x, s.batch_size)   # batches: per run
    exporter = nets.exporter(encoder, "features")
    shown = val.images[: s.autoencoder.reconstructions]
    report, measured = {}, {}
    live = Live(str(A.PLOTS / backbone / "autoencoder"), dvcyaml=False, save_dvc_exp=False)
    for tag in s.encoder_tags():
        used = start_from(nets, model, initial, encoder, spec, s.image_size, "random" if tag == "random" else s.weights)
        trainer.restart(batches(train, None, s.batch_size, seed, balance=False, augment=s.augment))
        live.step = 0
        result = fit(trainer, FitConfig.of(s.autoencoder), live, prefix=f"{tag}/", desc=f"{backbone} autoencoder ({tag})")
        grid = reconstruction_grid(shown, trainer.predict(data.as_float(shown)))
        live.log_image(f"{tag}/reconstructions.png", Image.fromarray(grid))
        nets.save_weights(encoder, A.encoder_path(backbone, tag, nets.weights_suffix))
        summary = {"weights_requested": tag, "weights_used": used, **A.fit_summary(result)}
        meta = A.onnx_metadata(spec, "encoder", tag, s.image_size, used, summary,
                               {"seed": seed, "data.profile": params.data.profile, "paper": s.as_dict(backbone, "autoencoder")}, nets.framework(),
                               M.provenance(__spec__.name, [A.ARRAYS, A.SPLIT]))
        summary["onnx_parity"], measured[tag] = exporter.export(A.encoder_path(backbone, tag, ".onnx"), meta, val_x, s.parity_tolerance)
        report[tag] = summary
    live.end()
    write_json(A.METRICS / backbone / "autoencoder.json", {**report, "seed": seed, "settings": s.as_dict(backbone, "autoencoder")})
    runlog.write(f"paper_autoencoder@{backbone}", onnx_parity=measured)

if __name__ == "__main__":
    run(main)
