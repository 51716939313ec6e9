"""Tables of what is registered, for ``list-problems`` and ``list-optimizers``."""

from __future__ import annotations

from rich.table import Table

from optrun.params import size


def _minimum_text(entry) -> str:
    try:
        problem = entry.build(entry.options.model_construct())  # defaults; no schema build
    except Exception as exc:  # a user problem that cannot build with defaults
        return f"(cannot build with defaults: {type(exc).__name__})"
    ref = problem.reference
    if ref is None:
        return problem.note or "unknown"
    where = ""
    if len(ref.params) == 1:
        point = ref.params[0]
        if size(point) <= 4:
            where = " at " + ", ".join(f"{k}={_num(v)}" for k, v in sorted(point.items()))
    else:
        where = f" ({len(ref.params)} minimizers)"
    return f"f* = {ref.fun:.10g}{where}"


def _num(value) -> str:
    import numpy as np

    array = np.asarray(value, dtype=float)
    if array.shape == ():
        return f"{float(array):.6g}"
    return "[" + ", ".join(f"{v:.6g}" for v in array.ravel()) + "]"


def problems_table() -> Table:
    from optrun.problems import PROBLEMS

    table = Table(title="Problems", title_justify="left")
    for column in ("name", "parameters", "options (defaults)", "known minimum", "description"):
        table.add_column(column, overflow="fold")
    for name, entry in PROBLEMS.items():
        table.add_row(name, entry.parameters, entry.options.describe() or "-", _minimum_text(entry), entry.description)
    return table


def optimizers_table() -> Table:
    from optrun.optimizers import OPTIMIZERS

    table = Table(title="Optimizers", title_justify="left")
    for column in ("name", "options (defaults)", "needs", "description"):
        table.add_column(column, overflow="fold")
    for name, entry in OPTIMIZERS.items():
        table.add_row(name, entry.options.describe() or "-", ", ".join(entry.needs), entry.description)
    return table
