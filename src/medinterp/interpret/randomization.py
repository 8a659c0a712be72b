"""The model-parameter randomization test of Adebayo et al. 2018, "Sanity checks for saliency maps",
cascading from the top layer down, for any :class:`~medinterp.interpret.adapter.ModelAdapter`.

An explanation that depends on what the model learned must change as the learned weights are
destroyed. The cascade randomizes the top layers (from the output layer down) step by step, more at
each step, until every parameter layer is randomized; each step's explanation is compared with the
trained model's by Spearman's rank correlation and SSIM.

Randomizing a layer here permutes its weights (:func:`permuted`) instead of drawing them afresh:
the learned structure is gone but the values, hence the scale of the activations, are kept, so a
map that changes does so because structure was lost, not because activations blew up or died.
An array whose values are all equal (a zero bias, an untrained batch norm) is left as it was.
Each layer's permutation depends only on the seed and the layer's place from the top, so step
``k + 1`` is step ``k`` plus more layers, and every step ends with the original weights back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

from medinterp.interpret.adapter import ModelAdapter

SSIM_WINDOW = 7  # skimage's default and the usual SSIM window (Wang et al. 2004)


def cascade_counts(layers: int, steps: int) -> list[int]:
    """How many top layers are randomized at each of ``steps`` cascading steps of a model with
    ``layers`` parameter layers: ``round(i * layers / steps)`` for ``i = 1 .. steps`` (Python's
    round, halves to even), ending with all of them; strictly increasing, so with more steps than
    layers a count appears once (and 0 not at all)."""
    if layers < 1 or steps < 1:
        raise ValueError(f"need at least one layer and one step, got layers={layers}, steps={steps}")
    counts = (round(i * layers / steps) for i in range(1, steps + 1))
    return sorted({count for count in counts if count > 0})


def permuted(arrays: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Each array's values shuffled over all its elements, same shape and dtype: the layer's
    learned structure is destroyed, its value distribution (hence activation scale) kept."""
    # Not Quantus's first-axis shuffle: on a torch kernel (out, in, h, w) that only reorders whole filters, each intact.
    out = []
    for array in arrays:
        array = np.asarray(array)
        out.append(rng.permutation(array.reshape(-1)).reshape(array.shape))
    return out


@contextmanager
def cascading(adapter: ModelAdapter, seed: int) -> Iterator[Callable[[int], list[str]]]:
    """Inside, ``randomize(count)`` makes the top ``count`` parameter layers of ``adapter`` (from the
    output layer down) hold permuted weights and returns their names, top first; ``count`` may only
    grow, so each step permutes just the layers it adds. The layer ``i``-th from the top is permuted
    with ``np.random.default_rng([seed, i])`` whatever the steps are, so a cascade's steps share
    their permutations. On exit, also on an exception, every layer gets its own original arrays
    back, bit for bit."""
    layers = adapter.parameter_layers()[::-1]
    saved: list[tuple[str, list[np.ndarray]]] = []

    def randomize(count: int) -> list[str]:
        if not len(saved) <= count <= len(layers):
            raise ValueError(
                f"cannot randomize {count} of {len(layers)} parameter layers "
                f"({len(saved)} already are: a cascade only goes down)"
            )
        for index in range(len(saved), count):
            original = adapter.layer_weights(layers[index])
            saved.append((layers[index], original))
            adapter.set_layer_weights(layers[index], permuted(original, np.random.default_rng([seed, index])))
        return layers[:count]

    try:
        yield randomize
    finally:
        failed: Exception | None = None
        for layer, original in reversed(saved):
            try:
                adapter.set_layer_weights(layer, original)
            except Exception as exc:  # restore every other layer before reporting it
                failed = failed or exc
        if failed is not None:
            raise failed


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation of two maps' pixels (flattened; ties get average ranks, as
    ``scipy.stats.spearmanr``); None when either map is constant, which has no ranking."""
    a, b = np.ravel(np.asarray(a, dtype=np.float64)), np.ravel(np.asarray(b, dtype=np.float64))
    if a.shape != b.shape:
        raise ValueError(f"maps of different sizes: {a.size} and {b.size} pixels")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("cannot rank non-finite values")
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two 2-D maps of the same shape with values in [0, 1]
    (``data_range=1.0``; skimage's uniform window, 7 x 7, or on a map with a side under 7 the
    largest odd window that fits). Sides under 3 are refused with a ``ValueError``: a window of one
    pixel has no variance, so SSIM would only compare pixel values."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"expected two 2-D maps of the same shape, got {a.shape} and {b.shape}")
    side = min(a.shape)
    if side < 3:
        raise ValueError(f"maps of shape {a.shape} are too small for SSIM (both sides must be at least 3)")
    for name, x in (("a", a), ("b", b)):
        if not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
            raise ValueError(f"map {name} must have values in [0, 1] (data_range is 1.0)")
    window = min(SSIM_WINDOW, side if side % 2 else side - 1)
    return float(structural_similarity(a, b, data_range=1.0, win_size=window))
