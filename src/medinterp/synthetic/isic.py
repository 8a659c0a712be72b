"""ISIC 2016 Part 3, ISIC 2019 and ISIC 2020 miniatures, with the archives' CSV headers, value
vocabularies, line endings and quirks (headerless 2016 files, one-hot 2019 ground truth with
``_downsampled`` names and licence files beside the images, 2020 v1/v2 ground truths and the
duplicates list). Some 2019 images reuse 2016 ids and pictures, as in the real releases."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from medinterp.datasets.isic2019 import CLASSES as ISIC2019_CLASSES
from medinterp.synthetic.counts import ISIC2016Counts, ISIC2019Counts, ISIC2020Counts
from medinterp.synthetic.files import ImageTask, split_count, write_csv_rows

ISIC2016_KEY, ISIC2019_KEY, ISIC2020_KEY = 5, 4, 3
SIZES = ((384, 256), (400, 300), (448, 336), (512, 384), (360, 270))
# The archives' real picture sizes, for measuring decode cost (--original-resolution); picked
# uniformly. UNCERTAIN: seen in the releases, their shares are not known (not in shared/datasets.md).
ORIGINAL_SIZES = {
    ISIC2016_KEY: ((1024, 768), (4288, 2848)),
    ISIC2019_KEY: ((1024, 1024), (600, 450), (1024, 768)),  # BCN_20000, HAM10000, MSK
    ISIC2020_KEY: ((6000, 4000), (4288, 2848), (1024, 768)),
}

# Vocabularies and their real frequencies (shared/datasets.md), used as sampling weights.
ISIC2020_BENIGN_DIAGNOSES = {
    "unknown": 27124,
    "nevus": 5193,
    "seborrheic keratosis": 135,
    "lentigo NOS": 44,
    "lichenoid keratosis": 37,
    "solar lentigo": 7,
    "cafe-au-lait macule": 1,
    "atypical melanocytic proliferation": 1,
}
ISIC2020_STYLE = {
    "melanoma": "MEL",
    "nevus": "NV",
    "unknown": "NV",
    "seborrheic keratosis": "BKL",
    "lentigo NOS": "BKL",
    "lichenoid keratosis": "BKL",
    "solar lentigo": "BKL",
    "cafe-au-lait macule": "NV",
    "atypical melanocytic proliferation": "NV",
}
ISIC2020_SITES = {
    "torso": 16845,
    "lower extremity": 8417,
    "upper extremity": 4983,
    "head/neck": 1855,
    "palms/soles": 375,
    "oral/genital": 124,
    "": 527,
}
ISIC2020_SEX = {"male": 17080, "female": 15981, "": 65}
ISIC2019_SITES = {
    "anterior torso": 6915,
    "lower extremity": 4990,
    "head/neck": 4587,
    "upper extremity": 2910,
    "posterior torso": 2787,
    "palms/soles": 398,
    "oral/genital": 59,
    "lateral torso": 54,
    "": 2631,
}
ISIC2019_SEX = {"male": 13286, "female": 11661, "": 384}
ISIC2019_LESION_SOURCES = {"BCN": 12413, "HAM": 10015, "MSK4": 819, "": 2084}


class IdPool:
    """Unique 7-digit ISIC numbers across the three archives (shared ids are reused on purpose)."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._used: set[int] = set()

    def take(self, n: int, prefix: str = "ISIC_") -> list[str]:
        out = []
        while len(out) < n:
            k = int(self._rng.integers(0, 9_999_999))
            if k not in self._used:
                self._used.add(k)
                out.append(f"{prefix}{k:07d}")
        return out


def _pick(rng: np.random.Generator, weights: dict[str, int], n: int) -> list[str]:
    keys = list(weights)
    p = np.asarray(list(weights.values()), dtype=float)
    return [keys[i] for i in rng.choice(len(keys), size=n, p=p / p.sum())]


def _size(rng: np.random.Generator) -> dict:
    width, height = SIZES[rng.integers(len(SIZES))]
    return {"width": int(width), "height": int(height)}


def isic_tasks(
    out: Path,
    c2016: ISIC2016Counts,
    c2019: ISIC2019Counts,
    c2020: ISIC2020Counts,
    seed: int,
    original_resolution: float = 0.0,
) -> list[ImageTask]:
    """Write every ISIC CSV and return the picture tasks; 2016 comes first because 2019 reuses it.

    ``original_resolution`` is the share of pictures (at least one if above 0) written at one of
    their archive's real sizes instead of a small one.
    """
    ids = IdPool(np.random.default_rng((seed, 199)))
    tasks_2016, shared = _isic2016(out / "ISIC_2016", c2016, seed, ids)
    tasks = (
        tasks_2016
        + _isic2019(out / "ISIC_2019", c2019, seed, ids, shared)
        + _isic2020(out / "ISIC_2020", c2020, seed, ids)
    )
    return _at_original_resolution(tasks, original_resolution, seed) if original_resolution > 0 else tasks


