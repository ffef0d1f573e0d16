"""How `lettering … list` commands print: a header row, aligned columns, times in Asia/Seoul."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime

import typer

from lettering.core.clock import SEOUL


def seoul(moment: datetime | None) -> str:
    """A stored (UTC) time as an operator in Korea reads it, the zone shown: `2026-12-03 15:04 KST`."""
    if moment is None:
        return "-"
    return moment.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M %Z")


def _width(text: str) -> int:
    """Columns `text` takes on a terminal (Hangul and other wide characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def echo_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print the header and the rows in columns two spaces apart; the last column is not padded."""
    widths = [max([_width(h)] + [_width(row[i]) for row in rows]) for i, h in enumerate(header)]
    for line in [header, *rows]:
        cells = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(line[:-1])]
        typer.echo("  ".join([*cells, line[-1]]).rstrip())
