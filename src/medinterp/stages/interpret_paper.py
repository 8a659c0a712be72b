"""Stage ``interpret_paper@<backbone>-<variant>``: the thesis's interpretation methods on one of the
paper's classifiers (``interpret.paper.backbones`` x ``interpret.paper.variants``; none by default).

``python -m medinterp.stages.interpret_paper <backbone> <variant>``. The subject is
``paper_classifier``'s model of that backbone and variant, in its family; its images are the
BreakHis validation split (benign / malignant) at ``paper.image_size``, the size it trained on.
What the ISIC stages ``interpret_outliers``, ``interpret_filters``, ``interpret_featurevis`` and
``interpret_sanity`` write per entry of ``models``, this writes under
``metrics/interpret/paper/<backbone>/<variant>/`` and ``plots/interpret/paper/<backbone>/<variant>/``:
z-score outliers, class-specific filters (the outlier, binary and outlier-free sets; the paper has
no multiclass task), feature visualization against the network the training started from, and the
sanity checks.
"""

from __future__ import annotations

import sys

from medinterp import params, runlog
from medinterp.errors import ConfigError
from medinterp.interpret.featurevis import settings_from_params
from medinterp.interpret.featurevis_report import write_featurevis
from medinterp.interpret.filter_report import write_filters
from medinterp.interpret.outlier_report import write_outliers
from medinterp.interpret.sanity_report import write_sanity
from medinterp.paper.subject import paper_classifier_subject
from medinterp.stages import run


def main() -> None:
    if len(sys.argv) != 3:
        raise ConfigError(
            "expected two arguments, an entry of interpret.paper.backbones and of interpret.paper.variants, "
            f"got {sys.argv[1:]}"
        )
    backbone, variant = sys.argv[1:]
    config = params.load()
    interpret = config.interpret_settings()
    settings = settings_from_params(interpret.featurevis, config.seed)
    subject, initial = paper_classifier_subject(config, backbone, variant)
    write_outliers(
        subject.name,
        subject.validation,
        interpret.outliers.z,
        interpret.outliers.min_share,
        interpret.outliers.examples,
    )
    write_filters(subject, interpret, None)
    speed = {
        "featurevis": write_featurevis(subject, initial, interpret, settings),
        "sanity": write_sanity(subject, interpret, settings, config.seed),
    }
    runlog.write(f"interpret_paper@{backbone}-{variant}", speed=speed)


if __name__ == "__main__":
    run(main)
