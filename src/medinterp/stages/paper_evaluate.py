"""Stage ``paper_evaluate``: Table 2 on BreCaHAD (section 4.4), every backbone and variant.

``python -m medinterp.stages.paper_evaluate``. For each classifier of ``paper_classifier``: its
accuracy over all BreCaHAD test images, and for the images it classifies correctly (all are
malignant) Grad-CAM of the malignant logit at ``paper.evaluate.gradcam_layer`` (default: the
registry's last convolutional feature map), Otsu masks and the IRA of the ``paper.evaluate.points``
annotations; conventions in :mod:`medinterp.interpret.gradcam` and :mod:`medinterp.interpret.ira`.
Variants that were one training run are evaluated once. Each backbone runs in its own family
(``medinterp.paper.table2``: with backbones of both, each family in a process of its own). Writes:

- ``metrics/table2.json``: ``<backbone>.<variant>.{family, accuracy, ira, sd_ira, irm, mask_area, ...}``,
  the conventions used under ``evaluation.<backbone>``, and the ``seed``;
- ``metrics/paper/ira/<backbone>/<variant>.csv``: one line per test image;
- ``plots/paper/overlays/<backbone>/<variant>.png``: the first ``paper.evaluate.overlays`` images
  with heatmap and mask (Figs. 9-11).
"""

from __future__ import annotations

from medinterp import params
from medinterp.io import write_csv, write_json
from medinterp.paper import artifacts
from medinterp.paper.overlays import overlay_figure
from medinterp.paper.table2 import evaluate_all
from medinterp.stages import run


def main() -> None:
    config = params.load()
    tables = evaluate_all(config)
    for backbone, table in tables.items():
        for variant, per_image in table.per_image.items():
            write_csv(artifacts.ira_csv(backbone, variant), per_image)
        for variant, (title, panels) in table.overlays.items():
            overlay_figure(artifacts.overlay_png(backbone, variant), title, panels)
    table2: dict = {backbone: table.rows for backbone, table in tables.items()}
    table2["evaluation"] = {backbone: table.conventions for backbone, table in tables.items()}
    table2["seed"] = config.seed
    write_json(artifacts.TABLE2, table2)


if __name__ == "__main__":
    run(main)
