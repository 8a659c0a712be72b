"""Stage ``interpret_filters``: class-specific filters of the ISIC models (thesis sections 5.4.1 and
5.5, Table 10, Fig. 26); see ``medinterp.interpret.filters`` for the counting and
``medinterp.interpret.pipeline`` for the image sets.

The outlier and binary sets go through ``models/isic/binary``'s checkpoint, the multiclass set
through ``models/isic/multiclass``'s; the layer is ``interpret.filters.layer`` or the registry's
last convolutional layer of the checkpoint's architecture.

Outputs: ``metrics/interpret/filters.csv`` (``set, class, filter, occurrences, percent,
mean_max``), ``metrics/interpret/table10.csv`` (the ``top_k`` filters per set and class, pooled
class ``all`` included, with the model's name), ``metrics/interpret/filters.json`` (model, layer,
images per set and class) and ``plots/interpret/filters_heatmap.png`` (Fig. 26).
"""

from __future__ import annotations

import pandas as pd

from medinterp import params as P
from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.interpret.figures import filter_heatmap, save
from medinterp.interpret.filters import top_filters
from medinterp.interpret.pipeline import (
    BINARY, BINARY_CLEAN, CHECKPOINTS, METRICS, MULTICLASS, OUTLIER_LIST, OUTLIERS, PLOTS, binary_validation, filter_statistics, image_set,
    multiclass_validation, outlier_subset, table10,
)
from medinterp.io import write_csv, write_json
from medinterp.models import load_adapter
from medinterp.models.checkpoint import path_in
from medinterp.stages import run


def main() -> None:
    interpret = P.load().interpret
    block, batch_size = interpret.filters, interpret.batch_size
    paths = {task: path_in(folder) for task, folder in CHECKPOINTS.items()}
    binary, binary_info = load_adapter(paths["binary"])
    multiclass, multiclass_info = load_adapter(paths["multiclass"])
    if (binary_info["architecture"], binary_info["family"]) != (multiclass_info["architecture"], multiclass_info["family"]):
        raise ConfigError(f"{paths['binary']} is a {binary_info['architecture']} and {paths['multiclass']} a "
                          f"{multiclass_info['architecture']}: retrain both for one model (dvc repro)")
    spec = registry.get(binary_info["architecture"], binary_info["family"])
    layer = block.layer or spec.last_conv_layer

    validation = binary_validation()
    outliers = pd.read_csv(OUTLIER_LIST)
    sets = [
        (image_set(OUTLIERS, outlier_subset(validation, outliers, str(OUTLIER_LIST)), binary_info["class_names"]), binary),
        (image_set(BINARY, validation, binary_info["class_names"]), binary),
        (image_set(BINARY_CLEAN, outlier_subset(validation, outliers, str(OUTLIER_LIST), flagged=False),
                   binary_info["class_names"]), binary),
        (image_set(MULTICLASS, multiclass_validation(int(multiclass_info["image_size"])), multiclass_info["class_names"]), multiclass),
    ]
    stats = filter_statistics(sets, layer, block.quantile, block.top_k, batch_size)

    write_csv(METRICS / "filters.csv", stats.table)
    write_csv(METRICS / "table10.csv", table10(stats.top, spec.name, layer))
    write_json(METRICS / "filters.json", {
        "model": spec.name, "family": spec.family, "init_used": binary_info["init_used"], "layer": layer,
        "filters": int(binary.channels(layer)), "quantile": block.quantile, "top_k": block.top_k,
        "images": stats.images, "checkpoints": {OUTLIERS: str(paths["binary"]), BINARY: str(paths["binary"]), BINARY_CLEAN: str(paths["binary"]),
                        MULTICLASS: str(paths["multiclass"])},
    })
    save(filter_heatmap(stats.table, top_filters(stats.table, block.heatmap_top), layer), PLOTS / "filters_heatmap.png")


if __name__ == "__main__":
    run(main)
