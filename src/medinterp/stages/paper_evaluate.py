"""Stage ``paper_evaluate``: Table 2 on BreCaHAD (section 4.4), every backbone and variant.

``python -m medinterp.stages.paper_evaluate``. For each classifier of ``paper_classifier``: its
accuracy over all BreCaHAD test images, and for the images it classifies correctly (all are
malignant) Grad-CAM of the malignant logit at ``paper.evaluate.gradcam_layer`` (default: the
registry's last convolutional feature map), Otsu masks and the IRA of the ``paper.evaluate.points``
annotations; conventions in :mod:`medinterp.interpret.gradcam` and :mod:`medinterp.interpret.ira`.
Variants that were one training run are evaluated once. Writes:

- ``metrics/table2.json``: ``<backbone>.<variant>.{accuracy, ira, sd_ira, irm, mask_area, ...}``, the
  conventions used under ``evaluation.<backbone>``, and the ``seed``;
- ``metrics/paper/ira/<backbone>/<variant>.csv``: one line per test image;
- ``plots/paper/overlays/<backbone>/<variant>.png``: the first ``paper.evaluate.overlays`` images
  with heatmap and mask (Figs. 9-11).
"""

from __future__ import annotations

import json
from pathlib import Path

from medinterp import params as P
from medinterp.datasets.images import read_rgb
from medinterp.io import write_csv, write_json
from medinterp.models.keras.adapter import KerasAdapter
from medinterp.models.keras.backbones import build_backbone
from medinterp.models.keras.checkpoints import load_weights
from medinterp.models.keras.classifier import build_classifier
from medinterp.models.keras.training import configure_tensorflow
from medinterp.paper import artifacts as A
from medinterp.paper import data
from medinterp.paper.evaluate import RowResult, evaluate
from medinterp.paper.overlays import overlay_figure, overlay_panels
from medinterp.stages import run


def main() -> None:
    params = P.load()
    data_root = Path(params.data.root)
    table2: dict = {}
    conventions: dict = {}
    for backbone in params.paper.backbones:
        spec, s = params.paper_for(backbone)
        configure_tensorflow(params.seed)
        test = data.brecahad(s.evaluate.image_size)
        images = data.as_float(test.images)
        points = data.points(test, data_root, s.evaluate.points)
        pictures = {i: read_rgb(data_root / test.frame["image"].iloc[i]) for i in range(min(s.evaluate.overlays, len(test)))}
        encoder, _ = build_backbone(spec, s.evaluate.image_size, "random")   # trained weights fit any input size
        adapter = KerasAdapter(build_classifier(encoder, s.classifier.head_units, s.classifier.dropout))
        runs, rows = s.runs(), {}
        for name in dict.fromkeys(runs.values()):
            load_weights(adapter.model, A.classifier_path(backbone, name, ".weights.h5"))
            result = evaluate(adapter, images, test.frame, points, s.evaluate.gradcam_layer, s.evaluate.constant_heatmap,
                              set(pictures))
            panels = overlay_panels(result, test.frame, points, pictures)
            for member in (v.name for v in s.variant_list if runs[v.name] == name):
                rows[member] = _row(backbone, member, result)
                write_csv(A.ira_csv(backbone, member), result.per_image)
                title = f"{backbone}, {member}" + ("" if member == name else f" (same run as {name})")
                overlay_figure(A.overlay_png(backbone, member), f"{title}: Grad-CAM and Otsu mask", panels)
        table2[backbone] = rows
        conventions[backbone] = {"image_size": s.evaluate.image_size, "gradcam_layer": s.evaluate.gradcam_layer,
                                 "points": list(s.evaluate.points), "constant_heatmap": s.evaluate.constant_heatmap}
    table2["evaluation"] = conventions
    table2["seed"] = params.seed
    write_json(A.TABLE2, table2)


def _row(backbone: str, variant: str, result: RowResult) -> dict:
    """A Table 2 row: what the variant is, how it really started, and its figures."""
    meta = json.loads(A.classifier_path(backbone, variant, ".json").read_text(encoding="utf-8"))
    return {**meta["params"]["variant"], "weights_used": meta["init_used"], **result.summary}


if __name__ == "__main__":
    run(main)
