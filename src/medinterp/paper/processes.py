"""Work over every backbone of ``paper.backbones`` with each family's framework in its own process.

TensorFlow and PyTorch must not share a process (importing both crashed), yet one stage (Table 2,
the explanation benchmark) covers every backbone. :func:`per_family` groups the backbones by
family: with one family the work runs in the calling process; with both, each family's backbones
run in a process of their own (spawned, so it starts without the other framework) and only their
results come back. The caller writes every file.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import TypeVar

from medinterp.params import Params, validate

Result = TypeVar("Result")


def per_family(params: Params, work: Callable[[Params, str], Result]) -> dict[str, Result]:
    """``work(params, backbone)`` for every backbone, in ``paper.backbones`` order. ``work`` must be a
    module-level function (a spawned process imports it by name)."""
    groups: dict[str, list[str]] = {}
    for backbone in params.paper.backbones:
        groups.setdefault(params.paper_for(backbone)[0].family, []).append(backbone)
    if len(groups) == 1:
        return _run(params, work, params.paper.backbones)
    found: dict[str, Result] = {}
    raw = params.model_dump(mode="json", by_alias=True)
    for backbones in groups.values():
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            found |= pool.apply(_in_own_process, (raw, work, backbones))
    return {backbone: found[backbone] for backbone in params.paper.backbones}


def _in_own_process(raw: dict, work: Callable[[Params, str], Result], backbones: list[str]) -> dict[str, Result]:
    # a Params does not pickle (its layered settings are classes made at run time): rebuilt here
    return _run(validate(raw), work, backbones)


def _run(params: Params, work: Callable[[Params, str], Result], backbones: list[str]) -> dict[str, Result]:
    return {backbone: work(params, backbone) for backbone in backbones}
