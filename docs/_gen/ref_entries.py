"""Generated parts of reference/problems.md and reference/optimizers.md: every
registered problem, suite, optimizer, initializer and schedule, with what
``optrun describe NAME`` shows of it (the same functions make the text)."""

from __future__ import annotations

from typing import Any

from refgen import code, esc, fields, options_table, table, text_block

# problem groups: (marker, modules the problems are defined in); a problem in none is in "problems-other"
PROBLEM_GROUPS = {
    "problems-notebooks": ("optrun.core.problems.functions",),
    "problems-classic": ("optrun.core.problems.classic",),
    "problems-models": ("optrun.core.problems.models",),
    "problems-expression": ("optrun.core.problems.expression",),
    "problems-mgh": ("optrun.core.problems.mgh",),
    "problems-constrained": ("optrun.core.problems.constrained",),
    "problems-python": ("optrun.core.problems.python",),
}


def _problems() -> list[tuple[str, Any]]:
    """Every problem (the Python-only one too), built-ins only: a page
    describes what every installation has, not this machine's plugins."""
    from optrun.config.plugins import origin
    from optrun.core.problems import PROBLEMS

    return [(name, entry) for name, entry in PROBLEMS.items() if origin("problem", name) == "built-in"]


def _group(entry: Any) -> str:
    module = getattr(entry.build, "__module__", "")
    for marker, prefixes in PROBLEM_GROUPS.items():
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return marker
    return "problems-other"


def _ordered(marker: str) -> list[tuple[str, Any]]:
    """A group's problems: the MGH ones in the paper's (the suite's) order, the rest by name."""
    from optrun.core.problems import SUITES, suite_members

    found = [(name, entry) for name, entry in _problems() if _group(entry) == marker]
    if marker == "problems-mgh" and "mgh" in SUITES:
        order = {name: i for i, (name, _) in enumerate(suite_members("mgh"))}
        found.sort(key=lambda item: order.get(item[0], len(order)))
    return found


def _problem_rows(entry: Any) -> list[tuple[str, str]]:
    """What ``optrun describe`` shows in its head table (commands/describe.py)."""
    from optrun.commands.describe import _point_text
    from optrun.commands.entries import PYTHON_ONLY_NOTE, num_text, python_only
    from optrun.core.errors import OptrunError
    from optrun.core.params import leaf_names

    rows = [("parameters", code(entry.parameters)), ("backends", ", ".join(entry.backends))]
    if python_only(entry):
        rows.append(("use", esc(PYTHON_ONLY_NOTE.split(";")[0] + ": no config can name it")))
    try:
        problem = entry.build(entry.options.model_construct())
    except OptrunError as exc:
        rows.append(("with defaults", esc(exc.message)))
        return rows
    if callable(problem.start):
        rows.append(
            ("default start", f"random, drawn from the run's seed ({len(leaf_names(problem.initial(0)))} values)")
        )
    else:
        rows.append(("default start", code(", ".join(f"{k}={num_text(v)}" for k, v in problem.start.items()))))
    rows += _feasible_rows(problem)
    ref = problem.reference
    if ref is None:
        rows.append(("known minimum", esc(problem.note or "unknown")))
        return rows
    kept = " and ".join(w for w, has in (("bounds", problem.bounds), ("constraints", problem.constraints)) if has)
    rows.append(("known minimum", code(f"f* = {ref.fun!r}") + (f" (within its {kept})" if kept else "")))
    for i, point in enumerate(ref.params, start=1):
        rows.append((f"minimizer {i}" if len(ref.params) > 1 else "minimizer", code(_point_text(point))))
    if problem.note:
        rows.append(("note", esc(problem.note)))
    return rows


def _feasible_rows(problem: Any) -> list[tuple[str, str]]:
    """A problem's own bounds and constraints, as ``optrun describe`` shows them: one line each."""
    from optrun.commands.entries import bounds_text, constraints_text

    rows = []
    if problem.bounds:
        rows.append(("bounds", "<br>".join(code(line) for line in bounds_text(problem).splitlines())))
    if problem.constraints:
        rows.append(("constraints", "<br>".join(code(line) for line in constraints_text(problem).splitlines())))
    return rows


def problem_part(name: str, entry: Any) -> str:
    out = [f"### `{name}` {{#{name}}}\n", esc(entry.description) + "\n"]
    if entry.formula:
        out.append(text_block(entry.formula))
    out.append(fields(_problem_rows(entry)))
    out.append(options_table(entry.options))
    return "\n".join(out)


def _problem_group(marker: str) -> str:
    text = "\n".join(problem_part(name, entry) for name, entry in _ordered(marker))
    return f"## Other problems\n\n{text}" if marker == "problems-other" and text else text


