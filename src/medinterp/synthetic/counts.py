"""How many images the generator writes: the bundled sample, the real archives' counts, or a fraction.

The ``FULL`` numbers are the real datasets' (see shared/datasets.md); the sample keeps every
structural feature (all magnifications, the relabelled slide, duplicates, a BreCaHAD image without
tumour points, ``_downsampled`` names, ISIC ids shared between releases) at a size that trains in
minutes on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

BREAKHIS_TYPES = ("A", "F", "PT", "TA", "DC", "LC", "MC", "PC")


@dataclass(frozen=True)
class BreakHisCounts:
    images: dict[int, dict[str, int]]  # magnification -> tumour type -> images
    patients: dict[str, int]  # tumour type -> patient folders (the relabelled slide counted in DC and LC)
    short_image_share: float  # share of patients whose images are 700x456 instead of 700x460


@dataclass(frozen=True)
class BreCaHADCounts:
    images_per_case: dict[int, int]
    duplicates: int
    without_tumor: int


@dataclass(frozen=True)
class ISIC2020Counts:
    images: int
    malignant: int
    patients: int
    duplicate_pairs: int


@dataclass(frozen=True)
class ISIC2019Counts:
    images: dict[str, int]  # class code -> images
    downsampled: int
    shared_with_isic2016: int


@dataclass(frozen=True)
class ISIC2016Counts:
    train: tuple[int, int]  # benign, malignant
    test: tuple[int, int]


@dataclass(frozen=True)
class Counts:
    breakhis: BreakHisCounts
    brecahad: BreCaHADCounts
    isic2020: ISIC2020Counts
    isic2019: ISIC2019Counts
    isic2016: ISIC2016Counts


FULL = Counts(
    breakhis=BreakHisCounts(
        images={
            40: dict(zip(BREAKHIS_TYPES, (114, 253, 109, 149, 864, 156, 205, 145))),
            100: dict(zip(BREAKHIS_TYPES, (113, 260, 121, 150, 903, 170, 222, 142))),
            200: dict(zip(BREAKHIS_TYPES, (111, 264, 108, 140, 896, 163, 196, 135))),
            400: dict(zip(BREAKHIS_TYPES, (106, 237, 115, 130, 788, 137, 169, 138))),
        },
        patients=dict(zip(BREAKHIS_TYPES, (4, 10, 3, 7, 38, 5, 9, 6))),
        short_image_share=0.05,
    ),
    brecahad=BreCaHADCounts(
        images_per_case={
            1: 8,
            2: 8,
            3: 10,
            4: 10,
            5: 6,
            6: 9,
            7: 11,
            8: 4,
            9: 8,
            10: 10,
            11: 7,
            12: 12,
            13: 10,
            14: 12,
            15: 12,
            16: 13,
            17: 12,
        },
        duplicates=2,
        without_tumor=1,
    ),
    isic2020=ISIC2020Counts(images=33126, malignant=584, patients=2056, duplicate_pairs=425),
    isic2019=ISIC2019Counts(
        images={"MEL": 4522, "NV": 12875, "BCC": 3323, "AK": 867, "BKL": 2624, "DF": 239, "VASC": 253, "SCC": 628},
        downsampled=2074,
        shared_with_isic2016=565,
    ),
    isic2016=ISIC2016Counts(train=(727, 173), test=(304, 75)),
)

SAMPLE = Counts(
    breakhis=BreakHisCounts(
        images={
            **{mag: dict(zip(BREAKHIS_TYPES, (2, 2, 2, 2, 4, 3, 2, 2))) for mag in (40, 100, 200)},
            400: dict(zip(BREAKHIS_TYPES, (10, 12, 8, 10, 28, 14, 14, 14))),
        },
        patients=dict(zip(BREAKHIS_TYPES, (2, 2, 2, 2, 4, 3, 2, 2))),
        short_image_share=0.1,
    ),
    brecahad=BreCaHADCounts(images_per_case={1: 6, 2: 5, 3: 6, 4: 6, 5: 4}, duplicates=2, without_tumor=1),
    isic2020=ISIC2020Counts(images=140, malignant=28, patients=40, duplicate_pairs=4),
    isic2019=ISIC2019Counts(
        images={"MEL": 24, "NV": 30, "BCC": 18, "AK": 14, "BKL": 16, "DF": 12, "VASC": 12, "SCC": 14},
        downsampled=12,
        shared_with_isic2016=6,
    ),
    isic2016=ISIC2016Counts(train=(24, 8), test=(32, 10)),
)


# Minimums that keep every fraction splittable with params.yaml's split defaults: BreakHis holds
# out one of 5 slide-grouped folds (val_fraction 0.2), so each class needs 5+ slide groups at 400X;
# ISIC binary makes 5 patient-grouped folds, each with benign (ISIC 2020 only) and malignant
# images; ISIC multiclass holds out one of 5 lesion-grouped folds for test and again for
# validation, so each class needs 5+ images in what the test part leaves. A margin above those
# bounds absorbs uneven groups.
MIN_BREAKHIS_PATIENTS = {"DC": 3, "LC": 2}  # LC's second is the relabelled copy of a DC slide
MIN_PATIENTS_PER_TYPE = 2  # 8 benign slide groups; DC 3 + LC 1 + MC 2 + PC 2 malignant
MIN_ISIC2019_PER_CLASS = 10
MIN_ISIC2020 = ISIC2020Counts(images=60, malignant=5, patients=15, duplicate_pairs=1)


def scaled(fraction: float) -> Counts:
    """The real counts times ``fraction``, never below the minimums that keep the layout complete
    and the split stage's default splits possible."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction}")

    def n(value: int, minimum: int = 1) -> int:
        return max(minimum, math.ceil(value * fraction))

    bh = FULL.breakhis
    patients = {t: n(p, MIN_BREAKHIS_PATIENTS.get(t, MIN_PATIENTS_PER_TYPE)) for t, p in bh.patients.items()}
    images = {mag: {t: max(patients[t], n(c)) for t, c in per_type.items()} for mag, per_type in bh.images.items()}
    bc = FULL.brecahad
    i20, i19, i16 = FULL.isic2020, FULL.isic2019, FULL.isic2016
    return Counts(
        breakhis=replace(bh, images=images, patients=patients),
        brecahad=replace(bc, images_per_case={c: n(k, 2) for c, k in bc.images_per_case.items()}),
        isic2020=ISIC2020Counts(
            *(
                n(getattr(i20, f), getattr(MIN_ISIC2020, f))
                for f in ("images", "malignant", "patients", "duplicate_pairs")
            )
        ),
        isic2019=ISIC2019Counts(
            {c: n(k, MIN_ISIC2019_PER_CLASS) for c, k in i19.images.items()},
            n(i19.downsampled),
            n(i19.shared_with_isic2016),
        ),
        isic2016=ISIC2016Counts((n(i16.train[0]), n(i16.train[1])), (n(i16.test[0]), n(i16.test[1]))),
    )
