"""Class-specific filters (thesis sections 5.4.1 and 5.5, Table 10, Fig. 26).

For a set of images and one convolutional layer:

1. per image, the spatial maximum of each filter's activation map: ``(N, C, h, w) -> (N, C)``;
2. per filter, a threshold: the ``quantile`` (0.95) of those maxima over all images of the set,
   every class together (numpy's default linear interpolation). Taken within each class instead,
   every filter would exceed it in the same 5% of every class's images and no filter could stand
   out for a class;
3. a filter counts for an image when its maximum exceeds (``>``) its threshold;
4. per class and filter, the number of images it counts for (``occurrences``), that number as a
   percentage of the class's images (``percent``), and the mean of the filter's maxima over the
   class's images (``mean_max``, which breaks ties in the rankings).

The long table has one row per set, class and filter (``set, class, filter, occurrences, percent,
mean_max``); :func:`pooled_table` is the same with the classes pooled; :func:`top_filters` ranks
either per set and class (Table 10, one row per filter); :func:`most_activated` picks the filters
to visualize.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from medinterp.interpret.adapter import ModelAdapter

COLUMNS = ["set", "class", "filter", "occurrences", "percent", "mean_max"]
ALL_CLASSES = "all"


def spatial_maxima(activations: np.ndarray) -> np.ndarray:
    """``(N, C, h, w)`` activations to each filter's maximum per image, ``(N, C)``."""
    if activations.ndim != 4:
        raise ValueError(f"expected activations (N, C, h, w), got shape {activations.shape}")
    return activations.max(axis=(2, 3))


def layer_maxima(
    adapter: ModelAdapter, images: np.ndarray, layer: str, batch_size: int = 32, progress: bool = True
) -> np.ndarray:
    """:func:`spatial_maxima` of ``layer`` for ``uint8`` or [0, 1] images, a batch at a time (the full
    activations of a late layer for thousands of images need not fit in memory)."""
    out = [
        spatial_maxima(adapter.activations(batch, layer, batch_size))
        for batch in _unit_batches(images, batch_size, f"maxima {layer}", progress)
    ]
    return np.concatenate(out) if out else np.zeros((0, adapter.channels(layer)), np.float32)


def layer_maxima_many(
    adapter: ModelAdapter, images: np.ndarray, layers: Sequence[str], batch_size: int = 32, progress: bool = True
) -> dict[str, np.ndarray]:
    """:func:`layer_maxima` of every layer of ``layers`` (keyed in their order) from one forward pass
    per batch, reduced to the maxima inside the pass: ``(N, C)`` per layer is all that is held."""
    layers = list(dict.fromkeys(layers))
    out: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    for batch in _unit_batches(images, batch_size, f"maxima of {len(layers)} layers", progress):
        for layer, maxima in adapter.layer_activations(batch, layers, batch_size, reduce=spatial_maxima).items():
            out[layer].append(maxima)
    return {
        layer: np.concatenate(parts) if parts else np.zeros((0, adapter.channels(layer)), np.float32)
        for layer, parts in out.items()
    }


def _unit_batches(images: np.ndarray, batch_size: int, desc: str, progress: bool) -> Iterator[np.ndarray]:
    """``images`` a batch at a time in [0, 1]: ``uint8`` sets are converted per batch, not whole."""
    for start in tqdm(range(0, len(images), batch_size), desc=desc, unit="batch", disable=not progress):
        yield as_unit_float(images[start : start + batch_size])


def as_unit_float(images: np.ndarray) -> np.ndarray:
    """``uint8`` pixels to float32 in [0, 1]; float images pass through."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32)


def thresholds(maxima: np.ndarray, quantile: float) -> np.ndarray:
    """Per filter, the ``quantile`` of its maxima over the images: ``(N, C) -> (C,)``."""
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    return np.quantile(maxima, quantile, axis=0)


def significant(maxima: np.ndarray, quantile: float) -> np.ndarray:
    """``(N, C)`` booleans: filter ``c`` is significantly activated by image ``n``."""
    return maxima > thresholds(maxima, quantile)[None, :]


def occurrence_table(
    maxima: np.ndarray, labels: Sequence, class_names: Sequence[str], quantile: float, set_name: str
) -> pd.DataFrame:
    """The long table for one image set: every class in ``class_names`` (label ``i`` is
    ``class_names[i]``) and every filter, classes without images included with zero counts.
    ``mean_max`` is the mean of the filter's spatial maxima over the class's images (NaN for a
    class without images); it breaks ties in the rankings."""
    labels = np.asarray(labels)
    if len(labels) != len(maxima):
        raise ValueError(f"{len(maxima)} images but {len(labels)} labels")
    hits = significant(maxima, quantile) if len(maxima) else np.zeros_like(maxima, dtype=bool)
    rows = []
    for index, name in enumerate(class_names):
        members = labels == index
        counts = hits[members].sum(axis=0)
        size = int(members.sum())
        rows.append(
            pd.DataFrame(
                {
                    "set": set_name,
                    "class": name,
                    "filter": np.arange(hits.shape[1]),
                    "occurrences": counts.astype(int),
                    "percent": 100.0 * counts / size if size else np.zeros(len(counts)),
                    "mean_max": maxima[members].mean(axis=0) if size else np.full(len(counts), np.nan),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)[COLUMNS]


def pooled_table(maxima: np.ndarray, quantile: float, set_name: str) -> pd.DataFrame:
    """The long table with the classes pooled (class ``all``). Pooled, every filter exceeds its own
    ``quantile`` in the same share of the images (``1 - quantile``, ties aside), so the pooled
    ranking is decided by ``mean_max``: the filters with the highest activations over the set, the
    thesis's "most activated filters" of a layer (section 5.4.1)."""
    return occurrence_table(maxima, np.zeros(len(maxima), dtype=int), [ALL_CLASSES], quantile, set_name)


def top_filters(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """The ``k`` filters with the most occurrences per set and class of a long table, ties broken
    by the higher ``mean_max``, then the lower index; filters that never occur are not listed.
    Groups keep the table's order. Columns: ``set, class, rank, filter, occurrences, percent, mean_max``."""
    group_order = {key: i for i, key in enumerate(dict.fromkeys(zip(table["set"], table["class"])))}
    top = _ranked(table[table["occurrences"] > 0]).groupby(["set", "class"], sort=False).head(k).copy()
    top["rank"] = top.groupby(["set", "class"], sort=False).cumcount() + 1
    top["group"] = [group_order[key] for key in zip(top["set"], top["class"])]
    top = top.sort_values(["group", "rank"], kind="stable")
    return top[["set", "class", "rank", "filter", "occurrences", "percent", "mean_max"]].reset_index(drop=True)


def most_activated(
    maxima: np.ndarray, labels: Sequence | None, class_index: int | None, quantile: float, k: int
) -> list[int]:
    """Exactly ``k`` filters to visualize, ranked as :func:`top_filters` ranks them, among the images
    of class ``class_index`` (thresholds over all images), or pooled when it is None; filters that
    never occur fill up the list by ``mean_max``, so small sets still give ``k``."""
    if class_index is None:
        table = pooled_table(maxima, quantile, "")
    else:
        labels = np.asarray(labels)
        if not (labels == class_index).any():
            raise ValueError(f"no images of class {class_index} to rank filters by")
        table = occurrence_table(maxima, (labels == class_index).astype(int), ["other", "class"], quantile, "")
        table = table[table["class"] == "class"]
    return [int(f) for f in _ranked(table)["filter"].head(k)]


def _ranked(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["occurrences", "mean_max", "filter"], ascending=[False, False, True], kind="stable")