def problems_index() -> str:
    """One row per problem a config can name: what list-problems shows."""
    from optrun.commands.catalogue import _feasible_line, _minimum_text
    from optrun.commands.entries import python_only
    from optrun.core.errors import OptrunError

    def about(entry: Any) -> str:
        """The description, and the problem's own bounds and constraints (list-problems' line under it)."""
        try:
            line = _feasible_line(entry.build(entry.options.model_construct()))
        except OptrunError:  # no problem from its defaults (expression): none of its own
            line = ""
        return esc(entry.description) + (f"<br>*{esc(line)}*" if line else "")

    rows = [
        (f"[`{name}`](#{name})", about(entry), code(entry.parameters), esc(_minimum_text(entry)))
        for name, entry in _problems()
        if not python_only(entry)
    ]
    return table(("problem", "description", "parameters", "known minimum (defaults)"), rows)


def suites() -> str:
    from optrun.core.problems import SUITES
    from optrun.core.yaml_text import yaml_text

    rows = []
    for name, suite in SUITES.items():
        members = ", ".join(
            f"[`{problem}`](#{problem})"
            + (f" ({esc(', '.join(f'{k}={yaml_text(v)}' for k, v in options.items()))})" if options else "")
            for problem, options in suite.members
        )
        rows.append((code(name), esc(suite.description), f"{len(suite.members)}: {members}"))
    return table(("suite", "description", "problems"), rows)


# ------------------------------------------------------------------ optimizers
def _builtin(registry: Any) -> list[tuple[str, Any]]:
    from optrun.config.plugins import origin

    return [(name, entry) for name, entry in registry.items() if origin(registry.kind, name) == "built-in"]


def optimizer_part(name: str, entry: Any) -> str:
    from optrun.commands.entries import bounds_row, constraints_row, jax_loop
    from optrun.core.backend import BACKENDS
    from optrun.core.optimizers import TRANSFORMS

    rows = []
    if entry.reference:
        rows.append(("follows", esc(entry.reference)))
    rows.append(("needs", esc(", ".join(entry.needs))))
    wrappers = [esc(TRANSFORMS[t].about) for t in entry.transforms]
    rows.append(("wrappers", "<br>".join(wrappers) if wrappers else "none (no step_size schedule, no clip_grad_norm)"))
    rows.append(("bounds", esc(bounds_row(entry))))
    rows.append(("constraints", esc(constraints_row(entry))))
    rows.append(("backends", esc(f"{', '.join(BACKENDS)} ({jax_loop(entry)})")))
    rows.append(("use", code(f"optimizer: {{name: {name}, OPTION: VALUE, ...}}")))
    out = [f"### `{name}` {{#{name}}}\n", esc(entry.description) + "\n", fields(rows)]
    out.append(options_table(entry.options))
    return "\n".join(out)


def optimizers() -> str:
    from optrun.core.optimizers import OPTIMIZERS

    return "\n".join(optimizer_part(name, entry) for name, entry in _builtin(OPTIMIZERS))


def optimizers_index() -> str:
    from optrun.commands.entries import jax_loop
    from optrun.core.optimizers import OPTIMIZERS

    def feasible(entry: Any) -> str:
        """Bounds (how) and constraints, or "-": it refuses a run with either."""
        parts = [f"bounds ({entry.bounds})" if entry.bounds else "", "constraints" if entry.constraints else ""]
        return esc(", ".join(part for part in parts if part))

    rows = [
        (
            f"[`{name}`](#{name})",
            esc(entry.description),
            esc(", ".join(entry.needs)),
            feasible(entry),
            esc(jax_loop(entry)),
        )
        for name, entry in _builtin(OPTIMIZERS)
    ]
    return table(("optimizer", "update", "needs", "takes", "on jax"), rows)


def initializers() -> str:
    from optrun.core.initializers import INITIALIZERS

    out = []
    for name, entry in _builtin(INITIALIZERS):
        out.append(f"### `{name}` {{#init-{name}}}\n")
        out.append(esc(entry.description) + "\n")
        out.append(f"Use: {code(f'init: {{kind: {name}, OPTION: VALUE, ...}}')}\n")
        out.append(options_table(entry.options))
    return "\n".join(out)


def schedules() -> str:
    from optrun.core.optimizers.schedules import SCHEDULES

    rows = []
    out = []
    for name, entry in _builtin(SCHEDULES):
        rows.append((f"[`{name}`](#schedule-{name})", code(entry.description)))
        out.append(f"### `{name}` {{#schedule-{name}}}\n")
        out.append(f"Step size at update t: {code(entry.description)}\n")
        out.append(options_table(entry.options, leave_out=("schedule",)))
    return table(("schedule", "step size at update t"), rows) + "\n" + "\n".join(out)


PARTS = {
    **{marker: (lambda marker=marker: _problem_group(marker)) for marker in [*PROBLEM_GROUPS, "problems-other"]},
    "problems-index": problems_index,
    "suites": suites,
    "optimizers": optimizers,
    "optimizers-index": optimizers_index,
    "initializers": initializers,
    "schedules": schedules,
}
