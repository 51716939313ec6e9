"""Columns for the result tables every command prints (run, check, sweep,
compare, bench): they fit the width they are given, a terminal's or, piped,
$COLUMNS else 80 (:func:`optrun.commands.common.out`).

A numeric column (a value, a count, a time) is never broken: rich gives it
at least its widest cell. A text column folds: at spaces first, and inside a
word only when the word is wider than the column; its header words are never
broken. A table that cannot fit even so is printed without its borders,
and if that does not fit either, as records: one small two-column table per
row, every field by its header (:func:`fitted`). Paths are shown relative to the working folder when that is shorter
(:func:`optrun.commands.common.shown`), so they rarely need folding at all.
"""

from __future__ import annotations

import copy
import textwrap
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table


def add_column(table: Table, header: str, numeric: bool = False) -> None:
    """A column of ``table``: ``numeric`` ones right-aligned and never broken,
    others folded; either at least as wide as the header's longest word."""
    if len(header) > 12 and "." in header and " " not in header:  # a dotted key (optimizer.step_size): a line a part
        header = ".\n".join(header.split("."))
    width = max(map(len, header.split()))  # (rich adds the padding to a column's min_width)
    if numeric:
        table.add_column(header, justify="right", no_wrap=True, min_width=width)
    else:
        table.add_column(header, overflow="fold", min_width=width)


def add_columns(table: Table, headers: tuple[str, ...] | list[str], numeric: tuple[str, ...] = ()) -> None:
    """:func:`add_column` for each header; those in ``numeric`` are numeric."""
    for header in headers:
        add_column(table, header, header in numeric)


def fitted(table: Table, console: Console) -> RenderableType:
    """``table`` if it fits ``console``'s width; else the same table without
    its borders (columns two spaces apart) if that fits; else its rows as
    records: one field/value table per row, under the table's title and
    over its caption."""
    if _fits(_least_widths(table, console, fold=False), console.width):
        return table
    widths = _least_widths(table, console, fold=True)
    if _fits(widths, console.width):
        return table
    if sum(widths) + 2 * (len(widths) - 1) <= console.width:  # two spaces between columns
        plain = copy.copy(table)
        plain.box, plain.show_edge, plain.pad_edge, plain.header_style = None, False, False, "bold underline"
        return plain
    headers = [" ".join(str(column.header).split()) for column in table.columns]  # (folded above: one line again)
    columns = [list(column.cells) for column in table.columns]
    parts: list[Any] = [table.title] if table.title is not None else []  # the console's width, not a record's
    for i in range(table.row_count):
        record = Table(show_header=False)
        record.add_column("field", style="bold", no_wrap=True)
        record.add_column("value", overflow="fold")
        for header, cells in zip(headers, columns):
            record.add_row(header, cells[i])
        parts.append(record)
    if table.caption is not None:
        parts.append(table.caption)
    return Group(*parts)


def _fits(widths: list[int], width: int) -> bool:
    """Columns of these widths fit in ``width`` with rich's borders and padding (three characters a column)."""
    return sum(widths) + 3 * len(widths) + 1 <= width


def _least_widths(table: Table, console: Console, fold: bool) -> list[int]:
    """The least width of each column (padding left out) that breaks neither
    a number nor a word: a numeric column's widest cell, a text column's
    longest word. A numeric column's header is whole, or with ``fold``
    folded into lines no wider than its cells (rich never wraps inside a
    no_wrap column, the header neither): the header is changed."""
    unbounded = console.options.update_width(10**6)
    widths = []
    for column in table.columns:
        cells = [Measurement.get(console, unbounded, cell) for cell in column.cells]
        words = str(column.header).split()
        if column.no_wrap:
            head = len(max(words, key=len, default="")) if fold else len(str(column.header))
            width = max([head, *(cell.maximum for cell in cells)])
            if fold:
                column.header = "\n".join(textwrap.wrap(str(column.header), width)) or column.header
        else:
            width = max([column.min_width or 1, *(cell.minimum for cell in cells)])
        widths.append(width)
    return widths


def print_table(table: Table) -> None:
    """Print ``table`` on stdout, fitted to its width (:func:`fitted`)."""
    from optrun.commands.common import out

    console = out()
    console.print(fitted(table, console))
