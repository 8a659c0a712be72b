"""Stage ``interpret_sanity@<entry>``: the empirical sanity checks of feature visualization on one
entry's binary model (thesis sections 4.4.4 and 5.4.2, Figs. 33-37); see ``medinterp.interpret.sanity``.

``python -m medinterp.stages.interpret_sanity <entry>``. For the class ``interpret.sanity.class``
(the thesis: malignant) and ``interpret.sanity.layers`` convolutional layers spread from the first
to the last, the class's ``top_n`` filters of each layer are visualized and compared with the
class's natural validation images.

Outputs under ``metrics/interpret/<entry>/``: ``sanity_similarity.csv`` (per layer: Spearman's rho
between the activations of visualizations and natural images, and between natural images),
``sanity_layers.csv`` (the layer x layer matrix of the visualizations), ``sanity.json`` (settings),
and the plots ``plots/interpret/<entry>/sanity_similarity.png`` (Figs. 33-35) and
``sanity_layers.png`` (Figs. 36-37).
"""

from __future__ import annotations

from medinterp import params, runlog
from medinterp.interpret.featurevis import settings_from_params
from medinterp.interpret.sanity_report import write_sanity
from medinterp.interpret.subjects import isic_subject
from medinterp.stages import foreach_item, run


def main() -> None:
    entry, config = foreach_item("models"), params.load()
    interpret = config.interpret_settings()
    speed = write_sanity(
        isic_subject(entry), interpret, settings_from_params(interpret.featurevis, config.seed), config.seed
    )
    runlog.write(f"interpret_sanity@{entry}", speed=speed)


if __name__ == "__main__":
    run(main)
