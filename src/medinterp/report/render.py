"""The report as Markdown (``metrics/report.md``, diffable in git) and as one HTML page with the
figures (``metrics/report.html``).

Published numbers are printed as the seeds print them (``59.12``, ``0.0126``); this run's to four
significant digits; a missing value as ``-``.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medinterp.report.tables import Table

MISSING = "-"


def cell(value: Any, published: bool) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v, published) for v in value)
    if isinstance(value, float):
        return f"{value:g}" if published else f"{value:.4g}"
    return str(value)


def _cells(table: Table, row: list[Any]) -> list[str]:
    published = set(table.published_columns())
    return [cell(v, i in published) for i, v in enumerate(row)]


def markdown(
    title: str, context: dict[str, Any], tables: Sequence[Table], figures: Sequence[tuple[str, Path]], base: Path
) -> str:
    """The report in Markdown; figure links are relative to ``base`` (the report's folder)."""
    lines = [f"# {title}", ""]
    lines += [f"- **{k}**: {cell(v, False)}" for k, v in context.items()]
    for table in tables:
        lines += ["", f"## {table.title}", ""]
        lines.append("| " + " | ".join(table.columns) + " |")
        lines.append("|" + "---|" * len(table.columns))
        lines += ["| " + " | ".join(_cells(table, row)) + " |" for row in table.rows]
        if table.note:
            lines += ["", table.note]
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"- [{caption}]({_relative(path, base)})" for caption, path in figures]
    return "\n".join(lines) + "\n"


def html_page(
    title: str, context: dict[str, Any], tables: Sequence[Table], figures: Sequence[tuple[str, Path]], base: Path
) -> str:
    """The report as a standalone HTML page that shows the figures (linked relative to ``base``)."""
    esc = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "th.pub,td.pub{background:#f3f3f3}figure{display:inline-block;margin:8px;vertical-align:top}"
        "img{max-width:560px}</style></head><body>",
        f"<h1>{esc(title)}</h1><ul>",
    ]
    parts += [f"<li><b>{esc(k)}</b>: {esc(cell(v, False))}</li>" for k, v in context.items()]
    parts.append("</ul>")
    for table in tables:
        published = set(table.published_columns())
        parts.append(f"<h2>{esc(table.title)}</h2><table><tr>")
        parts += [f"<th{' class=pub' if i in published else ''}>{esc(c)}</th>" for i, c in enumerate(table.columns)]
        parts.append("</tr>")
        for row in table.rows:
            cells = _cells(table, row)
            parts.append(
                "<tr>"
                + "".join(f"<td{' class=pub' if i in published else ''}>{esc(c)}</td>" for i, c in enumerate(cells))
                + "</tr>"
            )
        parts.append("</table>")
        if table.note:
            parts.append(f"<p>{esc(table.note)}</p>")
    if figures:
        parts.append("<h2>Figures</h2>")
        parts += [
            f"<figure><img src='{esc(_relative(path, base))}' alt='{esc(caption)}'>"
            f"<figcaption>{esc(caption)}</figcaption></figure>"
            for caption, path in figures
        ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _relative(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()
