"""Class probabilities for images from an exported model, preprocessing taken from its metadata.

Only ONNX Runtime, numpy and Pillow run here: no training framework, no repository code paths
beyond the shared decoding (:func:`medinterp.preprocessing.arrays.decode_resized`), so the numbers
equal what the evaluation stages computed from the same files.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from medinterp.datasets.images import is_image_file
from medinterp.errors import ConfigError, DatasetError, MedinterpError
from medinterp.export import metadata
from medinterp.export.parity import session
from medinterp.preprocessing.arrays import decode_resized


def model_artifacts(dvc_yaml: str | Path = "dvc.yaml") -> dict[str, dict]:
    """The ``artifacts:`` of type ``model`` declared in ``dvc_yaml``, by name; a path that uses a
    param (``models/isic/${model}/...``) resolved by DVC's own templating, which costs DVC's import."""
    dvc_yaml = Path(dvc_yaml)
    artifacts = (yaml.safe_load(dvc_yaml.read_text()) or {}).get("artifacts", {}) if dvc_yaml.is_file() else {}
    models = {name: dict(spec) for name, spec in artifacts.items() if spec.get("type", "model") == "model"}
    if any("${" in spec["path"] for spec in models.values()):
        from dvc.repo import Repo

        resolved = Repo(str(dvc_yaml.parent), uninitialized=True).artifacts.read().get(dvc_yaml.name, {})
        for name, spec in models.items():
            spec["path"] = resolved[name].path
    return models


def resolve_model(model: str, dvc_yaml: str | Path = "dvc.yaml") -> Path:
    """A path to an ``.onnx`` file, or the name of an artifact in ``dvc.yaml``'s ``artifacts:``."""
    path = Path(model)
    if path.suffix == ".onnx" or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path}: model file not found")
        return path
    dvc_yaml = Path(dvc_yaml)
    artifacts = model_artifacts(dvc_yaml)
    if model not in artifacts:
        known = ", ".join(sorted(artifacts)) or "none here"
        raise ConfigError(f"'{model}' is neither an .onnx file nor an artifact of {dvc_yaml} (artifacts: {known})")
    path = dvc_yaml.parent / artifacts[model]["path"]
    if not path.is_file():
        raise ConfigError(f"artifact '{model}' is {path}, which is not here; run `dvc repro` or `dvc pull` first")
    return path


def collect_inputs(sources: Iterable[str | Path], root: str | Path | None = None) -> list[Path]:
    """Image paths from image files, folders (searched recursively) and CSV files with an ``image`` column.

    Paths in a CSV are relative to ``root`` if given, else to the CSV's folder.
    """
    found: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            found += sorted(p for p in source.rglob("*") if p.is_file() and is_image_file(p))
        elif source.suffix.lower() == ".csv":
            found += _from_csv(source, Path(root) if root else source.parent)
        elif source.exists():
            found.append(source)
        else:
            raise ConfigError(f"{source}: not found (give image files, folders or a CSV with an 'image' column)")
    if not found:
        raise ConfigError("no images found in the inputs given")
    return found


def _from_csv(path: Path, root: Path) -> list[Path]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "image" not in reader.fieldnames:
            raise DatasetError(path, f"needs an 'image' column; found {reader.fieldnames}")
        return [root / row["image"] for row in reader]


def input_size(spec: dict) -> int:
    """The square input side of a model's ``input`` metadata, whatever its layout."""
    return int(spec["shape"][1] if spec["layout"] == "NHWC" else spec["shape"][2])


def preprocess(pixels: np.ndarray, spec: dict) -> np.ndarray:
    """``(N, S, S, 3) uint8`` to the model's input: [0, 1], normalised, in its layout."""
    x = pixels.astype(np.float32) / 255.0
    if spec["mean"] is not None:
        x = (x - np.asarray(spec["mean"], dtype=np.float32)) / np.asarray(spec["std"], dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if spec["layout"] == "NCHW" else x)


def probabilities(outputs: np.ndarray, activation: str | None, n_classes: int) -> np.ndarray:
    """Class probabilities ``(N, K)`` from the model's logits."""
    outputs = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    if activation == "sigmoid" and outputs.shape[1] == 1 and n_classes == 2:
        p = 1.0 / (1.0 + np.exp(-outputs[:, 0]))
        return np.stack([1.0 - p, p], axis=1)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-outputs))
    if activation == "softmax":
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    raise ConfigError(
        f"the model's outputs are logits with activation {activation!r}; cannot turn them into probabilities"
    )


def check_batch_size(batch_size: object, name: str = "batch size") -> int:
    """``batch_size`` if it is a positive integer, else a :class:`ConfigError` saying what it got."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"{name} must be a positive integer, got {batch_size!r}")
    return int(batch_size)


@dataclass
class Prediction:
    image: Path
    probabilities: np.ndarray | None = None
    error: str = ""


@dataclass
class PredictionRun:
    metadata: dict
    provider: str
    predictions: list[Prediction] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        done = sum(p.probabilities is not None for p in self.predictions)
        return done / self.seconds if self.seconds > 0 else 0.0


def predict(
    model_path: str | Path, images: list[Path], batch_size: int = 32, providers: list[str] | None = None
) -> PredictionRun:
    """Probabilities for every image; an image that cannot be read gets its error instead of a crash."""
    check_batch_size(batch_size)
    meta = metadata.read(model_path)
    if meta["output"]["kind"] != "logits":
        raise ConfigError(
            f"{model_path} outputs {meta['output']['kind']}, not class scores; predict needs a classifier"
        )
    spec = meta["input"]
    size = input_size(spec)
    sess = session(model_path, providers)
    input_name = sess.get_inputs()[0].name
    run = PredictionRun(meta, sess.get_providers()[0])
    start = time.perf_counter()
    bar = tqdm(total=len(images), desc=f"predict ({run.provider})", unit="img")
    for first in range(0, len(images), batch_size):
        batch = [Prediction(p) for p in images[first : first + batch_size]]
        pixels = []
        for item in batch:
            try:
                pixels.append(decode_resized(item.image, size))
            except MedinterpError as exc:
                item.error = str(exc)
        readable = [item for item in batch if not item.error]
        if readable:
            outputs = sess.run(None, {input_name: preprocess(np.stack(pixels), spec)})[0]
            for item, probs in zip(
                readable, probabilities(outputs, meta["output"]["activation"], len(meta["class_names"]))
            ):
                item.probabilities = probs
        run.predictions += batch
        bar.update(len(batch))
    bar.close()
    run.seconds = time.perf_counter() - start
    return run


def write_predictions(path: str | Path, run: PredictionRun) -> None:
    """One row per image: ``image, p_<class>..., predicted, error``; written atomically (``medinterp.io``)."""
    from medinterp.io import atomic_path

    names = run.metadata["class_names"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["image", *[f"prob_{n}" for n in names], "predicted", "error"])
        for item in run.predictions:
            if item.probabilities is None:
                writer.writerow([item.image.as_posix(), *[""] * len(names), "", item.error])
            else:
                writer.writerow(
                    [
                        item.image.as_posix(),
                        *[f"{p:.6g}" for p in item.probabilities],
                        names[int(np.argmax(item.probabilities))],
                        "",
                    ]
                )
