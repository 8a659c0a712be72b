"""From a checkpoint file to a :class:`~medinterp.interpret.adapter.ModelAdapter`, whatever its family.

The interpretation stages read the model from its checkpoint, not from ``params.yaml``: the file
says which architecture and family it is (``info``, read with numpy alone), so
``dvc exp run -S model=vgg16`` retrains and the stages follow, and only that family's framework is
imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medinterp.interpret.adapter import ModelAdapter
from medinterp.models import checkpoint as checkpoint_files
from medinterp.models.families import family_function


def load_adapter(path: str | Path, initial: bool = False) -> tuple[ModelAdapter, dict[str, Any]]:
    """The checkpoint's model behind its family's adapter, and the checkpoint's ``info``.

    ``initial=True`` gives the network the fine-tuning started from instead: the registry's network
    with the checkpoint's initialisation (``info["init_used"]``: ImageNet weights, or random ones in
    the sample profile) drawn under its seed, the thesis's "pre-trained" model."""
    family = checkpoint_files.read_info(path)["family"]
    return family_function("checkpoint_adapter", family)(path, initial)
