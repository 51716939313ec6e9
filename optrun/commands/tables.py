"""Columns for the result tables every command prints (run, check, sweep,
compare, bench, grad): they fit the width they are given, a terminal's or,
piped, $COLUMNS else 80 (:func:`optrun.commands.common.out`).

A numeric column (a value, a count, a time) is never broken: it is as wide
as its widest cell. A text column folds at spaces (a file name or a path
after ``/``, ``-`` or ``_``: :class:`Breakable`), inside a word only when the
word is wider than the whole console. :func:`fitted` sizes every column
itself (rich, short of room, would narrow a no_wrap column too, cutting its
numbers): the table as it is if it fits; else with its headers folded into
lines (a numeric header to its cells' width, a dotted key at its dots); else
without its borders; else as records, one field/value table per row.
"""

from __future__ import annotations

import copy
import re
import textwrap
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


def add_column(table: Table, header: str, numeric: bool = False) -> None:
    """A column of ``table``: ``numeric`` ones right-aligned and never broken, others folded."""
    if numeric:
        table.add_column(header, justify="right", no_wrap=True)
    else:
        table.add_column(header, overflow="fold")


def add_columns(table: Table, headers: tuple[str, ...] | list[str], numeric: tuple[str, ...] = ()) -> None:
    """:func:`add_column` for each header; those in ``numeric`` are numeric."""
    for header in headers:
        add_column(table, header, header in numeric)


class Breakable:
    """Text that wraps only after ``/``, ``-`` or ``_`` (a path, a file name,
    a run name): never inside a part, unless one part alone is wider than
    the column (then it folds). Shown literally, never as markup."""

    PARTS = re.compile(r"[^/_-]*[/_-]|[^/_-]+$")

    def __init__(self, text: str) -> None:
        self.text = text
        self.parts = self.PARTS.findall(text) or [text]

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(max(map(cell_len, self.parts)), cell_len(self.text))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines, line = [], ""
        for part in self.parts:
            if line and cell_len(line + part) > options.max_width:
                lines.append(line)
                line = ""
            line += part
        yield Text("\n".join([*lines, line]), overflow="fold")


def fitted(table: Table, console: Console) -> RenderableType:
    """``table`` sized to ``console``'s width (see the module docstring); it
    is changed in place (its columns' widths and headers)."""
    n = len(table.columns)
    unbounded = console.options.update_width(10**6)
    measured = [[Measurement.get(console, unbounded, cell) for cell in column.cells] for column in table.columns]
    for fold in (False, True):
        headers, least = _least_widths(table, measured, fold)
        if sum(least) + 3 * n + 1 <= console.width:  # borders and padding: three characters a column
            return _sized(table, console, headers, least, 3 * n + 1)
    if sum(least) + 2 * (n - 1) <= console.width:  # no borders: two spaces between columns
        plain = copy.copy(table)
        plain.box, plain.show_edge, plain.pad_edge, plain.header_style = None, False, False, "bold underline"
        return _sized(plain, console, headers, least, 2 * (n - 1))
    return _records(table)


def _least_widths(table: Table, measured: list[list[Measurement]], fold: bool) -> tuple[list[str], list[int]]:
    """Each column's header (folded into lines with ``fold``) and the least
    width (padding left out) that breaks neither a number nor a word;
    ``measured``: each column's cells, measured once."""
    headers, widths = [], []
    for column, cells in zip(table.columns, measured):
        header = str(column.header)
        if column.no_wrap:  # rich never wraps a no_wrap column, its header neither: fold it here
            width = max([0, *(cell.maximum for cell in cells)])
            header = "\n".join(textwrap.wrap(header, max([width, *map(len, header.split())]))) if fold else header
            width = max([width, *map(len, header.splitlines())])
        else:  # a long dotted key (optimizer.step_size) folds at its dots
            words = [part for word in header.split() for part in (_dotted(word) if fold else [word])]
            header = " ".join(words).replace(". ", ".\n") if fold else header
            width = max([1, *map(len, words), *(cell.minimum for cell in cells)])
        headers.append(header)
        widths.append(width)
    return headers, widths


def _dotted(word: str) -> list[str]:
    """A long dotted key as its parts, each but the last keeping its dot."""
    if len(word) <= 12 or "." not in word:
        return [word]
    parts = word.split(".")
    return [part + "." for part in parts[:-1]] + [parts[-1]]


def _sized(table: Table, console: Console, headers: list[str], least: list[int], overhead: int) -> Table:
    """``table`` with these headers and every column's width set: the least
    widths, and what is left of the console's width shared among the text
    columns up to their widest cell."""
    unbounded = console.options.update_width(10**6)
    wants = []
    for column, header, width in zip(table.columns, headers, least):
        cells = [Measurement.get(console, unbounded, cell).maximum for cell in column.cells]
        widest = max([width, *map(len, header.split()), *cells])
        wants.append(0 if column.no_wrap else widest - width)
    room = console.width - overhead - sum(least)
    share = 1.0 if sum(wants) <= room else room / sum(wants)
    for column, header, width, want in zip(table.columns, headers, least, wants):
        column.header = header
        column.width = width + int(want * share)
    return table


def _records(table: Table) -> Group:
    """The rows of ``table`` as records: one field/value table per row, under
    its title (at the console's width) and over its caption."""
    headers = [" ".join(str(column.header).split()) for column in table.columns]
    columns = [list(column.cells) for column in table.columns]
    parts: list[Any] = [table.title] if table.title is not None else []
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


def print_table(table: Table) -> None:
    """Print ``table`` on stdout, fitted to its width (:func:`fitted`)."""
    from optrun.commands.common import out

    console = out()
    console.print(fitted(table, console))
