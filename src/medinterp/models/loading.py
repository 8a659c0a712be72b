"""From a checkpoint file to a :class:`~medinterp.interpret.adapter.ModelAdapter`, whatever its family.

The interpretation stages read the model from its checkpoint, not from ``params.yaml``: the file
says which architecture it is (``info["architecture"]``), so ``dvc exp run -S model=vgg16`` retrains
and the stages follow. The file's suffix says the family (``.pt``: torch, ``.keras``: keras), and
only that family's framework is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medinterp.errors import ConfigError
from medinterp.interpret.adapter import ModelAdapter

SUFFIXES = {".pt": "torch", ".keras": "keras"}


def checkpoint_family(path: str | Path) -> str:
    """The family a checkpoint file belongs to, from its suffix."""
    path = Path(path)
    family = SUFFIXES.get(path.suffix)
    if family is None:
        raise ConfigError(f"{path}: not a checkpoint medinterp reads (expected one of "
                          f"{', '.join(f'{s} ({f})' for s, f in SUFFIXES.items())})")
    return family


def find_checkpoint(folder: str | Path) -> Path:
    """The one ``model.<suffix>`` checkpoint a training stage wrote into ``folder``."""
    folder = Path(folder)
    found = [folder / f"model{suffix}" for suffix in SUFFIXES if (folder / f"model{suffix}").is_file()]
    if not found:
        raise ConfigError(f"{folder}: no checkpoint ({', '.join(f'model{s}' for s in SUFFIXES)}); "
                          "run the training stage first (dvc repro)")
    if len(found) > 1:
        raise ConfigError(f"{folder}: more than one checkpoint ({', '.join(p.name for p in found)}); "
                          "remove the one of the family not in use")
    return found[0]


def load_adapter(path: str | Path, initial: bool = False) -> tuple[ModelAdapter, dict[str, Any]]:
    """The checkpoint's model behind its family's adapter, and the checkpoint's ``info``.

    ``initial=True`` gives the network the fine-tuning started from instead: the registry's network
    with the checkpoint's initialisation (``info["init_used"]``: ImageNet weights, or random ones in
    the sample profile) drawn under its seed, the thesis's "pre-trained" model."""
    path = Path(path)
    family = checkpoint_family(path)
    if family == "keras":
        raise ConfigError(
            f"{path}: a Keras checkpoint, and the keras family cannot be interpreted yet: it needs a KerasAdapter "
            "(medinterp.models.keras.adapter, the ModelAdapter protocol of medinterp.interpret.adapter) and a loader "
            "of its ISIC checkpoints, neither of which exists"
        )
    # torch takes ~10 s to import: only for a torch checkpoint
    from medinterp.models.torch.interpret import checkpoint_adapter

    return checkpoint_adapter(path, initial)
