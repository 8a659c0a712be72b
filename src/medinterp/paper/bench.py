"""The paper's evaluation bench: a backbone's classifier on BreCaHAD, ready for Table 2 and the explanation
benchmark. Variants that were one training run (``paper.runs()``) are loaded, and evaluated, once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medinterp.interpret.adapter import ModelAdapter
from medinterp.paper import artifacts, data
from medinterp.paper.networks import PaperNetworks, networks_for
from medinterp.params import Paper, Params
from medinterp.registry import ModelSpec


@dataclass
class EvaluationBench:
    backbone: str
    spec: ModelSpec
    settings: Paper
    nets: PaperNetworks
    frame: pd.DataFrame  # splits/brecahad.csv's rows: image, annotation, width, height, label, ...
    images: np.ndarray  # (N, S, S, 3) float32 in [0, 1], S = paper.evaluate.image_size
    points: list[np.ndarray]  # per image, the normalised (x, y) points of paper.evaluate.points
    model: Any
    adapter: ModelAdapter

    def runs(self) -> Iterator[tuple[str, list[str]]]:
        """Each training run, its weights loaded into :attr:`model`, with the variants it stands for."""
        runs = self.settings.runs()
        for name in dict.fromkeys(runs.values()):
            self.nets.load_weights(self.model, artifacts.classifier_path(self.backbone, name, self.nets.weights_suffix))
            yield name, [v.name for v in self.settings.variant_list if runs[v.name] == name]


def evaluation_bench(params: Params, backbone: str) -> EvaluationBench:
    """``backbone``'s classifier (weights not yet loaded) with the BreCaHAD images at the evaluation size."""
    spec, s = params.paper_for(backbone)
    nets = networks_for(spec)
    nets.configure(params.seed)
    test = data.brecahad(s.evaluate.image_size)
    encoder, _ = nets.build_encoder(spec, s.evaluate.image_size, "random")  # trained weights fit any input size
    model = nets.build_classifier(encoder, s.classifier.head_units, s.classifier.dropout)
    return EvaluationBench(
        backbone,
        spec,
        s,
        nets,
        test.frame,
        data.as_float(test.images),
        data.points(test, Path(params.data.root), s.evaluate.points),
        model,
        nets.adapter(model, s.evaluate.image_size),
    )
