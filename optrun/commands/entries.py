"""Rich pieces shared by the catalogue commands (``list-problems``,
``list-optimizers``, ``describe``): plugin text made literal, the entry
table that fits the width, and what a problem or an optimizer entry says
about where it can be used.

A table fits the console's width. With ``wide`` each field has a column at
least as wide as the longest word in it (a number is a word), so rich wraps
text between words and never inside a number; narrower, each entry's fields
are stacked, one labelled line each, in one column beside the name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from optrun.commands.common import visible

WIDE = 140  # from this console width on, a table has a column per field; narrower, the fields are stacked


def _text(text: str, style: str = "") -> Text:
    """Text from a plugin (a name, a description, a note) as a literal rich
    Text: never markup, and control characters (ESC...) made visible."""
    return Text(visible(text, keep="\n"), style=style)


def _escaped(text: str) -> str:
    """Plugin text for a markup string: escaped, control characters made visible."""
    return escape(visible(text, keep="\n"))


def python_only(entry: Any) -> bool:
    """Whether a problem is usable only from the Python API (registered with
    ``python_only=True``: the ``python`` entry, under which config loading
    puts a function given to ``optrun.minimize``/``optrun.grad``); a config
    naming it cannot be run. Every other problem builds from a config."""
    return bool(getattr(entry, "python_only", False))


PYTHON_ONLY_NOTE = "only from the Python API (optrun.minimize, optrun.grad); optrun describe {name} says more"


def num_text(value) -> str:
    """A number or an array of them, to 6 significant digits: ``1e+06``, ``[1, 2e-06]``."""
    import numpy as np

    array = np.asarray(value, dtype=float)
    if array.shape == ():
        return f"{float(array):.6g}"
    return "[" + ", ".join(f"{v:.6g}" for v in array.ravel()) + "]"


def _longest_word(cells: Sequence[object]) -> int:
    return max((len(word) for cell in cells for word in str(cell).split()), default=0)


def catalogue_table(
    title: str, key: str, headers: Sequence[tuple[str, int]], rows: Sequence[tuple[Text, Sequence[Text]]], wide: bool
) -> Table:
    """A table of entries: ``key`` (the name column) then ``headers`` ((header,
    ratio of the spare width) per field). ``wide``: one column per field,
    each at least as wide as its longest word; else each row's fields stacked
    in one column, ``header: value`` per field with a value (a ratio-0 field,
    e.g. a description, first and unlabelled)."""
    table = Table(title=title, title_justify="left", expand=True)
    table.add_column(key, no_wrap=True)
    if wide:
        for i, (header, ratio) in enumerate(headers):
            words = [header, *(cells[i] for _, cells in rows)]
            # rich gives a ratio column at least its width (padding added)
            table.add_column(header, ratio=max(ratio, 1), width=_longest_word(words), overflow="fold")
        for name, cells in rows:
            table.add_row(name, *cells)
        return table
    table.add_column("details", overflow="fold", ratio=1)
    for name, cells in rows:
        lines = [cell.copy() for (_, ratio), cell in zip(headers, cells) if ratio == 0 and cell.plain not in ("", "-")]
        for (header, ratio), cell in zip(headers, cells):
            if ratio and cell.plain and cell.plain != "-":
                lines.append(Text.assemble((f"{header}: ", "bold"), cell))
        table.add_row(name, Text("\n").join(lines))
    return table


def jax_loop(entry) -> str:
    """Which loop runs the method on the jax backend: the compiled loop for a
    method registered with a compiled form (``compiled=``), the Python loop
    (with jax's derivatives) for any other."""
    from optrun.core.compiled import supports

    return "jax: compiled loop" if supports(entry) else "jax: Python loop"


# ------------------------------------------------------ bounds and constraints
def takes(entry) -> str:
    """What a method takes of a run's feasible set, as list-optimizers and
    describe say it: ``takes bounds (projected)``, ``takes bounds (scipy) and
    constraints``, or "" (it refuses a run with bounds or constraints)."""
    parts = [f"bounds ({entry.bounds})" if entry.bounds else "", "constraints" if entry.constraints else ""]
    shown = [part for part in parts if part]
    return "takes " + " and ".join(shown) if shown else ""


def takes_legend() -> str:
    """The line under list-optimizers' table that says what ``takes`` means."""
    from optrun.core.feasible import MEANING
    from optrun.core.optimizers import BOUNDS

    kinds = "; ".join(f"bounds ({key}): {meaning}" for key, meaning in BOUNDS.items())
    return (
        f"takes {kinds}; constraints: ineq (c {MEANING['ineq']}) and eq (c {MEANING['eq']}). "
        "A method without a 'takes' line refuses a run with bounds or constraints."
    )


def capable(kind: str) -> list[str]:
    """The listed methods that take ``kind`` ("bounds" or "constraints")."""
    from optrun.core.optimizers import OPTIMIZERS

    entries = [OPTIMIZERS.get(name) for name in OPTIMIZERS.listed()]
    return [e.name for e in entries if getattr(e, kind)]


def bounds_text(problem) -> str:
    """A problem's own bounds as a config writes them (``x: [[1, 5], [1, 5]]``; null: open), one line per parameter."""
    from optrun.core.yaml_text import yaml_text

    return "\n".join(f"{name}: {yaml_text(spec, limit=200)}" for name, spec in problem.bounds.items())


def constraints_text(problem) -> str:
    """A problem's own constraints, one line each: ``25 - x[0]*x[1] >= 0 (ineq)``."""
    from optrun.core.feasible import MEANING

    return "\n".join(f"{c.label} {MEANING[c.type]} ({c.type})" for c in problem.constraints)


def bounds_row(entry) -> str:
    """describe's "bounds" row of an optimizer: how it takes bounds, or which methods do."""
    from optrun.core.optimizers import BOUNDS

    if entry.bounds:
        return f"yes ({entry.bounds}): {BOUNDS[entry.bounds]}"
    return f"no: a run with bounds is refused (methods that take them: {', '.join(capable('bounds'))})"


def constraints_row(entry) -> str:
    """describe's "constraints" row of an optimizer: whether it takes constraints, or which methods do."""
    from optrun.core.feasible import MEANING

    if entry.constraints:
        return f"yes: ineq (c {MEANING['ineq']}) and eq (c {MEANING['eq']}), the problem's and the config's"
    return f"no: a run with constraints is refused (methods that take them: {', '.join(capable('constraints'))})"
