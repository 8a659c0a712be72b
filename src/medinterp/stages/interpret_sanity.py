"""Stage ``interpret_sanity``: the empirical sanity checks of feature visualization on the binary
model (thesis sections 4.4.4 and 5.4.2, Figs. 33-37); see ``medinterp.interpret.sanity``.

For the class ``interpret.sanity.class`` (the thesis: malignant) and ``interpret.sanity.layers``
convolutional layers spread from the first to the last, the class's ``top_n`` filters of each layer
are visualized and compared with the class's natural validation images.

Outputs: ``metrics/interpret/sanity_similarity.csv`` (per layer: Spearman's rho between the
activations of visualizations and natural images, and between natural images),
``metrics/interpret/sanity_layers.csv`` (the layer x layer matrix of the visualizations),
``metrics/interpret/sanity.json`` (settings, time) and the plots ``plots/interpret/sanity_similarity.png``
(Figs. 33-35) and ``plots/interpret/sanity_layers.png`` (Figs. 36-37).
"""

from __future__ import annotations

import time

from medinterp import params as P
from medinterp import runlog
from medinterp.interpret.featurevis import settings_from_params
from medinterp.interpret.figures import correlation_heatmap, save, similarity_plot
from medinterp.interpret.pipeline import BINARY, CHECKPOINTS, METRICS, PLOTS, binary_validation, image_set, sanity_report
from medinterp.io import write_csv, write_json
from medinterp.models import load_adapter
from medinterp.models.checkpoint import path_in
from medinterp.stages import run


def main() -> None:
    params = P.load()
    seed, interpret = params.seed, params.interpret_settings()
    block = interpret.sanity
    settings = settings_from_params(interpret.featurevis, seed)
    path = path_in(CHECKPOINTS["binary"])
    adapter, info = load_adapter(path)

    start = time.perf_counter()
    similarity, matrix = sanity_report(
        adapter, image_set(BINARY, binary_validation(), info["class_names"]), block.class_, block.layers,
        block.natural_images, interpret.filters.quantile, block.top_n,
        int(info["image_size"]), settings, seed, interpret.batch_size,
    )
    seconds = time.perf_counter() - start

    model = info["architecture"]
    write_csv(METRICS / "sanity_similarity.csv", similarity)
    write_csv(METRICS / "sanity_layers.csv", matrix.reset_index())
    write_json(METRICS / "sanity.json", {
        "model": model, "family": info["family"], "init_used": info["init_used"], "checkpoint": str(path),
        "class": block.class_, "layers": len(similarity), "top_n": block.top_n, "steps": settings.steps,
        "natural_images": int(similarity["natural"].iloc[0]),
        "featurevis_vs_natural_mean": float(similarity["featurevis_vs_natural"].mean()),
        "natural_vs_natural_mean": float(similarity["natural_vs_natural"].mean()),
    })
    save(similarity_plot(similarity, f"{model} fine-tuned (binary), class {block.class_}\n"
                                     "Spearman's rho between a layer's activations"), PLOTS / "sanity_similarity.png")
    runlog.write("interpret_sanity", speed={"seconds": seconds})
    save(correlation_heatmap(matrix, f"{model}: feature visualizations made for\ntwo layers (pixel Spearman's rho, mean)"),
         PLOTS / "sanity_layers.png")


if __name__ == "__main__":
    run(main)