def _at_original_resolution(tasks: list[ImageTask], share: float, seed: int) -> list[ImageTask]:
    """Real sizes for ``share`` of the pictures; copies of one picture (same key) keep one size."""
    rng = np.random.default_rng((seed, 300))
    pictures = sorted({task.key for task in tasks})
    picked = rng.choice(len(pictures), size=max(1, round(share * len(pictures))), replace=False)
    sizes = {}
    for i in picked:
        key = pictures[i]
        choices = ORIGINAL_SIZES[key[1]]
        width, height = choices[rng.integers(len(choices))]
        sizes[key] = {"width": width, "height": height}
    return [replace(task, args={**task.args, **sizes[task.key]}) if task.key in sizes else task for task in tasks]


def _isic2016(
    root: Path, counts: ISIC2016Counts, seed: int, ids: IdPool
) -> tuple[list[ImageTask], list[tuple[str, int, ImageTask]]]:
    rng = np.random.default_rng((seed, 100 + ISIC2016_KEY))
    tasks, everything = [], []
    index = 0
    for part, (benign, malignant), folder, truth in (
        ("train", counts.train, "ISBI2016_ISIC_Part3_Training_Data", "ISBI2016_ISIC_Part3_Training_GroundTruth.csv"),
        ("test", counts.test, "ISBI2016_ISIC_Part3_Test_Data", "ISBI2016_ISIC_Part3_Test_GroundTruth.csv"),
    ):
        names = sorted(ids.take(benign + malignant))
        labels = rng.permutation([0] * benign + [1] * malignant)
        rows = []
        for name, label in zip(names, labels):
            style = "MEL" if label else str(rng.choice(["NV", "NV", "BKL"]))
            task = ImageTask(
                root / folder / f"{name}.jpg", "lesion", (seed, ISIC2016_KEY, index), {**_size(rng), "style": style}
            )
            index += 1
            tasks.append(task)
            everything.append((name, int(label), task))
            # The training file says benign/malignant, the test file 0.0/1.0.
            rows.append((name, ("malignant" if label else "benign") if part == "train" else f"{float(label):.1f}"))
        write_csv_rows(root / truth, rows)
    return tasks, everything


def _isic2019(
    root: Path, counts: ISIC2019Counts, seed: int, ids: IdPool, isic2016: list[tuple[str, int, ImageTask]]
) -> list[ImageTask]:
    rng = np.random.default_rng((seed, 100 + ISIC2019_KEY))
    # Reuse 2016 pictures under their ids; take test ones first so the leakage check has work to do.
    shared = sorted(isic2016, key=lambda item: "ISBI2016_ISIC_Part3_Test_Data" not in str(item[2].path))[
        : counts.shared_with_isic2016
    ]
    images: list[tuple[str, str, ImageTask | None]] = []
    remaining = dict(counts.images)
    for name, label, task in shared:
        diagnosis = "MEL" if label else "NV"
        if remaining[diagnosis] > 0:
            remaining[diagnosis] -= 1
            images.append((name, diagnosis, task))
    fresh = [d for d, n in remaining.items() for _ in range(n)]
    names = ids.take(len(fresh))
    downsampled = set(rng.choice(len(fresh), size=min(counts.downsampled, len(fresh)), replace=False))
    for i, (name, diagnosis) in enumerate(zip(names, fresh)):
        images.append((f"{name}_downsampled" if i in downsampled else name, diagnosis, None))
    images.sort()

    folder = root / "ISIC_2019_Training_Input"
    tasks, truth, metadata = (
        [],
        [("image", *ISIC2019_CLASSES)],
        [("image", "age_approx", "anatom_site_general", "lesion_id", "sex")],
    )
    sources = _pick(rng, ISIC2019_LESION_SOURCES, len(images))
    lesion_ids = ids.take(len(images), prefix="")
    last_ham: dict[str, str] = {}
    for i, (name, diagnosis, source_task) in enumerate(images):
        args = source_task.args if source_task else {**_size(rng), "style": diagnosis}
        key = source_task.key if source_task else (seed, ISIC2019_KEY, i)
        tasks.append(ImageTask(folder / f"{name}.jpg", "lesion", key, args))
        truth.append((name, *("1.0" if c == diagnosis else "0.0" for c in ISIC2019_CLASSES)))
        lesion = "" if not sources[i] else f"{sources[i]}_{lesion_ids[i]}"
        if sources[i] == "HAM":
            # HAM10000 has several pictures of one lesion: group some consecutive same-class images.
            if diagnosis in last_ham and rng.random() < 0.35:
                lesion = last_ham[diagnosis]
            last_ham[diagnosis] = lesion
        age = "" if rng.random() < 437 / 25331 else str(int(rng.integers(1, 18)) * 5)
        metadata.append((name, age, _pick(rng, ISIC2019_SITES, 1)[0], lesion, _pick(rng, ISIC2019_SEX, 1)[0]))
    write_csv_rows(root / "ISIC_2019_Training_GroundTruth.csv", truth)
    write_csv_rows(root / "ISIC_2019_Training_Metadata.csv", metadata)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ATTRIBUTION.txt").write_text("Synthetic images generated by medinterp; no real patient data.\n")
    (folder / "LICENSE.txt").write_text("CC0: synthetic data.\n")
    return tasks


