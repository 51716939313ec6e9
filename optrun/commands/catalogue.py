"""Tables of what is registered, for ``list-problems`` and ``list-optimizers``
(``optrun describe`` is :mod:`optrun.commands.describe`).

Values are written as in a config (:func:`optrun.core.yaml_text.yaml_text`:
``null``, ``true``, ``1e-8``). A table fits the console's width: piped, that
is $COLUMNS, else 80; from :data:`~optrun.commands.entries.WIDE` columns on a
column per field, narrower each entry's fields stacked
(:func:`~optrun.commands.entries.catalogue_table`).

Names, descriptions and notes can come from user problem files: they enter
tables as literal rich Text (or escaped), never as markup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from optrun.commands.common import visible
from optrun.commands.entries import (
    PYTHON_ONLY_NOTE,
    WIDE,
    _text,
    catalogue_table,
    jax_loop,
    num_text,
    python_only,
    takes,
    takes_legend,
)
from optrun.core.errors import OptrunError
from optrun.core.params import size


def _built(entry) -> tuple[Any, str]:
    """The problem built with its defaults, or None and why it cannot be."""
    try:
        return entry.build(entry.options.model_construct()), ""  # defaults; no schema build
    except OptrunError as exc:  # a problem with no defaults says why (python: given from Python only)
        return None, f"({exc.message})"
    except Exception as exc:  # a user problem that cannot build with defaults
        return None, f"(cannot build with defaults: {type(exc).__name__})"


def _minimum_text(entry, built: tuple[Any, str] | None = None) -> str:
    problem, why = built if built is not None else _built(entry)
    if problem is None:
        return why
    ref = problem.reference
    if ref is None:
        return problem.note or "unknown"
    where = ""
    if ref.count == 1:
        point = ref.params[0]
        if size(point) <= 4:
            where = " at " + ", ".join(f"{k}={num_text(v)}" for k, v in sorted(point.items()))
    else:
        where = f" ({ref.count} minimizers)"
    return f"f* = {ref.fun:.10g}{where}"


def _feasible_line(problem: Any) -> str:
    """A problem's own bounds and constraints, in a few words ("" for none)."""
    if problem is None or not (problem.bounds or problem.constraints):
        return ""
    parts = [f"bounds on {', '.join(problem.bounds)}"] if problem.bounds else []
    if problem.constraints:
        kinds = [c.type for c in problem.constraints]
        counts = ", ".join(f"{kinds.count(t)} {t}" for t in ("ineq", "eq") if t in kinds)
        parts.append(f"{len(kinds)} constraint{'s' if len(kinds) > 1 else ''} ({counts})")
    return "; ".join(parts)


def problems_table(width: int = WIDE) -> Table:
    """Every problem a config can name (not ``python``: see :func:`python_only`);
    one with bounds or constraints of its own says so under its description."""
    from optrun.core.problems import PROBLEMS

    rows = []
    for name, entry in PROBLEMS.items():
        if python_only(entry):
            continue
        about = _text(entry.description)
        if entry.formula:
            about.append("\n" + visible(entry.formula, keep="\n"), style="dim")
        about.append("\nbackends: " + visible(", ".join(entry.backends)), style="dim")
        built = _built(entry)
        feasible = _feasible_line(built[0])
        if feasible:
            about.append("\n" + visible(feasible), style="dim")
        cells = (entry.parameters, entry.options.describe() or "-", _minimum_text(entry, built))
        rows.append((_text(name), [about, *(_text(cell) for cell in cells)]))
    headers = (("description and formula", 0), ("parameters", 1), ("options (defaults)", 2), ("known minimum", 2))
    if width >= WIDE:  # the description last, widest
        headers = (*headers[1:], ("description and formula", 3))
        rows = [(name, [*cells[1:], cells[0]]) for name, cells in rows]
    return catalogue_table("Problems", "name", headers, rows, width >= WIDE)


def python_only_lines() -> list[str]:
    """One line per problem left out of list-problems' table, saying where it can be used."""
    from optrun.core.problems import PROBLEMS

    return [f"{name}: {PYTHON_ONLY_NOTE.format(name=name)}" for name, entry in PROBLEMS.items() if python_only(entry)]


