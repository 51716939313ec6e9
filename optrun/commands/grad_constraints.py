"""``optrun grad``'s tables of a run's bounds and constraints at the point
(:mod:`optrun.engine.grad_constraints` computes them): each constraint's
value, type, violation and whether it is met; the bounded entries; the
constraints' Jacobian; with ``--fd``, each Jacobian row against finite
differences, summed up as the gradient's check is."""

from __future__ import annotations

from typing import Any


def constraint_tables(c: Any) -> list[Any]:
    """The tables for a :class:`~optrun.engine.grad_constraints.ConstraintsAt` (items of ``tables()``)."""
    from rich.text import Text

    from optrun.commands.grad_tables import MAX_ROWS, first_note, matrix_table, titled
    from optrun.core.feasible import MEANING

    def yes(met: bool) -> str:
        return "yes" if met else "no"

    verdict = "feasible" if c.feasible else "infeasible"
    count = len(c.labels)
    shown: list[Any] = []
    title = (
        f"constraints at the point: largest violation {c.violation:.6g}"
        + (" (bounds included)" if c.bounds_violation is not None else "")
        + f", {verdict} (feasibility_tol {c.tol:g})"
    )
    if count:
        table = titled(title + first_note(count))
        table.add_column("constraint")
        table.add_column("type")
        for header in ("value", "violation"):
            table.add_column(header, justify="right")
        table.add_column("met")
        for i in range(min(count, MAX_ROWS)):
            kind = f"{c.types[i]} ({MEANING[c.types[i]]})"
            met = c.met(c.violations[i])
            table.add_row(Text(c.labels[i]), kind, f"{c.values[i]:.10g}", f"{c.violations[i]:.6g}", yes(met))
        shown.append(table)
    else:
        shown.append(Text(title, style="italic"))
    if c.bounds_violation is not None:
        table = titled(
            f"bounds: {len(c.bounds)} of {len(c.columns)} entries bounded, largest violation {c.bounds_violation:.6g}"
            + first_note(len(c.bounds))
        )
        table.add_column("entry")
        for header in ("low", "high", "value"):
            table.add_column(header, justify="right")
        table.add_column("met")
        for entry, low, high, value in c.bounds[:MAX_ROWS]:
            table.add_row(Text(entry), _side(low), _side(high), f"{value:.10g}", yes(c.inside(low, high, value)))
        shown.append(table)
    if c.jacobian is not None and count:
        how = "by autodiff: one reverse pass per constraint" + ("" if c.fd else "; --fd checks it")
        shown.append(
            matrix_table(f"constraints' Jacobian ({count} x {len(c.columns)}, {how})", c.labels, c.columns, c.jacobian)
        )
    if c.fd:
        shown.extend(_fd_tables(c))
    return shown


def _side(value: float | None) -> str:
    return "open" if value is None else f"{value:.10g}"


def _fd_tables(c: Any) -> list[Any]:
    """Each Jacobian row checked as ``--fd`` checks the gradient: the central
    differences' estimates at each row's best h, and per row that h, its
    errors and the directional check's (forward differences: in grad.json)."""
    from rich.text import Text

    from optrun.commands.grad_tables import MAX_ROWS, first_note, matrix_table, titled

    shown: list[Any] = []
    if all(check.mode == "entries" for check in c.fd):
        estimates = [check.central.estimates for check in c.fd]
        title = "constraints' Jacobian by central differences (each row at its best h)"
        shown.append(matrix_table(title, c.labels, c.columns, estimates))
    check0 = c.fd[0]
    along = "each entry (largest error)" if check0.mode == "entries" else "a random direction"
    table = titled(
        f"constraints' Jacobian rows against central differences along {along}, "
        f"h = {check0.steps[0]:.2g} ... {check0.steps[-1]:.2g}" + first_note(len(c.fd))
    )
    table.add_column("constraint")
    for header in ("best h", "abs error", "rel error", "directional rel"):
        table.add_column(header, justify="right")
    for label, check in list(zip(c.labels, c.fd))[:MAX_ROWS]:
        central = check.central
        table.add_row(
            Text(label),
            f"{central.best_step:.2g}",
            f"{central.best_error:.2g}",
            f"{central.best_relative_error:.2g}",
            f"{check.directional.relative_error:.2g}",
        )
    table.caption = (
        "each row checked as --fd checks the gradient; every step, forward differences too: "
        "grad.json's constraints.fd (one object per constraint, like fd)"
    )
    shown.append(table)
    return shown