def _isic2020(root: Path, counts: ISIC2020Counts, seed: int, ids: IdPool) -> list[ImageTask]:
    rng = np.random.default_rng((seed, 100 + ISIC2020_KEY))
    names = ids.take(counts.images)
    patients = ids.take(counts.patients, prefix="IP_")
    patient_of = np.repeat(np.arange(counts.patients), split_count(rng, counts.images, counts.patients))[
        : counts.images
    ]
    rng.shuffle(patient_of)
    malignant = set(rng.choice(counts.images, size=counts.malignant, replace=False))
    diagnoses = [
        "melanoma" if i in malignant else d for i, d in enumerate(_pick(rng, ISIC2020_BENIGN_DIAGNOSES, counts.images))
    ]
    sex = _pick(rng, ISIC2020_SEX, counts.patients)
    age = [None if rng.random() < 68 / 33126 else int(rng.integers(0, 19)) * 5 for _ in range(counts.patients)]
    sites = _pick(rng, ISIC2020_SITES, counts.images)
    lesions = ids.take(counts.images, prefix="IL_")

    # Duplicate pairs (benign, as good as all of the real ones): the second image is the first
    # picture again, saved at another JPEG quality, of the same patient and lesion.
    copy_of: dict[int, int] = {}
    benign = rng.permutation([i for i in range(counts.images) if i not in malignant])
    for a, b in zip(benign[0 : 2 * counts.duplicate_pairs : 2], benign[1 : 2 * counts.duplicate_pairs : 2]):
        first, second = sorted((int(a), int(b)), key=lambda i: names[i])
        copy_of[second] = first
        patient_of[second], diagnoses[second], sites[second], lesions[second] = (
            patient_of[first],
            diagnoses[first],
            sites[first],
            lesions[first],
        )

    args = [{**_size(rng), "style": ISIC2020_STYLE[d]} for d in diagnoses]
    tasks = []
    for i, name in enumerate(names):
        source = copy_of.get(i, i)
        quality = 80 if i in copy_of else 90
        tasks.append(
            ImageTask(
                root / "train" / f"{name}.jpg",
                "lesion",
                (seed, ISIC2020_KEY, source),
                args[source],
                {"quality": quality},
            )
        )

    header_v1 = (
        "image_name",
        "patient_id",
        "sex",
        "age_approx",
        "anatom_site_general_challenge",
        "diagnosis",
        "benign_malignant",
        "target",
    )
    header_v2 = (
        "image_name",
        "patient_id",
        "lesion_id",
        "sex",
        "age_approx",
        "anatom_site_general_challenge",
        "diagnosis",
        "benign_malignant",
        "target",
    )
    rows_v1, rows_v2 = [header_v1], [header_v2]
    odd_lesion = int(rng.integers(counts.images))  # one v2 row has lesion_id "0", as ISIC_3746471 does
    for i in rng.permutation(counts.images):
        p = patient_of[i]
        label = int(i in malignant)
        a = age[p]
        common = (sex[p], diagnoses[i], "malignant" if label else "benign", str(label))
        rows_v1.append((names[i], patients[p], common[0], "" if a is None else f"{a:.1f}", sites[i], *common[1:]))
        rows_v2.append(
            (
                names[i],
                patients[p],
                "0" if i == odd_lesion else lesions[i],
                common[0],
                "" if a is None else str(a),
                sites[i],
                *common[1:],
            )
        )
    write_csv_rows(root / "ISIC_2020_Training_GroundTruth.csv", rows_v1, newline="\n")
    write_csv_rows(root / "ISIC_2020_Training_GroundTruth_v2.csv", rows_v2)
    pairs = sorted((names[first], names[second]) for second, first in copy_of.items())
    write_csv_rows(
        root / "ISIC_2020_Training_Duplicates.csv", [("image_name_1", "image_name_2"), *pairs], final_newline=False
    )
    return tasks
