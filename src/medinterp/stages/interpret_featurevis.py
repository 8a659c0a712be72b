"""Stage ``interpret_featurevis``: feature visualization of the binary model's first and last
convolutional layers (thesis sections 4.4.2-4.4.3 and 6.4.1, Table 3, Figs. 27-30); see
``medinterp.interpret.featurevis`` for the optimizer and ``pipeline.featurevis_report`` for what
is visualized.

Outputs under ``plots/interpret/``: ``featurevis_pretrained.png`` (the network before fine-tuning,
Fig. 27), ``featurevis_finetuned.png`` (Fig. 28), ``featurevis_unregularized.png`` (Fig. 29),
``featurevis_classes.png`` (each class's filters, Fig. 30) and ``featurevis_class_scores.png``
(each class's logit); ``metrics/interpret/featurevis.csv`` (one row per visualization: its
objective at the noise start and at the end) and ``metrics/interpret/featurevis.json`` (settings
; seconds per visualization go to ``logs/interpret_featurevis.json``).
"""

from __future__ import annotations

from medinterp import params as P
from medinterp import registry
from medinterp import runlog
from medinterp.interpret.featurevis import settings_from_params
from medinterp.interpret.figures import save
from medinterp.interpret.pipeline import BINARY, CHECKPOINTS, METRICS, PLOTS, binary_validation, featurevis_report, image_set
from medinterp.io import write_csv, write_json
from medinterp.models import load_adapter
from medinterp.models.checkpoint import path_in
from medinterp.stages import run


def main() -> None:
    params = P.load()
    interpret = params.interpret_settings()
    settings = settings_from_params(interpret.featurevis, params.seed)
    top_n = interpret.featurevis.top_n
    path = path_in(CHECKPOINTS["binary"])
    finetuned, info = load_adapter(path)
    pretrained, _ = load_adapter(path, initial=True)
    spec = registry.get(info["architecture"], info["family"])
    layers = [spec.first_conv_layer, spec.last_conv_layer]

    report = featurevis_report(finetuned, pretrained, layers, image_set(BINARY, binary_validation(), info["class_names"]),
                               interpret.filters.quantile, top_n, int(info["image_size"]), settings,
                               spec.name, info["init_used"], interpret.batch_size)

    for name, figure in report.figures.items():
        save(figure, PLOTS / f"featurevis_{name}.png")
    write_csv(METRICS / "featurevis.csv", report.table)
    write_json(METRICS / "featurevis.json", {
        "model": spec.name, "family": spec.family, "init_used": info["init_used"], "checkpoint": str(path), "layers": layers,
        "image_size": int(info["image_size"]), "top_n": top_n, "steps": settings.steps, "seed": settings.seed,
        "visualizations": len(report.table),
        "groups": {group: {"visualizations": entry["visualizations"]} for group, entry in report.timing.items()},
    })
    seconds = sum(group["seconds"] for group in report.timing.values())
    runlog.write("interpret_featurevis", speed={"seconds": seconds, "seconds_per_visualization": seconds / len(report.table),
                                                "groups": report.timing})


if __name__ == "__main__":
    run(main)
