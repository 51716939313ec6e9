"""The table shapes ``optrun grad`` prints (its own tables and the constraints'):
a titled table, a matrix cut to what fits, and the "first N" note."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_SHOWN = 12  # matrix rows/columns printed; grad.json has them all
MAX_ROWS = 20  # entries printed of the point, f, the gradient, a JVP or VJP; grad.json has them all


def first_note(count: int) -> str:
    return f" (first {MAX_ROWS} of {count}; all in grad.json)" if count > MAX_ROWS else ""


def matrix_table(title: str, rows: Sequence[str], columns: Sequence[str], matrix: Sequence[Sequence[float]]) -> Any:
    from rich.text import Text

    cut = len(rows) > MAX_SHOWN or len(columns) > MAX_SHOWN
    table = titled(title + (f" (first {MAX_SHOWN}; all in grad.json)" if cut else ""))
    table.add_column("")
    for column in columns[:MAX_SHOWN]:
        table.add_column(Text(column), justify="right")
    for label, row in zip(rows[:MAX_SHOWN], matrix):
        table.add_row(Text(label), *(f"{v:.6g}" for v in row[:MAX_SHOWN]))
    return table


def titled(title: str) -> Any:
    """A table under its title line (a table's own title folds to the table's width)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table: Any = Table()  # with an attribute of ours, group
    table.group = Group(Text(title, style="italic"), table)  # what tables() shows
    return table
