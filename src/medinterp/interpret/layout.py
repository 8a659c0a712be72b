"""Where the interpretation stages put their outputs: one folder per subject, an entry of ``models``
(``metrics/interpret/alexnet/``) or a paper classifier (``metrics/interpret/paper/<backbone>/<variant>/``).

::

    metrics/interpret/<subject>/outliers.{csv,json}, filters.{csv,json}, table10.csv, featurevis.{csv,json},
                                sanity.json, sanity_similarity.csv, sanity_layers.csv
    plots/interpret/<subject>/outliers.png, filters_heatmap.png, featurevis_*.png, sanity_*.png

and the explanation benchmark's (stage ``paper_explanations``), per paper backbone and variant::

    metrics/explanations.json, metrics/randomization.json
    metrics/paper/explanations/<backbone>/<variant>.csv                  per method and image
    metrics/paper/explanations/<backbone>/<variant>_randomization.csv    per step, method and image
    plots/paper/explanations/<backbone>/<variant>/methods.png, randomization.{png,csv}
"""

from __future__ import annotations

from pathlib import Path

METRICS = Path("metrics/interpret")
PLOTS = Path("plots/interpret")


def metrics_dir(subject: str) -> Path:
    return METRICS / subject


def plots_dir(subject: str) -> Path:
    return PLOTS / subject


def outlier_list(subject: str) -> Path:
    return metrics_dir(subject) / "outliers.csv"


def paper_subject(backbone: str, variant: str) -> str:
    """The subject name of a paper classifier."""
    return f"paper/{backbone}/{variant}"


EXPLANATIONS = Path("metrics/explanations.json")
RANDOMIZATION = Path("metrics/randomization.json")


def explanations_csv(backbone: str, variant: str, part: str = "") -> Path:
    return Path("metrics/paper/explanations") / backbone / f"{variant}{part}.csv"


def explanations_plot(backbone: str, variant: str, name: str) -> Path:
    return Path("plots/paper/explanations") / backbone / variant / name
