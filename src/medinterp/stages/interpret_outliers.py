"""Stage ``interpret_outliers@<entry>``: z-score outliers among the binary validation images of one
entry of ``models`` (thesis section 5.5, Fig. 17); see ``medinterp.interpret.outliers`` for the rule.

``python -m medinterp.stages.interpret_outliers <entry>``. The images are the validation fold of
the fold whose model ``isic_binary@<entry>`` kept. Outputs: ``metrics/interpret/<entry>/outliers.csv``
(``image, class_name, outlier_share, outlier``), ``metrics/interpret/<entry>/outliers.json`` (counts,
the rule, the channel statistics) and ``plots/interpret/<entry>/outliers.png`` (Fig. 17). No model
is needed, so neither framework is imported.
"""

from __future__ import annotations

from medinterp import params
from medinterp.interpret.image_sets import binary_validation
from medinterp.interpret.outlier_report import write_outliers
from medinterp.isic import layout
from medinterp.stages import foreach_item, run


def main() -> None:
    entry, block = foreach_item("models"), params.load().interpret.outliers
    write_outliers(entry, binary_validation(layout.report(entry, "binary")), block.z, block.min_share, block.examples)


if __name__ == "__main__":
    run(main)
