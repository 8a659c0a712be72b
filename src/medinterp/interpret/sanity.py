"""Sanity checks of feature visualizations (thesis sections 4.4.4 and 5.4.2, Figs. 33-37), after
Geirhos et al. 2023, "Don't trust your eyes: on the (un)reliability of feature visualizations".

If a feature visualization shows what a network looks for in a class, the network should process
it along a path like that of the class's natural images. Per layer ``l``:

- ``featurevis_vs_natural``: the mean, over every pair (visualization of one of ``l``'s top
  filters for the class, natural image of the class), of Spearman's rank correlation between the
  two images' activations at ``l`` (flattened ``C*h*w``);
- ``natural_vs_natural``: the same over the pairs of distinct natural images of the class, the
  reference a visualization would reach if it were processed like a natural image.

The layer x layer matrix (Figs. 36-37) compares the visualizations themselves: cell ``(i, j)`` is
the mean Spearman correlation between the pixels of a visualization made for layer ``i`` and one
made for layer ``j``, over all pairs; on the diagonal each visualization is also paired with
itself, which is why the diagonal is the highest.

Spearman's rho is Pearson's correlation of the average ranks (ties share the mean of their
ranks), as ``scipy.stats.spearmanr``; a constant vector has no ranking, so its correlations are NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from medinterp.errors import ConfigError
from medinterp.interpret.adapter import ModelAdapter
from medinterp.interpret.featurevis import Settings, Visualizations, visualize
from medinterp.interpret.filters import as_unit_float, layer_maxima_many, most_activated


def spearman_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Spearman's rho between every row of ``a`` ``(M, P)`` and every row of ``b`` ``(N, P)``
    (``b`` defaults to ``a``): ``(M, N)``. Rows are flattened if they have more dimensions."""
    ra = _unit_ranks(a)
    rb = ra if b is None else _unit_ranks(b)
    if ra.shape[1] != rb.shape[1]:
        raise ValueError(f"rows of different lengths: {ra.shape[1]} and {rb.shape[1]}")
    return ra @ rb.T


def _unit_ranks(rows: np.ndarray) -> np.ndarray:
    """Ranks centred and scaled to unit length, so a dot product is Pearson's r of the ranks."""
    rows = np.asarray(rows)
    ranks = rankdata(rows.reshape(len(rows), -1), axis=1, nan_policy="raise")  # ties share the mean of their ranks
    ranks -= ranks.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(ranks, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, ranks / norms, np.nan)


def path_similarity(natural: np.ndarray, visualizations: np.ndarray) -> tuple[float, float]:
    """``(featurevis_vs_natural, natural_vs_natural)`` for one layer's activations of the natural
    images ``(N, ...)`` and of the visualizations ``(V, ...)``."""
    natural_ranks = _unit_ranks(natural)
    across = _unit_ranks(visualizations) @ natural_ranks.T
    within = natural_ranks @ natural_ranks.T
    distinct = ~np.eye(len(natural), dtype=bool)
    reference = float(np.nanmean(within[distinct])) if distinct.any() else float("nan")
    return float(np.nanmean(across)), reference


def class_visualizations(
    adapter: ModelAdapter,
    layers: Sequence[str],
    images: np.ndarray,
    labels: Sequence,
    class_index: int,
    quantile: float,
    top_n: int,
    image_size: int,
    settings: Settings,
    batch_size: int = 32,
    progress: bool = True,
) -> dict[str, Visualizations]:
    """Per layer, the visualizations of the ``top_n`` filters most activated by class
    ``class_index`` among ``images`` (thresholds over all of them, :func:`~medinterp.interpret.filters.most_activated`).
    Each layer starts from its own noise (a seed drawn from ``settings.seed``), so that the layer x
    layer matrix does not measure a shared start. The maxima of every layer come from one pass
    over ``images``."""
    seeds = np.random.SeedSequence(settings.seed).generate_state(len(layers))
    maxima = layer_maxima_many(adapter, images, layers, batch_size, progress)
    out = {}
    for layer, seed in zip(layers, seeds):
        targets = most_activated(maxima[layer], labels, class_index, quantile, top_n)
        out[layer] = visualize(adapter, layer, targets, image_size, replace(settings, seed=int(seed)), progress)
    return out


def natural_vs_featurevis(
    adapter: ModelAdapter, natural_images: np.ndarray, visualizations: Mapping[str, np.ndarray], batch_size: int = 32
) -> pd.DataFrame:
    """Figs. 33-35 for one class: per layer (in the mapping's order), the similarity of the paths of
    the class's natural images (``uint8`` or [0, 1]) and of the visualizations made for that layer.

    The natural images go through the network once for every layer, and their activations at all
    the layers are held together (each layer's are let go once compared). The visualizations made
    for a layer are only needed at that layer, so they go through it alone: one pass of them all
    through every layer would cost more."""
    natural_at = adapter.layer_activations(as_unit_float(natural_images), list(visualizations), batch_size)
    rows = []
    for index, (layer, images) in enumerate(visualizations.items()):
        natural = natural_at.pop(layer)
        featurevis = adapter.activations(np.asarray(images, dtype=np.float32), layer, batch_size)
        across, within = path_similarity(natural, featurevis)
        rows.append(
            {
                "layer_index": index,
                "layer": layer,
                "featurevis_vs_natural": across,
                "natural_vs_natural": within,
                "featurevis": len(featurevis),
                "natural": len(natural),
            }
        )
    return pd.DataFrame(rows)


def featurevis_layer_matrix(visualizations: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Figs. 36-37: the layer x layer matrix of mean pixel Spearman correlations between the
    visualizations made for each layer (index and columns: the layers, in the mapping's order)."""
    layers = list(visualizations)
    stacked = np.concatenate(
        [np.asarray(visualizations[layer]).reshape(len(visualizations[layer]), -1) for layer in layers]
    )
    owner = np.repeat(np.arange(len(layers)), [len(visualizations[layer]) for layer in layers])
    rho = spearman_matrix(stacked)
    matrix = np.array(
        [[np.nanmean(rho[np.ix_(owner == i, owner == j)]) for j in range(len(layers))] for i in range(len(layers))]
    )
    return pd.DataFrame(matrix, index=pd.Index(layers, name="layer"), columns=layers)


def pick_layers(layers: Sequence[str], count: int | str | None) -> list[str]:
    """``count`` layers spread evenly from the first to the last; all of them when ``count`` is
    ``"all"``, None or not smaller (models whose every layer would cost too much get a few)."""
    layers = list(layers)
    if count is None or count == "all":
        return layers
    if not isinstance(count, int) or count < 1:
        raise ConfigError(f"params.yaml: interpret.sanity.layers must be a positive number or 'all', got {count!r}")
    if count >= len(layers):
        return layers
    if count == 1:
        return layers[-1:]
    return [layers[i] for i in np.unique(np.round(np.linspace(0, len(layers) - 1, count)).astype(int))]
