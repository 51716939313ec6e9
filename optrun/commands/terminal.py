"""What a person sees in the terminal: a progress bar while a run goes (on
stderr, redrawn at most ten times a second) and rich tables after it."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from optrun.core.result import constraint_rows, gap_text, grad_norm_text, params_text, value_text

if TYPE_CHECKING:
    from optrun.core.result import Summary

OTHER_STYLE = {"incomplete": "magenta", "error": "bold red"}  # a sweep's row states that are not run statuses


def status_style(name: str) -> str | None:
    """The colour of a status, from what it means (core/status.py)."""
    from optrun.core.status import Status, status

    found = status(name)
    if found is None:
        return OTHER_STYLE.get(name)
    if found is Status.CONVERGED:
        return "bold green"
    return "yellow" if found.success else "bold red" if found.failure else "magenta"


def status_text(status: str) -> str:
    """A status as rich markup (an unknown one as plain, escaped text)."""
    from rich.markup import escape

    from optrun.commands.common import visible

    style = status_style(str(status))
    return f"[{style}]{escape(visible(status))}[/]" if style else escape(visible(status))


class ProgressBar:
    """An observer that shows iteration, f, gradient norm and elapsed time."""

    def __init__(self, console: Console, total: int, label: str, refresh_seconds: float = 0.1):
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("f={task.fields[f]}  |g|={task.fields[g]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            auto_refresh=False,
        )
        self._task = self._progress.add_task(label, total=total, f="-", g="-")
        self._every = refresh_seconds
        self._next = 0.0

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Take the bar off the terminal (again: a no-op)."""
        self._progress.stop()

    def record(self, k, f, grad_norm, step_size, t, nfev, njev, x, g) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self._every
        g = "-" if math.isnan(grad_norm) else f"{grad_norm:.3g}"  # nan: a derivative-free method computes none
        self._progress.update(self._task, completed=k, f=f"{f:.6g}", g=g)
        self._progress.refresh()

    def record_rows(self, rows: Any) -> None:
        """A chunk of rows (the compiled loop): the bar shows its last."""
        i = len(rows.k) - 1
        self.record(int(rows.k[i]), float(rows.f[i]), float(rows.grad_norm[i]), 0.0, 0.0, 0, 0, None, None)


def summary_table(summary: Summary, run_dir: str, title: str) -> Table:
    """A run's summary as a rich table (user text is shown literally, control characters made visible)."""
    from rich.markup import escape

    from optrun.commands.common import visible

    table = Table(title=escape(visible(title)), show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("status", f"{status_text(summary.status.value)}: {escape(visible(summary.message))}")
    table.add_row("f", value_text(summary.fun))
    if summary.gap is not None and summary.reference is not None:  # a gap has a reference
        gap = gap_text(summary.gap, summary.reference.fun)
        table.add_row("f - f*", f"{gap}  (f* = {value_text(summary.reference.fun)})")
    table.add_row("params", Text(visible(params_text(summary.params))))
    table.add_row("gradient norm", grad_norm_text(summary))
    table.add_row("iterations", str(summary.nit))
    table.add_row("evaluations", f"{summary.nfev} f, {summary.njev} gradient")
    best = f"f={value_text(summary.best.fun)} at iteration {summary.best.iter}"
    if summary.constraints is not None:
        best = f"{best} (the best feasible point)" if summary.best.iter is not None else "no feasible point was reached"
        for field, value in constraint_rows(summary.constraints):
            table.add_row(field, Text(visible(value)))
    table.add_row("best", best)
    table.add_row("time", f"{summary.wall_time_s:.3f} s")
    table.add_row("run directory", Text(visible(run_dir)))
    return table
