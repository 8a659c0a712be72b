"""Stage ``interpret_featurevis@<entry>``: feature visualization of one entry's binary model, first
and last convolutional layers (thesis sections 4.4.2-4.4.3 and 6.4.1, Table 3, Figs. 27-30); see
``medinterp.interpret.featurevis`` for the optimizer and ``medinterp.interpret.featurevis_report`` for what
is visualized.

``python -m medinterp.stages.interpret_featurevis <entry>``. Outputs under
``plots/interpret/<entry>/``: ``featurevis_pretrained.png`` (the network before fine-tuning, Fig. 27),
``featurevis_finetuned.png`` (Fig. 28), ``featurevis_unregularized.png`` (Fig. 29),
``featurevis_classes.png`` (each class's filters, Fig. 30) and ``featurevis_class_scores.png``
(each class's logit); ``metrics/interpret/<entry>/featurevis.csv`` (one row per visualization: its
objective at the noise start and at the end) and ``featurevis.json`` (settings; seconds per
visualization go to ``logs/interpret_featurevis@<entry>.json``).
"""

from __future__ import annotations

from medinterp import params, runlog
from medinterp.interpret.featurevis import settings_from_params
from medinterp.interpret.featurevis_report import write_featurevis
from medinterp.interpret.subjects import isic_initial, isic_subject
from medinterp.stages import foreach_item, run


def main() -> None:
    entry, config = foreach_item("models"), params.load()
    interpret = config.interpret_settings()
    speed = write_featurevis(
        isic_subject(entry), isic_initial(entry), interpret, settings_from_params(interpret.featurevis, config.seed)
    )
    runlog.write(f"interpret_featurevis@{entry}", speed=speed)


if __name__ == "__main__":
    run(main)
