"""Tables of what is registered, for ``list-problems`` and ``list-optimizers``.

Names, descriptions and notes can come from user problem files: they enter
tables as literal rich Text (or escaped), never as markup."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from optrun.commands.common import visible
from optrun.core.errors import OptrunError
from optrun.core.params import size


def _text(text: str) -> Text:
    """Text from a plugin (a name, a description, a note) as a literal rich
    Text: never markup, and control characters (ESC...) made visible."""
    return Text(visible(text, keep="\n"))


def _escaped(text: str) -> str:
    """Plugin text for a markup string: escaped, control characters made visible."""
    return escape(visible(text, keep="\n"))


def _minimum_text(entry) -> str:
    try:
        problem = entry.build(entry.options.model_construct())  # defaults; no schema build
    except OptrunError as exc:  # a problem with no defaults says why (python: given from Python only)
        return f"({exc.message})"
    except Exception as exc:  # a user problem that cannot build with defaults
        return f"(cannot build with defaults: {type(exc).__name__})"
    ref = problem.reference
    if ref is None:
        return problem.note or "unknown"
    where = ""
    if ref.count == 1:
        point = ref.params[0]
        if size(point) <= 4:
            where = " at " + ", ".join(f"{k}={_num(v)}" for k, v in sorted(point.items()))
    else:
        where = f" ({ref.count} minimizers)"
    return f"f* = {ref.fun:.10g}{where}"


def _num(value) -> str:
    import numpy as np

    array = np.asarray(value, dtype=float)
    if array.shape == ():
        return f"{float(array):.6g}"
    return "[" + ", ".join(f"{v:.6g}" for v in array.ravel()) + "]"


def _column(table: Table, header: str, ratio: int | None = None, words: tuple[str, ...] = (), **kwargs) -> None:
    """A column whose header words are never broken: it is at least as wide
    as the header's longest word (or of ``words``, cell words that must not
    break either), and its cells fold instead. A ``ratio``
    column (a share of an expanded table) takes that as its ``width``, which
    rich gives a ratio column as its least share; any other as ``min_width``
    (padding included)."""
    longest = max(map(len, [*header.split(), *words]))
    if ratio is not None:
        table.add_column(header, ratio=ratio, width=longest, **kwargs)
    else:
        left, right = table.padding[3], table.padding[1]
        table.add_column(header, min_width=longest + left + right, **kwargs)


def problems_table() -> Table:
    from optrun.core.problems import PROBLEMS

    table = Table(title="Problems", title_justify="left", expand=True)
    table.add_column("name", no_wrap=True)
    for column in ("parameters", "options (defaults)", "known minimum"):
        _column(table, column, overflow="fold", ratio=1)
    _column(table, "description and formula", overflow="fold", ratio=2)
    for name, entry in PROBLEMS.items():
        about = (
            f"{_escaped(entry.description)}\n[dim]{_escaped(entry.formula)}[/]"
            f"\n[dim]backends: {_escaped(', '.join(entry.backends))}[/]"
        )
        table.add_row(
            _text(name),
            _text(entry.parameters),
            _text(entry.options.describe() or "-"),
            _text(_minimum_text(entry)),
            about,
        )
    return table


def suites_table() -> Table:
    """The named suites (``problems: mgh`` in a bench file): name, members with their options, description."""
    from optrun.core.problems import SUITES

    table = Table(title="Suites", title_justify="left", expand=True)
    table.add_column("name", no_wrap=True)
    _column(table, "problems", overflow="fold", ratio=3)
    _column(table, "description", overflow="fold", ratio=2)
    for name, suite in SUITES.items():
        members = ", ".join(
            problem + (f" ({', '.join(f'{k}={v}' for k, v in options.items())})" if options else "")
            for problem, options in suite.members
        )
        table.add_row(_text(name), _text(f"{len(suite.members)}: {members}"), _text(suite.description))
    return table


def jax_loop(entry) -> str:
    """Which loop runs the method on the jax backend: the compiled loop for a
    method registered with a compiled form (``compiled=``), the Python loop
    (with jax's derivatives) for any other."""
    from optrun.core.compiled import supports

    return "jax: compiled loop" if supports(entry) else "jax: Python loop"


def optimizers_table():
    from rich.console import Group

    from optrun.core.optimizers import OPTIMIZERS
    from optrun.core.optimizers.schedules import SCHEDULES

    table = Table(title="Optimizers", title_justify="left", expand=True)
    table.add_column("name", no_wrap=True)
    needs = tuple(need for _, entry in OPTIMIZERS.items() for need in entry.needs)
    _column(table, "options (defaults)", overflow="fold", ratio=3)
    _column(
        table, "needs", overflow="fold", ratio=1, words=tuple(word for need in needs for word in f"{need},".split())
    )
    _column(table, "description", overflow="fold", ratio=3)
    for name, entry in OPTIMIZERS.items():
        about = _text(entry.description)
        about.append(f"\n{jax_loop(entry)}", style="dim")
        table.add_row(_text(name), _text(entry.options.describe() or "-"), _text(", ".join(entry.needs)), about)
    schedules = Table(
        title="Step-size schedules (step_size: {schedule: NAME, value: ..., ...})", title_justify="left", expand=True
    )
    schedules.add_column("schedule", no_wrap=True)
    for column in ("options (defaults)", "step size at update t"):
        _column(schedules, column, overflow="fold", ratio=1)
    for name, entry in SCHEDULES.items():
        schedules.add_row(
            _text(name), _text(entry.options.describe().replace("schedule=required, ", "")), _text(entry.description)
        )
    return Group(table, schedules)


_BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "min_length": "length >=", "max_length": "length <="}


