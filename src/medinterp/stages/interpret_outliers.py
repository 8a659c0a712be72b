"""Stage ``interpret_outliers``: z-score outliers among the binary validation images (thesis
section 5.5, Fig. 17); see ``medinterp.interpret.outliers`` for the rule.

Outputs: ``metrics/interpret/outliers.csv`` (``image, class_name, outlier_share, outlier``),
``metrics/interpret/outliers.json`` (counts, the rule, the channel statistics) and
``plots/interpret/outliers.png`` (Fig. 17). No model is needed, so neither framework is imported.
"""

from __future__ import annotations

from medinterp import params as P
from medinterp.interpret.figures import save
from medinterp.interpret.pipeline import METRICS, OUTLIER_LIST, PLOTS, binary_validation, outlier_report
from medinterp.io import write_csv, write_json
from medinterp.stages import run


def main() -> None:
    block = P.load().interpret.outliers
    frame, figure, summary = outlier_report(binary_validation(), block.z, block.min_share, block.examples)
    write_csv(OUTLIER_LIST, frame)
    write_json(METRICS / "outliers.json", summary)
    save(figure, PLOTS / "outliers.png")


if __name__ == "__main__":
    run(main)
