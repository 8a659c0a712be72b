"""The explanation benchmark on one model: every method's maps, their localisation scores, and the
model-parameter randomization test, through any :class:`~medinterp.interpret.adapter.ModelAdapter`.

- :func:`class_maps`: each method's raw ``(N, h, w)`` map at a layer, for one class (the gradient
  methods share one forward-backward pass, which the caller makes once); the two baselines of
  :mod:`medinterp.interpret.baselines` come through the same path;
- :func:`score`: each map resized to its image's full size (:func:`medinterp.interpret.gradcam.heatmap`)
  and scored by :func:`medinterp.interpret.localisation.localise` (IRA, its lift, pointing game,
  relevance mass accuracy, top-k intersection);
- :func:`randomization`: Adebayo et al. 2018's cascading test. At step ``s`` the top
  ``cascade_counts(L, steps)[s - 1]`` of the model's ``L`` parameter layers hold shuffled weights
  (:func:`medinterp.interpret.randomization.cascading`); every method's maps are recomputed
  and compared with the original ones: Spearman's rank correlation and SSIM of the two heatmaps at
  the network's input size, and the IRA at full size. Step 0 is the trained model itself.
  A method *fails* when, with every layer shuffled, its maps still correlate with the originals by
  more than ``max_spearman`` on average: what it shows does not depend on what the model learnt.
  The baselines, which ignore the model, fail by construction; they are kept as the check's check.
  A randomized map that is flat (all zero) where the trained one was not has lost every ranking
  of it and counts with Spearman 0; where the trained map itself is flat there is nothing to
  compare and the image is left out of the means (NaN in the CSV).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from medinterp.interpret import baselines, cams, gradcam, localisation
from medinterp.interpret.adapter import ModelAdapter
from medinterp.interpret.ira import image_ira
from medinterp.interpret.randomization import cascade_counts, cascading, spearman, ssim

BASELINES = ("random", "centre")


@dataclass(frozen=True)
class MethodOptions:
    seed: int
    scorecam_channels: int | None  # None: every channel
    scorecam_batch_size: int


@dataclass(frozen=True)
class Images:
    """The explained images: network inputs, and per image its row in the test table, full size and points."""

    inputs: np.ndarray  # (N, S, S, 3) float32 in [0, 1]
    indices: list[int]
    heights: list[int]
    widths: list[int]
    points: list[np.ndarray]  # normalised (x, y), (n, 2) each

    def subset(self, count: int) -> Images:
        return Images(
            self.inputs[:count], self.indices[:count], self.heights[:count], self.widths[:count], self.points[:count]
        )


def class_maps(
    adapter: ModelAdapter,
    images: Images,
    activations: np.ndarray,
    gradients: np.ndarray,
    class_index: int,
    methods: Sequence[str],
    options: MethodOptions,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Each method's ``(N, h, w)`` maps from the layer's ``activations`` and class ``class_index``'s
    ``gradients`` (both ``(N, C, h, w)``), and the seconds each took beyond that shared pass."""
    count, _, h, w = activations.shape
    maps: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    for method in methods:
        start = time.perf_counter()
        if method in cams.GRADIENT_METHODS:
            maps[method] = cams.GRADIENT_METHODS[method](activations, gradients)
        elif method == "eigencam":
            maps[method] = cams.eigencam(activations)
        elif method == "scorecam":
            maps[method] = cams.scorecam(
                adapter, images.inputs, activations, class_index, options.scorecam_channels, options.scorecam_batch_size
            )
        elif method == "random":
            maps[method] = baselines.random_maps(count, h, w, options.seed, images.indices)
        elif method == "centre":  # at the input's resolution: on a 2 x 2 layer every cell is as far from the centre
            maps[method] = baselines.centre_maps(count, *images.inputs.shape[1:3])
        else:
            raise ValueError(f"unknown explanation method '{method}'")
        seconds[method] = time.perf_counter() - start
    return maps, seconds


def score(
    maps: dict[str, np.ndarray], images: Images, radius: int, top_k: int, constant_heatmap: str
) -> dict[str, list[localisation.ImageLocalisation]]:
    """Each method's per-image localisation scores, its maps taken to each image's full size."""
    return {
        method: [
            localisation.localise(
                gradcam.heatmap(m, images.heights[i], images.widths[i]),
                images.points[i],
                radius,
                top_k,
                constant_heatmap,
            )
            for i, m in enumerate(method_maps)
        ]
        for method, method_maps in maps.items()
    }