def _type_text(annotation) -> str:
    import types
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(
        annotation, BaseModel
    ):  # e.g. "a CSV table {path, target, features?}"
        keys = ", ".join(name + ("" if field.is_required() else "?") for name, field in annotation.model_fields.items())
        doc = (annotation.__doc__ or "").strip().splitlines()
        return f"{doc[0]} {{{keys}}}" if doc else f"{{{keys}}}"
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if any(isinstance(a, type) and issubclass(a, BaseModel) for a in args):
            return " or ".join("none" if a is type(None) else _type_text(a) for a in args)
    text = getattr(annotation, "__name__", None) if not getattr(annotation, "__args__", None) else None
    return text or str(annotation).replace("typing.", "").replace("optrun.core.problems.data.", "")


def option_rows(options) -> list[tuple[str, str, str, str]]:
    """(name, type, default, allowed) per option, for describe."""
    rows = []
    for name, field in options.model_fields.items():
        default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        allowed = []
        for item in field.metadata:
            for attr, symbol in _BOUNDS.items():
                value = getattr(item, attr, None)
                if value is not None:
                    allowed.append(f"{symbol} {value}")
        rows.append((name, _type_text(field.annotation), default, ", ".join(allowed) or "-"))
    return rows


def describe_problem(name: str):
    from rich.console import Group

    from optrun.config.plugins import origin
    from optrun.core.params import leaf_names
    from optrun.core.problems import PROBLEMS

    entry = PROBLEMS.get(name)
    problem = entry.build(entry.options.model_construct())
    head = Table(title=_escaped(f"{name}: {entry.description}"), show_header=False, title_justify="left")
    head.add_column("field", style="bold")
    head.add_column("value", overflow="fold")
    head.add_row("formula", _text(entry.formula))
    head.add_row("parameters", _text(entry.parameters))
    head.add_row("backends", _text(", ".join(entry.backends)))  # the values `backend:` may take for it
    if callable(problem.start):
        start = problem.initial(0)
        head.add_row("default start", f"random, drawn from the run's seed ({len(leaf_names(start))} values)")
    else:
        head.add_row("default start", _text(", ".join(f"{k}={_num(v)}" for k, v in problem.start.items())))
    ref = problem.reference
    if ref is None:
        head.add_row("known minimum", _text(problem.note or "unknown"))
    else:
        head.add_row("known minimum", f"f* = {ref.fun!r}")
        for i, point in enumerate(ref.params, start=1):
            head.add_row(f"minimizer {i}" if len(ref.params) > 1 else "minimizer", _text(_point_text(point)))
        if problem.note:
            head.add_row("note", _text(problem.note))
    head.add_row("defined in", _text(origin("problem", entry.name)))
    rows = option_rows(entry.options)
    if not rows:
        return Group(head, _text("options: none"))
    options = Table(title="options", title_justify="left")
    for column in ("option", "type", "default", "allowed"):
        _column(options, column, overflow="fold")
    for row in rows:
        options.add_row(*(_text(cell) for cell in row))
    return Group(head, options)


def _point_text(point) -> str:
    parts = []
    for key, value in point.items():
        if isinstance(value, (list, tuple)) or size(value) > 12:
            parts.append(f"{key}: {size(value)} values")
        else:
            parts.append(f"{key}={_num(value)}")
    return ", ".join(parts)


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


def list_problems_command(problems: Path | None) -> int:
    """``optrun list-problems``: the problems, user ones included, then the suites."""
    from optrun.commands.common import load_problems

    load_problems(problems)
    console = _console()
    console.print(problems_table())
    console.print(suites_table())
    return 0


def describe_command(name: str, problems: Path | None) -> int:
    """``optrun describe``: one problem in full (an unknown name is a ConfigError)."""
    from optrun.commands.common import load_problems

    load_problems(problems)
    _console().print(describe_problem(name))
    return 0


def list_optimizers_command(problems: Path | None) -> int:
    """``optrun list-optimizers``: user files may register optimizers and schedules too."""
    from optrun.commands.common import load_problems

    load_problems(problems)
    _console().print(optimizers_table())
    return 0
