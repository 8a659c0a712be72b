"""The explanation benchmark on the paper's classifiers (stage ``paper_explanations``).

For each backbone and training run (:class:`medinterp.paper.bench.EvaluationBench`): the first
``explanations.images`` BreCaHAD images of ``explanations.images_from`` (``correct``: those it
classifies malignant, as all are, as Table 2; ``all``: whatever its prediction), every method
of ``explanations.methods`` for the malignant logit at ``paper.evaluate.gradcam_layer``, scored by
:func:`medinterp.interpret.benchmark.score`, and the randomization test on the first
``explanations.randomization.images`` of them. With the Grad-CAM conventions of Table 2, the
``gradcam`` row's IRA is Table 2's IRA over the same images (every correct one with ``images: all``).
The caller writes every file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from medinterp.datasets.images import read_rgb
from medinterp.interpret import benchmark, gradcam, localisation
from medinterp.interpret.benchmark import Images, MethodOptions
from medinterp.paper.bench import evaluation_bench
from medinterp.paper.evaluate import MALIGNANT, THRESHOLD
from medinterp.paper.processes import per_family
from medinterp.params import Params

DISPLAY_STEP = 8  # BreCaHAD's 1360 x 1024 drawn at an eighth of its side: the grid stays a small PNG in git


@dataclass
class Grid:
    """What the comparison figure of one run shows: a few images and each method's heatmap over them."""

    names: list[str]
    pictures: list[np.ndarray]  # (h, w, 3) uint8 at display size
    points: list[np.ndarray]
    heatmaps: dict[str, list[np.ndarray]]  # method -> per image, (h, w) in [0, 1] at display size


@dataclass
class BackboneExplanations:
    summaries: dict[str, dict] = field(default_factory=dict)  # variant -> method -> metrics
    randomization: dict[str, dict] = field(default_factory=dict)  # variant -> method -> curve summary
    per_image: dict[str, pd.DataFrame] = field(default_factory=dict)
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    grids: dict[str, Grid] = field(default_factory=dict)
    seconds_per_image: dict[str, dict[str, float]] = field(default_factory=dict)  # run -> method -> s
    conventions: dict = field(default_factory=dict)


def explain_all(params: Params) -> dict[str, BackboneExplanations]:
    """Every backbone of ``paper.backbones``, each family in its own process."""
    return per_family(params, explain_backbone)


def explain_backbone(params: Params, backbone: str) -> BackboneExplanations:
    bench = evaluation_bench(params, backbone)
    e, s = params.explanation_settings(), bench.settings
    layer = s.evaluate.gradcam_layer
    options = MethodOptions(
        params.seed, None if e.scorecam.channels == "all" else e.scorecam.channels, e.scorecam.batch_size
    )
    limit = None if e.images == "all" else e.images
    out = BackboneExplanations(
        conventions={
            "layer": layer,
            "image_size": s.evaluate.image_size,
            "points": list(s.evaluate.points),
            "constant_heatmap": s.evaluate.constant_heatmap,
            "radius": e.radius,
            "top_k": e.top_k,
            "images_from": e.images_from,
            "images": e.images,
            "scorecam_channels": e.scorecam.channels,
            "randomization_steps": e.randomization.steps,
            "randomization_images": e.randomization.images,
            "max_spearman": e.randomization.max_spearman,
        }
    )
    labels = bench.frame["label"].to_numpy()
    for name, members in bench.runs():
        logits = bench.adapter.scores(bench.images)[:, 0]  # the classifiers' single logit is the malignant one
        correct = (expit(np.asarray(logits, dtype=np.float64)) >= THRESHOLD) & (labels == MALIGNANT)
        chosen = np.flatnonzero(correct if e.images_from == "correct" else np.ones_like(correct))[:limit]
        images = Images(
            bench.images[chosen],
            [int(i) for i in chosen],
            [int(bench.frame["height"].iloc[i]) for i in chosen],
            [int(bench.frame["width"].iloc[i]) for i in chosen],
            [bench.points[i] for i in chosen],
        )
        start = time.perf_counter()
        if len(chosen):
            acts, grads, _ = bench.adapter.gradcam_parts(images.inputs, layer, MALIGNANT)
            pass_seconds = (time.perf_counter() - start) / len(chosen)
            maps, seconds = benchmark.class_maps(bench.adapter, images, acts, grads, MALIGNANT, e.methods, options)
        else:  # nothing to explain (no image classified right): every metric comes out None
            pass_seconds, maps, seconds = None, {m: np.zeros((0, 1, 1)) for m in e.methods}, {}
        scores = benchmark.score(maps, images, e.radius, e.top_k, s.evaluate.constant_heatmap)
        names = [Path(bench.frame["image"].iloc[i]).name for i in chosen]
        count = len(chosen) if e.randomization.images == "all" else min(len(chosen), e.randomization.images)
        curves = (
            benchmark.randomization(
                bench.adapter,
                images.subset(count),
                {m: v[:count] for m, v in maps.items()},
                layer,
                MALIGNANT,
                options,
                e.randomization.steps,
                s.evaluate.constant_heatmap,
            )
            if count
            else pd.DataFrame()
        )
        shared = {
            "images": int(len(bench.images)),
            "images_correct": int(correct.sum()),
            "images_explained": int(len(chosen)),
            "images_correct_explained": int(correct[chosen].sum()),
        }
        summaries = {m: {**shared, **localisation.summarise(results)} for m, results in scores.items()}
        randomized = (
            benchmark.randomization_summary(curves, e.randomization.max_spearman)
            if count
            else {m: {"fails": None, "final_spearman": None, "final_ssim": None, "steps": {}} for m in e.methods}
        )
        grid = _grid(params, bench.frame, images, names, maps, e.figure_images)
        out.seconds_per_image[name] = {m: (seconds[m] / len(chosen) if len(chosen) else None) for m in e.methods} | {
            "forward_backward_pass": pass_seconds
        }
        for member in members:
            out.summaries[member] = summaries
            out.randomization[member] = randomized
            out.per_image[member] = benchmark.per_image_frame(scores, names)
            out.curves[member] = curves
            out.grids[member] = grid
    return out


def _grid(
    params: Params, frame: pd.DataFrame, images: Images, names: list[str], maps: dict[str, np.ndarray], count: int
) -> Grid:
    shown = range(min(count, len(images.indices)))
    pictures = [
        read_rgb(Path(params.data.root) / frame["image"].iloc[images.indices[i]])[::DISPLAY_STEP, ::DISPLAY_STEP]
        for i in shown
    ]
    heatmaps = {m: [gradcam.heatmap(maps[m][i], *pictures[k].shape[:2]) for k, i in enumerate(shown)] for m in maps}
    return Grid([names[i] for i in shown], pictures, [images.points[i] for i in shown], heatmaps)
