"""BreakHis v1 miniature: the archive's folder tree and file names, 700x460 PNGs (some 700x456),
and slide 14-13412 under both ductal and lobular carcinoma with the same pictures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from medinterp.datasets.breakhis import TUMOR_TYPES
from medinterp.synthetic.counts import BreakHisCounts
from medinterp.synthetic.files import ImageTask, split_count

DATASET_KEY = 1
RELABELLED_SLIDE = "14-13412"
SLIDE_SUFFIXES = ("", "", "", "AB", "CD", "EF", "DE", "F", "G")
WIDTH, HEIGHT, SHORT_HEIGHT = 700, 460, 456


def breakhis_tasks(out: Path, counts: BreakHisCounts, seed: int) -> list[ImageTask]:
    rng = np.random.default_rng((seed, 100 + DATASET_KEY))
    breast = out / "BreaKHis_v1" / "histology_slides" / "breast"
    patients = _patients(rng, counts)
    everyone = [p for per_type in patients.values() for p in per_type]
    short = set(rng.choice(len(everyone), size=max(1, round(counts.short_image_share * len(everyone))), replace=False))
    for i, patient in enumerate(everyone):
        patient["height"] = SHORT_HEIGHT if i in short and not patient.get("copy_of") else HEIGHT

    # The relabelled slide's images are counted under both subtypes, so its DC share must leave
    # every other LC patient at least one image.
    lc_own = sum(1 for p in patients["LC"] if not p.get("copy_of"))
    per_patient: dict[str, dict[int, int]] = {}
    for mag, per_type in counts.images.items():
        for type_code, total in per_type.items():
            own = [p for p in patients[type_code] if not p.get("copy_of")]
            copies = [p for p in patients[type_code] if p.get("copy_of")]
            copied = sum(per_patient[c["copy_of"]][mag] for c in copies)
            shares = split_count(rng, total - copied, len(own))
            if type_code == "DC" and len(shares) > 1:
                cap = max(1, per_type["LC"] - lc_own)
                shares[1] += max(0, shares[0] - cap)
                shares[0] = min(shares[0], cap)
            for patient, n in zip(own, shares):
                per_patient.setdefault(patient["slide_key"], {})[mag] = n
            for copy in copies:
                per_patient.setdefault(copy["slide_key"], {})[mag] = per_patient[copy["copy_of"]][mag]

    tasks: list[ImageTask] = []
    keys: dict[tuple[str, int, int], tuple[int, ...]] = {}
    for patient in everyone:
        type_code, slide = patient["type"], patient["slide"]
        class_name, subtype = TUMOR_TYPES[type_code]
        cls = class_name[0].upper()
        folder = breast / class_name / "SOB" / subtype / f"SOB_{cls}_{type_code}_{slide}"
        source = patient.get("copy_of", patient["slide_key"])
        for mag in sorted(counts.images):
            for seq in range(1, per_patient[patient["slide_key"]][mag] + 1):
                key = keys.setdefault((source, mag, seq), (seed, DATASET_KEY, len(keys)))
                tasks.append(
                    ImageTask(
                        path=folder / f"{mag}X" / f"SOB_{cls}_{type_code}-{slide}-{mag}-{seq:03d}.png",
                        renderer="breakhis",
                        key=key,
                        args={
                            "width": WIDTH,
                            "height": patient["height"],
                            "malignant": class_name == "malignant",
                            "magnification": mag,
                        },
                    )
                )
    _vary_png_modes(rng, tasks)
    return tasks


def _patients(rng: np.random.Generator, counts: BreakHisCounts) -> dict[str, list[dict]]:
    """Patient folders per tumour type with unique slide ids; DC's first is the relabelled slide,
    and LC's last is its copy."""
    used = {RELABELLED_SLIDE}
    patients: dict[str, list[dict]] = {}
    for type_code, n in counts.patients.items():
        patients[type_code] = []
        for i in range(n):
            if type_code == "DC" and i == 0:
                slide = RELABELLED_SLIDE
            elif type_code == "LC" and i == n - 1:
                patients[type_code].append(
                    {
                        "type": "LC",
                        "slide": RELABELLED_SLIDE,
                        "slide_key": f"LC:{RELABELLED_SLIDE}",
                        "copy_of": f"DC:{RELABELLED_SLIDE}",
                    }
                )
                continue
            elif type_code == "PC" and i == 0 and n > 1:
                slide = "15-190EF"
            else:
                slide = RELABELLED_SLIDE
                while slide in used:
                    slide = f"14-{rng.integers(1000, 30000)}{rng.choice(SLIDE_SUFFIXES)}"
            used.add(slide)
            patients[type_code].append({"type": type_code, "slide": slide, "slide_key": f"{type_code}:{slide}"})
    return patients


def _vary_png_modes(rng: np.random.Generator, tasks: list[ImageTask]) -> None:
    """One RGBA and one palette PNG, so readers meet both (some copies of the archive have them).

    The relabelled slide is left alone: its two copies stay the same bytes. Pairs are drawn from
    every task and redrawn while one lands on that slide, which keeps the bundled sample's draws.
    """
    picks = rng.choice(len(tasks), size=2, replace=False)
    while any(RELABELLED_SLIDE in tasks[i].path.name for i in picks):
        picks = rng.choice(len(tasks), size=2, replace=False)
    for i, mode in zip(picks, ("RGBA", "P")):
        tasks[i] = replace(tasks[i], save={**tasks[i].save, "mode": mode})
