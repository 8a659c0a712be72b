"""Table 2 for every backbone of ``paper.backbones``, each evaluated through its own family's networks.

TensorFlow and PyTorch must not share a process, and one stage evaluates every backbone: when the
backbones come from both families, each family's backbones are evaluated in a process of their
own (spawned, so it starts without the other framework) and only their results come back; with one
family the evaluation runs in the calling process. The caller writes every file.
"""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from medinterp.datasets.images import read_rgb
from medinterp.paper import artifacts as A
from medinterp.paper import data
from medinterp.paper.evaluate import RowResult, evaluate
from medinterp.paper.networks import networks_for
from medinterp.paper.overlays import OverlayPanel, overlay_panels
from medinterp.params import Params, validate


@dataclass
class BackboneTable:
    """One backbone's part of Table 2 and what the stage draws and writes for it."""

    rows: dict[str, dict] = field(default_factory=dict)                # variant -> Table 2 row
    per_image: dict[str, pd.DataFrame] = field(default_factory=dict)   # variant -> one line per test image
    overlays: dict[str, tuple[str, list[OverlayPanel]]] = field(default_factory=dict)   # variant -> (title, panels)
    conventions: dict = field(default_factory=dict)


def evaluate_all(params: Params) -> dict[str, BackboneTable]:
    """Every backbone's :class:`BackboneTable`, in ``paper.backbones`` order."""
    groups: dict[str, list[str]] = {}
    for backbone in params.paper.backbones:
        groups.setdefault(params.paper_for(backbone)[0].family, []).append(backbone)
    if len(groups) == 1:
        return evaluate_backbones(params, params.paper.backbones)
    found: dict[str, BackboneTable] = {}
    raw = params.model_dump(mode="json", by_alias=True)
    for backbones in groups.values():
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            found |= pool.apply(_evaluate_in_own_process, (raw, backbones))
    return {backbone: found[backbone] for backbone in params.paper.backbones}


def _evaluate_in_own_process(raw: dict, backbones: list[str]) -> dict[str, BackboneTable]:
    # a Params does not pickle (its layered settings are classes made at run time): rebuilt here
    return evaluate_backbones(validate(raw), backbones)


def evaluate_backbones(params: Params, backbones: list[str]) -> dict[str, BackboneTable]:
    """The tables of ``backbones`` (all of one family: its framework is imported here)."""
    return {backbone: evaluate_backbone(params, backbone) for backbone in backbones}


def evaluate_backbone(params: Params, backbone: str) -> BackboneTable:
    """Each training run of ``backbone``'s classifiers evaluated once on BreCaHAD, its result given
    to every variant that was that run."""
    data_root = Path(params.data.root)
    spec, s = params.paper_for(backbone)
    nets = networks_for(spec)
    nets.configure(params.seed)
    test = data.brecahad(s.evaluate.image_size)
    images = data.as_float(test.images)
    points = data.points(test, data_root, s.evaluate.points)
    pictures = {i: read_rgb(data_root / test.frame["image"].iloc[i]) for i in range(min(s.evaluate.overlays, len(test)))}
    encoder, _ = nets.build_encoder(spec, s.evaluate.image_size, "random")   # trained weights fit any input size
    model = nets.build_classifier(encoder, s.classifier.head_units, s.classifier.dropout)
    adapter = nets.adapter(model, s.evaluate.image_size)
    table = BackboneTable(conventions={"image_size": s.evaluate.image_size, "gradcam_layer": s.evaluate.gradcam_layer,
                                       "points": list(s.evaluate.points), "constant_heatmap": s.evaluate.constant_heatmap})
    runs = s.runs()
    for name in dict.fromkeys(runs.values()):
        nets.load_weights(model, A.classifier_path(backbone, name, nets.weights_suffix))
        result = evaluate(adapter, images, test.frame, points, s.evaluate.gradcam_layer, s.evaluate.constant_heatmap,
                          set(pictures))
        panels = overlay_panels(result, test.frame, points, pictures)
        for member in (v.name for v in s.variant_list if runs[v.name] == name):
            table.rows[member] = table2_row(backbone, member, spec.family, result)
            table.per_image[member] = result.per_image
            title = f"{backbone}, {member}" + ("" if member == name else f" (same run as {name})")
            table.overlays[member] = (f"{title}: Grad-CAM and Otsu mask", panels)
    return table


def table2_row(backbone: str, variant: str, family: str, result: RowResult) -> dict:
    """A Table 2 row: the family, what the variant is, how it really started, and its figures."""
    meta = json.loads(A.classifier_path(backbone, variant, ".json").read_text(encoding="utf-8"))
    return {"family": family, **meta["params"]["variant"], "weights_used": meta["init_used"], **result.summary}