def suites_table(width: int = WIDE) -> Table:
    """The named suites (``problems: mgh`` in a bench file): name, members with their options, description."""
    from optrun.core.problems import SUITES
    from optrun.core.yaml_text import yaml_text

    rows = []
    for name, suite in SUITES.items():
        members = ", ".join(
            problem + (f" ({', '.join(f'{k}={yaml_text(v)}' for k, v in options.items())})" if options else "")
            for problem, options in suite.members
        )
        rows.append((_text(name), [_text(suite.description), _text(f"{len(suite.members)}: {members}")]))
    return catalogue_table("Suites", "name", (("description", 0), ("problems", 3)), rows, width >= WIDE)


def optimizers_table(width: int = WIDE):
    from rich.console import Group

    from optrun.core.optimizers import OPTIMIZERS
    from optrun.core.optimizers.schedules import SCHEDULES

    rows = []
    for name, entry in OPTIMIZERS.items():
        about = _text(entry.description)
        about.append(f"\n{jax_loop(entry)}", style="dim")
        if takes(entry):
            about.append(f"\n{takes(entry)}", style="dim")
        rows.append((_text(name), [about, _text(entry.options.describe() or "-"), _text(", ".join(entry.needs))]))
    headers = (("description", 0), ("options (defaults)", 3), ("needs", 1))
    if width >= WIDE:
        headers = (headers[1], headers[2], ("description", 3))
        rows = [(name, [cells[1], cells[2], cells[0]]) for name, cells in rows]
    table = catalogue_table("Optimizers", "name", headers, rows, width >= WIDE)
    schedule_rows = [
        (_text(name), [_text(entry.description), _text(entry.options.describe().replace("schedule=required, ", ""))])
        for name, entry in SCHEDULES.items()
    ]
    schedules = catalogue_table(
        "Step-size schedules (step_size: {schedule: NAME, value: ..., ...})",
        "schedule",
        (("step size at update t", 0), ("options (defaults)", 1)),
        schedule_rows,
        width >= WIDE,
    )
    return Group(table, _text(takes_legend(), style="dim"), schedules)


# --------------------------------------------- list-problems, describe, list-optimizers
def _console():
    """stdout for the catalogue: a terminal's width; piped, $COLUMNS if set,
    else 80 (reference text for a person, not a CI log: see common.out)."""
    import os

    from rich.console import Console

    console = Console(emoji=False)
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")
    return Console(emoji=False, width=int(columns) if columns.isdigit() and int(columns) > 0 else 80)


def _names(names: list[str]) -> None:
    """One name per line, nothing else (for scripts); control characters made visible."""
    import sys

    sys.stdout.write("".join(visible(name) + "\n" for name in names))
    sys.stdout.flush()


def list_problems_command(problems: Path | None, names: bool = False) -> int:
    """``optrun list-problems``: the problems a config can name, user ones
    included, then the suites; ``names``: only the problem names, one a line."""
    from optrun.commands.common import load_problems
    from optrun.core.problems import PROBLEMS

    load_problems(problems)
    if names:
        _names([name for name, entry in PROBLEMS.items() if not python_only(entry)])
        return 0
    console = _console()
    console.print(problems_table(console.width))
    for line in python_only_lines():
        console.print(_text(line, style="dim"))
    console.print(suites_table(console.width))
    return 0


def describe_command(name: str, problems: Path | None) -> int:
    """``optrun describe NAME``: a problem, optimizer, initializer, schedule or
    suite in full (each, if the name is in several registries); an unknown name
    is a ConfigError listing close names of every kind."""
    from optrun.commands.common import load_problems
    from optrun.commands.describe import describe

    load_problems(problems)
    console = _console()
    console.print(describe(name, console.width))
    return 0


def list_optimizers_command(problems: Path | None, names: bool = False) -> int:
    """``optrun list-optimizers``: user files may register optimizers and
    schedules too; ``names``: only the optimizer names, one a line."""
    from optrun.commands.common import load_problems
    from optrun.core.optimizers import OPTIMIZERS

    load_problems(problems)
    if names:
        _names(list(OPTIMIZERS))
        return 0
    console = _console()
    console.print(optimizers_table(console.width))
    return 0
