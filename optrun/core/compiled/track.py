"""The host side of one compiled run: rows in, stop rules applied, Outcome out.

The compiled loop (:mod:`optrun.core.compiled`, :mod:`optrun.core.compiled.batch`)
computes rows a chunk at a time; a :class:`Track` takes each chunk's rows in
turn, hands them to the run's observers, applies the stop rules of
:mod:`optrun.core.stopping` (the same functions the Python loop applies, on
the chunk's rows at once) and keeps the best point, so that the run ends at
the row, with the reason, best point and counts the Python loop would give.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from optrun.core.runner import Observer, SignalFlag
from optrun.core.stopping import Outcome, StopRules, best_point, first_stop, limits_of, outcome
from optrun.core.trace import TraceRows


class Track:
    """One run's host side of the compiled loop: it takes the rows of each
    chunk in turn, hands them to the run's observers, applies the stop rules
    in runner.minimize's order (an observer may set the interrupt flag, so
    with observers that take rows one at a time the flag is read after every
    row; with those that take the chunk at once, before and after it), keeps the best point,
    and builds the run's :class:`Outcome` when it has ended.

    ``base``: the oracle's evaluation count before the run (the counts go on
    from it, as in the Python loop). ``best_x``: keep the best row's x too
    (a run with bounds: the Outcome's ``best_x``, the best feasible point,
    which the summary reports; every iterate of a projected run is in the
    box, so the best row is the best feasible one)."""

    def __init__(
        self,
        x0: np.ndarray,
        stop: StopRules,
        observers: Sequence[Observer],
        interrupt: SignalFlag | None,
        base: int,
        best_x: bool = False,
    ):
        self.stop, self.limits, self.interrupt, self.base = stop, limits_of(stop), interrupt, base
        # observers that take a chunk at once (the trace writer, the progress bar) and those that take rows
        self.chunked = [obs.record_rows for obs in observers if hasattr(obs, "record_rows")]
        self.record = [obs.record for obs in observers if not hasattr(obs, "record_rows")]
        self.k0 = 0  # the next chunk's first row
        self.prev_f = math.nan  # f of the row before it (none before the start)
        self.k, self.f, self.grad_norm, self.x = 0, math.nan, math.nan, np.array(x0, dtype=float)
        self.best_fun, self.best_iter = math.inf, -1
        self.keep_best_x = best_x
        # the best row's x, or how to get it: (x_at of its chunk, its row there), replayed only if the run needs it
        self._best_x: np.ndarray | tuple[Callable[[int], np.ndarray], int] | None = None
        self.reason: str = ""
        self.signum: int | None = None
        self.details: dict[str, Any] = {}
        self.streamed = False  # whether any row reached the host

    def fail(self, reason: str, **details: Any) -> None:
        """End the run for ``reason`` (``failed``, ``contract``) before or instead of its next chunk."""
        self.reason, self.details = reason, details

    def _signaled(self) -> bool:
        return self.interrupt is not None and self.interrupt.signum is not None

    def take(
        self,
        fs: np.ndarray,
        gns: np.ndarray,
        xs: np.ndarray | None,
        gs: np.ndarray | None,
        ts: np.ndarray,
        shown: list[float],
        x_at: Callable[[int], np.ndarray] | None,
    ) -> None:
        """The run's next chunk of rows (rows k0, k0 + 1, ...): f, |g|, x and g
        (None: rows without points, then ``x_at(row)`` gives the stop row's x),
        times and the step size each row shows. Sets ``reason`` when a rule
        fires in the chunk (its rows past that one are not the run's)."""
        k0 = self.k0
        # without observers nothing can set the flag between rows: a signal that arrived while the chunk
        # computed is seen at its first row
        seen_at = 0 if not self.record and self._signaled() else -1
        nfev = self.base + k0 + 1 + np.arange(len(fs))  # each row's evaluation count: one f and g per row
        stop = first_stop(fs, gns, ts, self.prev_f, k0, nfev, self.limits, interrupted_at=seen_at)
        last = stop.row if stop.row >= 0 else len(fs) - 1
        if self.record:  # row by row: the observers, then the rules (an observer may set the flag)
            f_list, gn_list, t_list = fs.tolist(), gns.tolist(), ts.tolist()
            x_rows, g_rows = cast(np.ndarray, xs), cast(np.ndarray, gs)  # observers get rows with points
            base = self.base
            for i in range(last + 1):
                kk = k0 + i
                for rec in self.record:
                    rec(
                        kk,
                        f_list[i],
                        gn_list[i],
                        shown[i],
                        t_list[i],
                        base + kk + 1,
                        base + kk + 1,
                        x_rows[i],
                        g_rows[i],
                    )
                if self._signaled():  # the run ends here, unless a rule that outranks an interrupt fires at this row
                    stop = first_stop(fs, gns, ts, self.prev_f, k0, nfev, self.limits, interrupted_at=i)
                    last = stop.row
                    break
        if self.chunked:  # the run's rows of this chunk at once
            used = slice(0, last + 1)
            rows = TraceRows(
                k0 + np.arange(last + 1),
                fs[used],
                gns[used],
                np.asarray(shown[: last + 1], dtype=float),
                ts[used],
                nfev[used],
                nfev[used],
                None if xs is None else xs[used],
                None if gs is None else gs[used],
            )
            for take_rows in self.chunked:
                take_rows(rows)
            if not stop.reason and self._signaled():  # set while the rows were taken: the run ends at the last
                stop = first_stop(fs, gns, ts, self.prev_f, k0, nfev, self.limits, interrupted_at=last)
        if stop.reason == "interrupted":
            self.signum = self.interrupt.signum if self.interrupt is not None else None
        elif stop.reason == "f_tol":
            self.details["change"] = stop.change
        # rows 0..last of this chunk are the run's
        self.streamed = True
        self.k, self.f, self.grad_norm = k0 + last, float(fs[last]), float(gns[last])
        if xs is not None:
            self.x = xs[last]
        elif stop.reason and x_at is not None:
            self.x = x_at(last)
        self.best_fun, self.best_iter = best_point(fs[: last + 1], k0, self.best_fun, self.best_iter)
        if self.keep_best_x and self.best_iter >= k0:  # a new best row in this chunk
            row = self.best_iter - k0
            if xs is not None:
                self._best_x = np.array(xs[row], dtype=float)
            elif stop.reason and row == last:  # the stop row: its x is the run's (found above)
                self._best_x = np.array(self.x, dtype=float)
            elif x_at is not None:  # found when the run ends, if no later row is better (a replay, at most one)
                self._best_x = (x_at, row)
        self.k0, self.prev_f = self.k + 1, self.f
        self.reason = stop.reason

    def interrupted(self, signum: int) -> None:
        """End the run as ``interrupted`` by ``signum`` (a second signal raised while a chunk computed)."""
        self.reason, self.signum = "interrupted", signum

    @property
    def last_row(self) -> int:
        """The last row the run's budgets allow: ``max_iter``, or the row whose
        evaluation count reaches ``max_fev`` (one evaluation per row), if that comes first."""
        max_fev = self.stop.max_fev
        return self.stop.max_iter if max_fev is None else max(0, min(self.stop.max_iter, max_fev - self.base - 1))

    @property
    def nfev(self) -> int:
        """Evaluations the run used: one per row that reached the host (the
        rows a chunk computed past the run's end are not counted)."""
        return self.base + self.k + 1 if self.streamed else self.base

    def best_x(self) -> np.ndarray | None:
        """The best row's x (None unless kept, or before any row)."""
        found = self._best_x
        if isinstance(found, tuple):
            x_at, row = found
            found = self._best_x = np.array(x_at(row), dtype=float)
        return found

    def outcome(self, wall_time_s: float) -> Outcome:
        """The run's :class:`Outcome`, once it has ended."""
        return outcome(
            self.reason,
            self.stop,
            self.details,
            x=np.array(self.x, dtype=float),
            fun=self.f,
            grad_norm=self.grad_norm,
            nit=self.k,
            message_nit=self.k,
            nfev=self.nfev,
            njev=self.nfev,
            best=(self.best_fun, self.best_iter),
            wall_time_s=wall_time_s,
            signum=self.signum,
            best_x=self.best_x() if self.keep_best_x else None,
        )