def per_image_frame(scores: dict[str, list[localisation.ImageLocalisation]], names: Sequence[str]) -> pd.DataFrame:
    """One line per (method, image): every metric of :class:`~medinterp.interpret.localisation.ImageLocalisation`."""
    columns = ["method", "image", *(f.name for f in fields(localisation.ImageLocalisation))]
    rows = [
        {"method": method, "image": names[i], **vars(result)}
        for method, results in scores.items()
        for i, result in enumerate(results)
    ]
    return pd.DataFrame(rows, columns=columns)


def randomization(
    adapter: ModelAdapter,
    images: Images,
    trained: dict[str, np.ndarray],
    layer: str,
    class_index: int,
    options: MethodOptions,
    steps: int,
    constant_heatmap: str,
) -> pd.DataFrame:
    """One line per (step, method, image): layers shuffled, Spearman and SSIM against step 0 (the
    trained model's maps ``trained``, method -> ``(N, h, w)``), and the IRA. The cascade permutes
    only the layers each step adds (:func:`~medinterp.interpret.randomization.cascading`)."""
    size = images.inputs.shape[1]
    layers = adapter.parameter_layers()
    counts = [0, *cascade_counts(len(layers), steps)]
    original = {(m, i): gradcam.heatmap(v, size, size) for m, maps in trained.items() for i, v in enumerate(maps)}
    rows = []
    with cascading(adapter, options.seed) as randomize:
        for step, count in enumerate(counts):
            maps = trained
            if count:
                randomize(count)
                acts, grads, _ = adapter.gradcam_parts(images.inputs, layer, class_index)
                maps, _ = class_maps(adapter, images, acts, grads, class_index, list(trained), options)
            rows += _compared(maps, original, images, step, count, layers, constant_heatmap)
    return pd.DataFrame(rows)


def _compared(
    maps: dict[str, np.ndarray],
    original: dict,
    images: Images,
    step: int,
    count: int,
    layers: list[str],
    constant_heatmap: str,
) -> list[dict]:
    size = images.inputs.shape[1]
    rows = []
    for method, method_maps in maps.items():
        for i, m in enumerate(method_maps):
            ira = image_ira(
                gradcam.heatmap(m, images.heights[i], images.widths[i]), images.points[i], constant_heatmap
            ).ira
            small = gradcam.heatmap(m, size, size)
            rho = spearman(original[method, i], small)
            if rho is None and np.ptp(original[method, i]) > 0:
                rho = 0.0  # the trained map had a ranking and the randomized one is flat: nothing of it is left
            rows.append(
                {
                    "step": step,
                    "layers_randomized": count,
                    "share_randomized": count / len(layers),
                    "down_to_layer": layers[len(layers) - count] if count else None,
                    "method": method,
                    "image_index": images.indices[i],
                    "spearman": np.nan if rho is None else rho,
                    "ssim": ssim(original[method, i], small),
                    "ira": np.nan if ira is None else ira,
                }
            )
    return rows


def randomization_summary(curves: pd.DataFrame, max_spearman: float) -> dict[str, dict]:
    """Per method: the mean Spearman, SSIM and IRA at each step (``step<k>`` keys, flat for ``dvc metrics
    diff``), the last step's Spearman, and whether the method fails the test (``None``: no image had a
    ranking, e.g. all-zero maps)."""
    summary: dict[str, dict] = {}
    last = int(curves["step"].max())
    for method, group in curves.groupby("method", sort=False):
        means = group.groupby("step")[["share_randomized", "spearman", "ssim", "ira"]].mean()
        final = means.loc[last, "spearman"]
        final = None if pd.isna(final) else float(final)
        summary[str(method)] = {
            "fails": None if final is None else bool(final > max_spearman),
            "final_spearman": final,
            "final_ssim": _number(means.loc[last, "ssim"]),
            "steps": {
                f"step{int(step)}": {
                    "layers_randomized": int(group.loc[group["step"] == step, "layers_randomized"].iloc[0]),
                    **{k: _number(v) for k, v in row.items()},
                }
                for step, row in means.iterrows()
            },
        }
    return summary


def _number(value) -> float | None:
    return None if pd.isna(value) else float(value)
