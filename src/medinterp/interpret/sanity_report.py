"""What the ``interpret_sanity`` stage writes: the empirical sanity checks of feature visualization
on a binary model (thesis sections 4.4.4 and 5.4.2, Figs. 33-37); :mod:`medinterp.interpret.sanity`
has the measures."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from medinterp.errors import ConfigError
from medinterp.interpret.adapter import ModelAdapter
from medinterp.interpret.featurevis import Settings
from medinterp.interpret.figures import correlation_heatmap, save, similarity_plot
from medinterp.interpret.image_sets import BINARY, ImageSet, Subject, image_set
from medinterp.interpret.layout import metrics_dir, plots_dir
from medinterp.interpret.sanity import class_visualizations, featurevis_layer_matrix, natural_vs_featurevis, pick_layers
from medinterp.io import write_csv, write_json
from medinterp.params import Interpret


def natural_rows(labels: np.ndarray, class_index: int, count: int, seed: int) -> np.ndarray:
    """At most ``count`` rows of class ``class_index``, drawn at random (seeded), in table order."""
    members = np.flatnonzero(np.asarray(labels) == class_index)
    if len(members) == 0:
        raise ConfigError(f"no validation images of class {class_index} for the sanity check")
    if len(members) <= count:
        return members
    return np.sort(np.random.default_rng(seed).choice(members, size=count, replace=False))


def sanity_report(
    adapter: ModelAdapter,
    images: ImageSet,
    class_name: str,
    layer_count: int | str | None,
    natural_count: int,
    quantile: float,
    top_n: int,
    image_size: int,
    settings: Settings,
    seed: int,
    batch_size: int = 32,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For class ``class_name``: per picked layer, the class's ``top_n`` filters visualized and
    their path similarity with ``natural_count`` natural images of the class (Figs. 33-35,
    ``class, layer_index, layer, filters, featurevis_vs_natural, natural_vs_natural, featurevis,
    natural``), and the layer x layer matrix of those visualizations (Figs. 36-37)."""
    if class_name not in images.class_names:
        raise ConfigError(
            f"params.yaml: interpret.sanity.class is '{class_name}', expected one of {images.class_names}"
        )
    class_index = images.class_names.index(class_name)
    layers = pick_layers(adapter.conv_layers(), layer_count)
    vis = class_visualizations(
        adapter,
        layers,
        images.images,
        images.labels,
        class_index,
        quantile,
        top_n,
        image_size,
        settings,
        batch_size,
        progress,
    )
    natural = images.images[natural_rows(images.labels, class_index, natural_count, seed)]
    frame = natural_vs_featurevis(adapter, natural, {layer: v.images for layer, v in vis.items()}, batch_size)
    frame.insert(0, "class", class_name)
    frame.insert(3, "filters", [", ".join(str(t) for t in vis[layer].targets) for layer in frame["layer"]])
    return frame, featurevis_layer_matrix({layer: v.images for layer, v in vis.items()})


def write_sanity(subject: Subject, interpret: Interpret, settings: Settings, seed: int) -> dict:
    """Figs. 33-37 (``sanity_*.png``), ``sanity_similarity.csv``, ``sanity_layers.csv`` and
    ``sanity.json``; returns the timing for the run log."""
    block = interpret.sanity
    start = time.perf_counter()
    similarity, matrix = sanity_report(
        subject.finetuned,
        image_set(BINARY, subject.validation, subject.class_names),
        block.class_,
        block.layers,
        block.natural_images,
        interpret.filters.quantile,
        block.top_n,
        subject.image_size,
        settings,
        seed,
        interpret.batch_size,
    )
    seconds = time.perf_counter() - start
    folder, plots = metrics_dir(subject.name), plots_dir(subject.name)
    write_csv(folder / "sanity_similarity.csv", similarity)
    write_csv(folder / "sanity_layers.csv", matrix.reset_index())
    write_json(
        folder / "sanity.json",
        {
            "model": subject.model,
            "family": subject.family,
            "init_used": subject.init_used,
            "checkpoint": subject.checkpoint,
            "class": block.class_,
            "layers": len(similarity),
            "top_n": block.top_n,
            "steps": settings.steps,
            "natural_images": int(similarity["natural"].iloc[0]),
            "featurevis_vs_natural_mean": float(similarity["featurevis_vs_natural"].mean()),
            "natural_vs_natural_mean": float(similarity["natural_vs_natural"].mean()),
        },
    )
    save(
        similarity_plot(
            similarity,
            f"{subject.model} fine-tuned (binary), class {block.class_}\nSpearman's rho between a layer's activations",
        ),
        plots / "sanity_similarity.png",
    )
    save(
        correlation_heatmap(
            matrix, f"{subject.model}: feature visualizations made for\ntwo layers (pixel Spearman's rho, mean)"
        ),
        plots / "sanity_layers.png",
    )
    return {"seconds": seconds}
