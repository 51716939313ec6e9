"""What a run returns to Python: :class:`RunResult`, its summary, run
directory and trace (read on first use), with plots and a Jupyter table."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optrun.core.errors import ConfigError, OptrunError
from optrun.core.result import (
    Best,
    Feasibility,
    KnownMinimum,
    Summary,
    constraint_rows,
    gap_text,
    grad_norm_text,
    params_text,
)
from optrun.core.status import Status
from optrun.core.trace import COUNT_COLUMNS, read_trace


@dataclass(frozen=True)
class RunResult:
    """What a run returns to Python: its :class:`~optrun.core.result.Summary`
    (what summary.json holds), the run directory and the trace. The summary
    fields are attributes too: ``result.status``, ``result.fun``,
    ``result.params``, ... (right after a run a non-finite ``fun`` is ``nan``
    or ``inf``, which summary.json writes as null). ``run_dir`` is a
    :class:`pathlib.Path`, absolute (``result.run_dir / "trace.csv"``;
    ``str(result.run_dir)`` for text)."""

    summary: Summary
    run_dir: Path
    warnings: tuple[str, ...] = ()
    signum: int | None = None  # the signal that interrupted the run

    @functools.cached_property
    def trace(self) -> dict[str, np.ndarray]:
        """The trace (trace.csv or trace.parquet) as column -> NumPy array,
        read on first use (a run never holds its trace in memory)."""
        return read_trace(self.run_dir)

    @property
    def ok(self) -> bool:
        return self.status.success

    @property
    def status(self) -> Status:
        """The run's :class:`~optrun.core.status.Status` (a str: ``result.status == "converged"``)."""
        return self.summary.status

    @property
    def message(self) -> str:
        return self.summary.message

    @property
    def fun(self) -> float | None:
        return self.summary.fun

    @property
    def params(self) -> dict[str, Any]:
        return self.summary.params

    @property
    def grad_norm(self) -> float | None:
        return self.summary.grad_norm

    @property
    def nit(self) -> int:
        return self.summary.nit

    @property
    def nfev(self) -> int:
        return self.summary.nfev

    @property
    def njev(self) -> int:
        return self.summary.njev

    @property
    def best(self) -> Best:
        return self.summary.best

    @property
    def wall_time_s(self) -> float:
        return self.summary.wall_time_s

    @property
    def reference(self) -> KnownMinimum | None:
        return self.summary.reference

    @property
    def constraints(self) -> Feasibility | None:
        """A run with bounds or constraints: their values and violations at the start, end and best point."""
        return self.summary.constraints

    def to_pandas(self) -> Any:
        """The trace as a pandas DataFrame, one row per trace row: the
        counts ``iter``, ``nfev`` and ``njev`` as int64, every other column
        (f, grad_norm, step_size, time_s, the parameter, ``grad:``,
        ``violation`` (a run with constraints) and ``gap`` columns) as float64
        (pandas is optional: ``pip install pandas``)."""
        try:
            import pandas
        except ImportError:
            raise OptrunError("to_pandas needs pandas, which is not installed: pip install pandas") from None
        return pandas.DataFrame(
            {name: column.astype(np.int64) if name in COUNT_COLUMNS else column for name, column in self.trace.items()}
        )

    def plot(self, name: str = "loss", ax: Any = None) -> Any:
        """Draw one of the run's plots (``loss``, ``params``, ``landscape``,
        ``fit``) into matplotlib axes ``ax``, or into a new figure; returns
        the figure (Jupyter shows it). Uses the current matplotlib backend."""
        from optrun.plots.runs import draw_into

        if ax is None:
            from matplotlib.figure import Figure

            ax = Figure(figsize=(7, 4.5), layout="constrained").add_subplot()
        if not draw_into(self.run_dir, name, ax):
            raise ConfigError(f"the {name} plot does not apply to this run (see README, Plots)", path="plot")
        return ax.figure

    def _repr_html_(self) -> str:
        """The summary as an HTML table (what Jupyter shows for a result)."""
        from html import escape

        s = self.summary
        gap = self.gap
        rows = [
            ("status", f"{s.status}: {s.message}"),
            ("f", "-" if s.fun is None else f"{s.fun:.10g}"),
            ("gap f - f*", gap_text(gap, s.reference.fun if s.reference is not None else None)),
            ("params", params_text(s.params)),
            ("grad norm", grad_norm_text(s)),
            ("iterations", f"{s.nit} ({s.nfev} evaluations)"),
            *(constraint_rows(s.constraints) if s.constraints is not None else ()),
            ("best f", f"{s.best.fun:.10g} at iteration {s.best.iter}" if s.best.fun is not None else "-"),
            ("time", f"{s.wall_time_s:.3f} s"),
            ("run directory", str(self.run_dir)),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{escape(k)}</th><td style='text-align:left'>{escape(v)}</td></tr>"
            for k, v in rows
        )
        title = escape(f"{s.name}: {s.problem} / {s.optimizer}")
        return f"<table><caption style='text-align:left'><b>{title}</b></caption>{body}</table>"

    @property
    def gap(self) -> float | None:
        """f - f* (None when the problem has no known minimum)."""
        return self.summary.gap

    @property
    def seed(self) -> int | None:
        return self.summary.seed
