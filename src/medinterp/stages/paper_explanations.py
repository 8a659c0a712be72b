"""Stage ``paper_explanations``: explanation methods compared by IRA on every paper classifier.

``python -m medinterp.stages.paper_explanations``. For every backbone of ``paper.backbones`` and
variant of ``paper.variants`` (one evaluation per training run), on the BreCaHAD images it gets
right: every method of ``explanations.methods`` (seven class activation maps and two baselines),
scored by IRA, SD-IRA, IRM, IRA lift, pointing game, relevance mass accuracy and top-k
intersection, and the cascading model-parameter randomization test
(:mod:`medinterp.paper.explanations`, docs/explanations.md). Writes:

- ``metrics/explanations.json``: ``<backbone>.<variant>.<method>.<metric>`` and the conventions used;
- ``metrics/randomization.json``: ``<backbone>.<variant>.<method>.{fails, final_spearman, final_ssim,
  steps.step<k>.{layers_randomized, share_randomized, spearman, ssim, ira}}``;
- ``metrics/paper/explanations/<backbone>/<variant>.csv`` (per method and image) and
  ``<variant>_randomization.csv`` (per step, method and image);
- ``plots/paper/explanations/<backbone>/<variant>/``: ``methods.png`` (methods x images),
  ``randomization.png`` and ``randomization.csv`` (the curves, for ``dvc plots``);
- ``logs/paper_explanations.json``: seconds per method and image on this machine (not tracked).
"""

from __future__ import annotations

import pandas as pd

from medinterp import params, runlog
from medinterp.interpret import figures, layout
from medinterp.io import write_csv, write_json
from medinterp.paper.explanations import explain_all
from medinterp.stages import run


def main() -> None:
    config = params.load()
    settings = config.explanation_settings()
    found = explain_all(config)
    explanations: dict = {}
    randomization: dict = {}
    for backbone, result in found.items():
        explanations[backbone] = result.summaries
        randomization[backbone] = result.randomization
        for variant, frame in result.per_image.items():
            write_csv(layout.explanations_csv(backbone, variant), frame)
            curves = result.curves[variant]
            write_csv(layout.explanations_csv(backbone, variant, "_randomization"), curves)
            grid = result.grids[variant]
            scores = {
                m: [
                    None if pd.isna(v) else float(v)
                    for v in frame.loc[frame["method"] == m, "ira"].iloc[: len(grid.names)]
                ]
                for m in grid.heatmaps
            }
            figures.save(
                figures.method_grid(
                    grid.pictures,
                    grid.names,
                    grid.points,
                    grid.heatmaps,
                    scores,
                    f"{backbone}, {variant}: heatmaps of each method (points: tumour)",
                ),
                layout.explanations_plot(backbone, variant, "methods.png"),
                dpi=72,
                colours=128,
            )
            if len(curves):
                means = (
                    curves.groupby(["method", "step"], sort=False)[
                        ["layers_randomized", "share_randomized", "spearman", "ssim", "ira"]
                    ]
                    .mean()
                    .reset_index()
                )
                write_csv(layout.explanations_plot(backbone, variant, "randomization.csv"), means)
                figures.save(
                    figures.randomization_curves(
                        curves, f"{backbone}, {variant}: cascading randomization", settings.randomization.max_spearman
                    ),
                    layout.explanations_plot(backbone, variant, "randomization.png"),
                )
    conventions = {backbone: result.conventions for backbone, result in found.items()}
    write_json(layout.EXPLANATIONS, {**explanations, "conventions": conventions, "seed": config.seed})
    write_json(layout.RANDOMIZATION, {**randomization, "conventions": conventions, "seed": config.seed})
    runlog.write(
        "paper_explanations",
        seconds_per_image={backbone: result.seconds_per_image for backbone, result in found.items()},
    )


if __name__ == "__main__":
    run(main)
