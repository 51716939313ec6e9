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

    style = status_style(str(status))
    return f"[{style}]{escape(str(status))}[/]" if style else escape(str(status))


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


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def params_text(params: Any, limit: int = 8) -> str:
    """Final parameters, or their count when there are too many to show."""
    from optrun.core.params import leaf_names, size

    n = size(params)
    if n > limit:
        return f"{n} values (see summary.json)"
    parts = []
    for name in sorted(params):
        value = params[name]
        if isinstance(value, list) and value and not isinstance(value[0], (list, dict)):
            parts.append(f"{name}=[{', '.join(_fmt(v) for v in value)}]")
        elif isinstance(value, (list, dict)):
            parts.append(f"{name}: {len(leaf_names(value))} values")
        else:
            parts.append(f"{name}={_fmt(value)}")
    return ", ".join(parts)


def grad_norm_text(summary: Summary) -> str:
    """The final gradient norm, or why there is none (a derivative-free method computes no gradient)."""
    if summary.njev == 0 and (summary.grad_norm is None or math.isnan(summary.grad_norm)):
        return "not computed (the method uses no gradient)"
    return _fmt(summary.grad_norm)


def summary_table(summary: Summary, run_dir: str, title: str) -> Table:
    """A run's summary as a rich table (user text is shown literally)."""
    from rich.markup import escape

    table = Table(title=escape(title), show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("status", f"{status_text(summary.status.value)}: {escape(summary.message)}")
    table.add_row("f", _fmt(summary.fun))
    if summary.gap is not None:
        table.add_row("f - f*", f"{summary.gap:.3g}  (f* = {_fmt(summary.reference.fun)})")
    table.add_row("params", Text(params_text(summary.params)))
    table.add_row("gradient norm", grad_norm_text(summary))
    table.add_row("iterations", str(summary.nit))
    table.add_row("evaluations", f"{summary.nfev} f, {summary.njev} gradient")
    table.add_row("best", f"f={_fmt(summary.best.fun)} at iteration {summary.best.iter}")
    table.add_row("time", f"{summary.wall_time_s:.3f} s")
    table.add_row("run directory", Text(run_dir))
    return table
