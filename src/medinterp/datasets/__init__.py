"""Readers for the published layouts of BreakHis, BreCaHAD and the ISIC 2016/2019/2020 archives.

Each reader returns a table of records (one row per image, paths relative to the data root) and a
:class:`ReadReport` that counts what was read and what was skipped on purpose, with the reason.
"""

from medinterp.datasets.report import ReadReport

__all__ = ["ReadReport"]
