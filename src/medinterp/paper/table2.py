"""Table 2 for every backbone of ``paper.backbones``, each evaluated through its own family's networks
(:func:`medinterp.paper.processes.per_family`). The caller writes every file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from medinterp.datasets.images import read_rgb
from medinterp.paper import artifacts
from medinterp.paper.bench import evaluation_bench
from medinterp.paper.evaluate import RowResult, evaluate
from medinterp.paper.overlays import OverlayPanel, overlay_panels
from medinterp.paper.processes import per_family
from medinterp.params import Params


@dataclass
class BackboneTable:
    """One backbone's part of Table 2 and what the stage draws and writes for it."""

    rows: dict[str, dict] = field(default_factory=dict)  # variant -> Table 2 row
    per_image: dict[str, pd.DataFrame] = field(default_factory=dict)  # variant -> one line per test image
    overlays: dict[str, tuple[str, list[OverlayPanel]]] = field(default_factory=dict)  # variant -> (title, panels)
    conventions: dict = field(default_factory=dict)


def evaluate_all(params: Params) -> dict[str, BackboneTable]:
    """Every backbone's :class:`BackboneTable`, in ``paper.backbones`` order, each family in its own process."""
    return per_family(params, evaluate_backbone)


def evaluate_backbone(params: Params, backbone: str) -> BackboneTable:
    """Each training run of ``backbone``'s classifiers evaluated once on BreCaHAD, its result given
    to every variant that was that run."""
    bench = evaluation_bench(params, backbone)
    s = bench.settings
    pictures = {
        i: read_rgb(Path(params.data.root) / bench.frame["image"].iloc[i])
        for i in range(min(s.evaluate.overlays, len(bench.frame)))
    }
    table = BackboneTable(
        conventions={
            "image_size": s.evaluate.image_size,
            "gradcam_layer": s.evaluate.gradcam_layer,
            "points": list(s.evaluate.points),
            "constant_heatmap": s.evaluate.constant_heatmap,
        }
    )
    for name, members in bench.runs():
        result = evaluate(
            bench.adapter,
            bench.images,
            bench.frame,
            bench.points,
            s.evaluate.gradcam_layer,
            s.evaluate.constant_heatmap,
            set(pictures),
        )
        panels = overlay_panels(result, bench.frame, bench.points, pictures)
        for member in members:
            table.rows[member] = table2_row(backbone, member, bench.spec.family, result)
            table.per_image[member] = result.per_image
            title = f"{backbone}, {member}" + ("" if member == name else f" (same run as {name})")
            table.overlays[member] = (f"{title}: Grad-CAM and Otsu mask", panels)
    return table


def table2_row(backbone: str, variant: str, family: str, result: RowResult) -> dict:
    """A Table 2 row: the family, what the variant is, how it really started, and its figures."""
    meta = json.loads(artifacts.classifier_path(backbone, variant, ".json").read_text(encoding="utf-8"))
    return {"family": family, **meta["params"]["variant"], "weights_used": meta["init_used"], **result.summary}
