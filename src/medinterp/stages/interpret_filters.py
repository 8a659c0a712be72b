"""Stage ``interpret_filters@<entry>``: class-specific filters of one entry's ISIC models (thesis
sections 5.4.1 and 5.5, Table 10, Fig. 26); see ``medinterp.interpret.filters`` for the counting and
``medinterp.interpret.image_sets`` for the image sets.

``python -m medinterp.stages.interpret_filters <entry>``. The outlier and binary sets go through
``models/isic/<entry>/binary``'s checkpoint, the multiclass set through
``models/isic/<entry>/multiclass``'s; the layer is ``interpret.filters.layer`` or the registry's last
convolutional layer of the checkpoint's architecture.

Outputs under ``metrics/interpret/<entry>/``: ``filters.csv`` (``set, class, filter, occurrences,
percent, mean_max``), ``table10.csv`` (the ``top_k`` filters per set and class, pooled class ``all``
included, with the model's name), ``filters.json`` (model, layer, images per set and class), and
``plots/interpret/<entry>/filters_heatmap.png`` (Fig. 26).
"""

from __future__ import annotations

from medinterp import params
from medinterp.interpret.filter_report import write_filters
from medinterp.interpret.subjects import isic_multiclass, isic_subject
from medinterp.stages import foreach_item, run


def main() -> None:
    entry, interpret = foreach_item("models"), params.load().interpret
    subject = isic_subject(entry)
    write_filters(subject, interpret, isic_multiclass(entry, subject))


if __name__ == "__main__":
    run(main)
