"""``optrun describe NAME``: one registered entry in full, whatever its kind
(problem, optimizer, initializer, schedule, suite); a name in several
registries (``constant`` is a schedule and an initializer) shows each.

Every option is one row: its YAML type (:func:`optrun.core.yaml_text.yaml_type`),
its default as a config writes it (:func:`optrun.core.yaml_text.yaml_text`,
what ``--set`` takes back), the allowed range and what it means (the
field's ``description``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from optrun.commands.entries import (
    PYTHON_ONLY_NOTE,
    _escaped,
    _text,
    bounds_row,
    bounds_text,
    catalogue_table,
    constraints_row,
    constraints_text,
    jax_loop,
    num_text,
    python_only,
)
from optrun.core.errors import ConfigError, OptrunError
from optrun.core.params import size
from optrun.core.yaml_text import yaml_text, yaml_type

OPTIONS_WIDE = 110  # from this width on, the options table has a column per field

_BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "min_length": "length >=", "max_length": "length <="}


def option_rows(options) -> list[tuple[str, str, str, str, str]]:
    """(name, YAML type, default in YAML, allowed, meaning) per option."""
    rows = []
    for name, field in options.model_fields.items():
        default = "required" if field.is_required() else yaml_text(field.get_default(call_default_factory=True))
        allowed = []
        for item in field.metadata:
            for attr, symbol in _BOUNDS.items():
                value = getattr(item, attr, None)
                if value is not None:
                    allowed.append(f"{symbol} {yaml_text(value)}")
        meaning = field.description or "-"
        rows.append((name, yaml_type(field.annotation), default, ", ".join(allowed) or "-", meaning))
    return rows


def options_table(options, width: int, leave_out: tuple[str, ...] = ()) -> Table | Text:
    rows = [row for row in option_rows(options) if row[0] not in leave_out]
    if not rows:
        return Text("options: none")
    if width >= OPTIONS_WIDE:
        headers = (("type", 2), ("default", 1), ("allowed", 1), ("meaning", 3))
        cells = [(_text(name), [_text(cell) for cell in rest]) for name, *rest in rows]
        return catalogue_table("options", "option", headers, cells, wide=True)
    # narrow: the meaning, the default, then the type with its allowed range
    narrow = (("meaning", 0), ("default", 1), ("type", 1))
    cells = [
        (_text(name), [_text(meaning), _text(default), _text(kind + ("" if allowed == "-" else f", {allowed}"))])
        for name, kind, default, allowed, meaning in rows
    ]
    return catalogue_table("options", "option", narrow, cells, wide=False)


def _head(title: str) -> Table:
    head = Table(title=_escaped(title), show_header=False, title_justify="left")
    head.add_column("field", style="bold", no_wrap=True)
    head.add_column("value", overflow="fold")
    return head


def _origin(kind: str, name: str) -> str:
    from optrun.config.plugins import origin

    return origin(kind, name)


# ------------------------------------------------------------------ problems
def describe_problem(entry, width: int):
    from optrun.core.params import leaf_names

    head = _head(f"{entry.name} (problem): {entry.description}")
    head.add_row("formula", _text(entry.formula))
    head.add_row("parameters", _text(entry.parameters))
    head.add_row("backends", _text(", ".join(entry.backends)))  # the values `backend:` may take for it
    if python_only(entry):
        head.add_row("use", _text(PYTHON_ONLY_NOTE.split(";")[0] + ": no config can name it"))
    try:
        problem = entry.build(entry.options.model_construct())
    except OptrunError as exc:  # no problem from defaults (python: given from Python only)
        head.add_row("with defaults", _text(exc.message))
        problem = None
    if problem is not None:
        if callable(problem.start):
            start = problem.initial(0)
            head.add_row("default start", f"random, drawn from the run's seed ({len(leaf_names(start))} values)")
        else:
            head.add_row("default start", _text(", ".join(f"{k}={num_text(v)}" for k, v in problem.start.items())))
        if problem.bounds:
            head.add_row("bounds", _text(bounds_text(problem)))
        if problem.constraints:
            head.add_row("constraints", _text(constraints_text(problem)))
        ref = problem.reference
        kept = " and ".join(w for w, has in (("bounds", problem.bounds), ("constraints", problem.constraints)) if has)
        within = f" (within its {kept})" if kept else ""
        if ref is None:
            head.add_row("known minimum", _text(problem.note or "unknown"))
        else:
            head.add_row("known minimum", f"f* = {ref.fun!r}{within}")
            for i, point in enumerate(ref.params, start=1):
                head.add_row(f"minimizer {i}" if len(ref.params) > 1 else "minimizer", _text(_point_text(point)))
            if problem.note:
                head.add_row("note", _text(problem.note))
    head.add_row("defined in", _text(_origin("problem", entry.name)))
    return Group(head, options_table(entry.options, width))


def _point_text(point) -> str:
    parts = []
    for key, value in point.items():
        if isinstance(value, (list, tuple)) or size(value) > 12:
            parts.append(f"{key}: {size(value)} values")
        else:
            parts.append(f"{key}={num_text(value)}")
    return ", ".join(parts)


# ---------------------------------------------------------------- optimizers
def describe_optimizer(entry, width: int):
    from optrun.core.backend import BACKENDS
    from optrun.core.optimizers import TRANSFORMS

    head = _head(f"{entry.name} (optimizer): {entry.description}")
    if entry.reference:
        head.add_row("follows", _text(entry.reference))
    head.add_row("needs", _text(", ".join(entry.needs)))
    head.add_row("bounds", _text(bounds_row(entry)))
    head.add_row("constraints", _text(constraints_row(entry)))
    transforms = [TRANSFORMS[name].about for name in entry.transforms]
    head.add_row(
        "wrappers",
        _text("\n".join(transforms) if transforms else "none (no step_size schedule, no clip_grad_norm)"),
    )
    head.add_row("backends", _text(f"{', '.join(BACKENDS)} ({jax_loop(entry)})"))
    head.add_row("use", _text(f"optimizer: {{name: {entry.name}, OPTION: VALUE, ...}}"))
    head.add_row("defined in", _text(_origin("optimizer", entry.name)))
    return Group(head, options_table(entry.options, width))


def describe_initializer(entry, width: int):
    head = _head(f"{entry.name} (initializer): {entry.description}")
    head.add_row("use", _text(f"init: {{kind: {entry.name}, OPTION: VALUE, ...}}"))
    head.add_row("defined in", _text(_origin("initializer", entry.name)))
    return Group(head, options_table(entry.options, width))


def describe_schedule(entry, width: int):
    head = _head(f"{entry.name} (step-size schedule)")
    head.add_row("step size at update t", _text(entry.description))
    head.add_row(
        "use",
        _text(f"step_size: {{schedule: {entry.name}, value: NUMBER, ...}} in any optimizer with a step_size option"),
    )
    head.add_row("defined in", _text(_origin("schedule", entry.name)))
    return Group(head, options_table(entry.options, width, leave_out=("schedule",)))


def describe_suite(suite, width: int):
    members = [
        (_text(problem), [_text(", ".join(f"{k}={yaml_text(v)}" for k, v in options.items()) or "-")])
        for problem, options in suite.members
    ]
    table = catalogue_table(
        _escaped(f"{suite.name} (suite of {len(suite.members)} problems): {suite.description}"),
        "problem",
        (("options", 1),),
        members,
        True,
    )
    return Group(table, _text(f"use: problems: {suite.name} in a bench file"))


# ------------------------------------------------------------------- lookup
def _kinds() -> list[tuple[Any, Callable[[Any, int], Any]]]:
    """(registry, view) for every kind of entry describe shows."""
    from optrun.core.initializers import INITIALIZERS
    from optrun.core.optimizers import OPTIMIZERS
    from optrun.core.optimizers.schedules import SCHEDULES
    from optrun.core.problems import PROBLEMS, SUITES

    return [
        (PROBLEMS, describe_problem),
        (OPTIMIZERS, describe_optimizer),
        (INITIALIZERS, describe_initializer),
        (SCHEDULES, describe_schedule),
        (SUITES, describe_suite),
    ]


def describe(name: str, width: int):
    """The view of every entry named ``name``; none is a one-line ConfigError
    naming it, with the close names of every kind."""
    views = [view(registry.get(name), width) for registry, view in _kinds() if name in registry]
    if views:
        return Group(*views)
    raise ConfigError(unknown_name(name))


def unknown_name(name: str) -> str:
    import difflib

    kinds = _kinds()
    known = {entry: registry.kind for registry, _ in kinds for entry in registry}
    close = difflib.get_close_matches(str(name), list(known), n=5, cutoff=0.6)
    what = ", ".join(registry.kind for registry, _ in kinds[:-1]) + f" or {kinds[-1][0].kind}"
    hint = "; did you mean " + ", ".join(f"'{c}' ({known[c]})" for c in close) + "?" if close else ""
    return f"unknown name '{str(name)[:60]}': no {what} has it{hint} (see optrun list-problems, list-optimizers)"
