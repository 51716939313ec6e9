"""A run's trace, one row per iteration: :class:`TraceWriter` records it as
the run goes, :func:`read_trace` reads it back, :func:`trace_file` finds it.

- :class:`TraceWriter` takes rows one at a time from the Python loop
  (:meth:`~TraceWriter.record`) or a chunk at a time from the compiled loop
  (:meth:`~TraceWriter.record_rows`, a :class:`TraceRows` of arrays). Rows are
  buffered and written a chunk per call, formatted in C by the file format's
  sink (:mod:`optrun.core.trace_files`: ``trace.csv`` or ``trace.parquet``),
  at least every ``flush_seconds`` of the run, or once ``max_buffered`` rows
  (given one at a time) or :data:`BUFFER_VALUES` values (in chunks) wait, so
  memory does not grow with the iteration count and a killed run's CSV keeps
  every row written before it died. With ``log_every`` K > 1 it writes every
  K-th row plus the first, the last and the best (in iteration order).
  A run with constraints (``violation``, given by the run) has a
  ``violation`` column: each written row's largest violation of the bounds
  and constraints, 0 where feasible (after the parameter and gradient
  columns, before ``gap``); a run without constraints has none.
  A write that fails (a full disk) leaves the file at its last complete row
  and the writer records the error; nothing more is written.
- :func:`read_trace` (in :mod:`optrun.core.trace_files`, with the formats)
  gives the columns as float arrays, leaving out a torn last row of a CSV
  (with a :class:`TraceWarning`).
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optrun.core.errors import RunIOError
from optrun.core.trace_files import (
    FORMATS,
    SUMMARY_ROOM,
    TRACE_FILES,
    TraceWarning,
    csv_line,
    format_csv_many,
    has_trace,
    read_trace,
    trace_file,
)
from optrun.core.trace_rows import TraceRows

__all__ = [
    "COUNT_COLUMNS",
    "GRAD_PREFIX",
    "SUMMARY_ROOM",
    "TRACE_COLUMNS",
    "TRACE_FILES",
    "VIOLATION",
    "TraceGroup",
    "TraceRows",
    "TraceWarning",
    "TraceWriter",
    "csv_line",
    "has_trace",
    "read_trace",
    "trace_file",
]

TRACE_COLUMNS = ("iter", "f", "grad_norm", "step_size", "time_s", "nfev", "njev")
COUNT_COLUMNS = ("iter", "nfev", "njev")  # written as integers (read_trace still gives every column as floats)
VIOLATION = "violation"  # a run with constraints: each row's largest violation (0: feasible)
GRAD_PREFIX = "grad:"  # output.grad_columns: the signed gradient, one column per free parameter entry
# chunks of rows (the compiled loop) are written at least every flush_seconds, or once this many values
# wait (8 MB): a write costs the formatter a fixed half millisecond, which a few thousand rows do not amortize
BUFFER_VALUES = 2**20


class TraceWriter:
    """Records a run's rows in ``path`` (trace.csv or trace.parquet, by ``format``)."""

    def __init__(
        self,
        path: Path,
        param_names: Sequence[str] | None,
        expand: Callable[[np.ndarray], np.ndarray] | None = None,
        fstar: float | None = None,
        grad_names: Sequence[str] | None = None,
        flush_seconds: float = 0.5,
        max_buffered: int = 2000,
        log_every: int = 1,
        format: str = "csv",
        group: TraceGroup | None = None,
        violation: Callable[[np.ndarray], float] | None = None,
    ):
        """``fstar``: the known minimum, if any; adds a ``gap`` = f - f* column.
        ``expand``: free vector(s) -> full parameter vector(s), fixed ones added.
        ``grad_names``: the free parameter entries, for ``grad:<name>`` columns
        holding the signed gradient (``output.grad_columns``); None: none.
        ``log_every`` K: write the rows whose iteration is a multiple of K,
        the last row and the row of the lowest f. The best row is known only
        in hindsight: the latest best row is held back and dropped when a
        lower f comes, written just before the next row that is written while
        it is still the best (so rows stay in iteration order, and at most one
        extra row per K is written), or at :meth:`close` with the last row.
        ``group``: the :class:`TraceGroup` of a batch of runs this writer is
        one of (it joins it); their rows are written together.
        ``violation``: x (the free vector) -> its largest violation
        (:meth:`optrun.core.feasible.Feasible.violation`), for a run with
        constraints: adds the ``violation`` column, asked at every row recorded."""
        if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
            raise ValueError(f"log_every must be an integer >= 1, got {log_every!r}")
        self.path = path
        self._fstar = fstar
        self._expand = expand
        self._violation = violation
        self._n_grad = len(grad_names) if grad_names is not None else -1
        self.wants_x = param_names is not None  # the rows must carry x (and g, for grad columns)
        self.wants_g = grad_names is not None
        self._every = log_every
        self._flush_seconds = flush_seconds
        self._max_buffered = max_buffered
        self._next_flush = flush_seconds  # in the run's elapsed seconds
        self._pending: list[tuple] = []  # rows given one at a time, not yet selected
        self._chosen: list[TraceRows] = []  # rows selected to be written at the next flush
        self._chosen_rows = 0
        self._top = math.inf  # the lowest f among the rows selected from (log_every > 1)
        self._held_best: TraceRows | None = None  # (log_every > 1) the best row so far, not written yet
        self._held_last: TraceRows | None = None  # (log_every > 1) the last row, when not written
        self.error: RunIOError | None = None  # set when a write failed; nothing more is written
        self.last: tuple | None = None  # (k, f, grad_norm, t, nfev, njev, x) of the last recorded row
        self.best: tuple[float, int] = (math.inf, -1)  # (f, k) of the lowest f recorded
        # the spec's columns, the parameter columns, then gap (f - f*) when f* is known
        header = (
            list(TRACE_COLUMNS)
            + list(param_names or ())
            + [GRAD_PREFIX + name for name in grad_names or ()]
            + ([VIOLATION] if violation is not None else [])
            + (["gap"] if fstar is not None else [])
        )
        self._width = len(header)
        counts = [name in COUNT_COLUMNS for name in TRACE_COLUMNS] + [False] * (len(header) - len(TRACE_COLUMNS))
        self.format = format
        self.group = group  # writers of a batch of runs, written together
        self._sink: Any = FORMATS[format].sink(path, header, counts)
        self._closed_rows = 0
        if group is not None:
            group.writers.append(self)

    @property
    def rows_written(self) -> int:
        """Complete rows in the file (a parquet trace's: in the row groups written)."""
        return self._sink.rows if self._sink is not None else self._closed_rows

    # ------------------------------------------------------------------ rows in
    def record(
        self,
        k: int,
        f: float,
        grad_norm: float,
        step_size: float,
        t: float,
        nfev: int,
        njev: int,
        x: np.ndarray,
        g: np.ndarray | None = None,
    ) -> None:
        """One iteration; ``t`` is the run's elapsed time, which also paces
        the writes. ``g`` None (a derivative-free method): the grad columns
        are ``nan``, as ``grad_norm`` is."""
        self.last = (k, f, grad_norm, t, nfev, njev, x)
        if f < self.best[0]:
            self.best = (f, k)
        self._pending.append(
            (
                k,
                f,
                grad_norm,
                step_size,
                t,
                nfev,
                njev,
                np.array(x, dtype=float) if self.wants_x else None,
                g if self.wants_g else None,
                self._violation(x) if self._violation is not None else None,
            )
        )
        if t >= self._next_flush or len(self._pending) >= self._max_buffered:
            self.flush()
            self._next_flush = t + self._flush_seconds

    def record_rows(self, rows: TraceRows) -> None:
        """Consecutive iterations at once (the compiled loop's chunk)."""
        if not len(rows.k):
            return
        if self._violation is not None and rows.v is None:
            if rows.x is None:
                raise ValueError(
                    "the trace's violation column needs each row's x: the rows of a run with constraints must carry x"
                )
            rows = rows._replace(v=np.array([self._violation(x) for x in np.asarray(rows.x, dtype=float)], dtype=float))
        last = len(rows.k) - 1
        self.last = (
            int(rows.k[last]),
            float(rows.f[last]),
            float(rows.grad_norm[last]),
            float(rows.t[last]),
            int(rows.nfev[last]),
            int(rows.njev[last]),
            rows.x[last] if rows.x is not None else None,
        )
        low = int(np.argmin(np.where(np.isnan(rows.f), np.inf, rows.f)))
        if rows.f[low] < self.best[0]:
            self.best = (float(rows.f[low]), int(rows.k[low]))
        if (rows.x is not None and not self.wants_x) or (rows.g is not None and not self.wants_g):
            rows = rows._replace(x=rows.x if self.wants_x else None, g=rows.g if self.wants_g else None)  # not kept
        self._take_pending()
        self._choose(rows)
        members = len(self.group.writers) if self.group is not None else 1
        if rows.t[last] >= self._next_flush or self._chosen_rows * self._width * members >= BUFFER_VALUES:
            for writer in self.group.writers if self.group is not None else [self]:
                writer._next_flush = float(rows.t[last]) + writer._flush_seconds
            self.group.flush() if self.group is not None else self.flush()

    def _take_pending(self) -> None:
        if not self._pending:
            return
        k, f, gn, step, t, nfev, njev, xs, gs, vs = zip(*self._pending)
        self._pending.clear()
        x = np.stack(xs) if self.wants_x else None
        g = None
        if self.wants_g and any(row is not None for row in gs):
            nan = np.full(self._n_grad, np.nan)
            g = np.stack([nan if row is None else row for row in gs])
        v = np.array(vs, dtype=float) if self._violation is not None else None
        self._choose(TraceRows._make([*(np.array(c) for c in (k, f, gn, step, t, nfev, njev)), x, g, v]))

    def _choose(self, rows: TraceRows) -> None:
        """Select the rows to write (log_every) and queue them."""
        if self._every > 1:
            rows = self._select(rows)
        if len(rows.k):
            self._chosen.append(rows)
            self._chosen_rows += len(rows.k)

    def _select(self, rows: TraceRows) -> TraceRows:
        """log_every K > 1: the rows of this chunk to write, the held best
        one first where it is due (the class docstring's rule), vectorised."""
        n = len(rows.k)
        index = np.arange(n)
        before = np.fmin.accumulate(np.concatenate(([self._top], rows.f)))  # before[i]: the lowest f before row i
        improved = rows.f < before[:-1]  # row i set a new best
        self._top = float(before[-1])
        latest = np.maximum.accumulate(np.where(improved, index, -1))  # the last new best at or before row i
        due = np.flatnonzero(rows.k % self._every == 0)  # the rows written in any case
        parts: list[TraceRows] = []
        if len(due):
            previous = np.concatenate(([-1], due[:-1]))
            best_before = np.where(due > 0, latest[np.maximum(due - 1, 0)], -1)
            held_here = (best_before > previous) & ~improved[due]  # a best row of the segment, still the best
            if self._held_best is not None and best_before[0] < 0 and not improved[due[0]]:
                parts.append(self._held_best)  # held from an earlier chunk, still the best at this chunk's first
            parts.append(rows.take(np.sort(np.concatenate((due, best_before[held_here])))))
            self._held_best = None
            after = latest[-1]
            if after > due[-1]:
                self._held_best = rows.take(slice(after, after + 1))
        elif latest[-1] >= 0:
            self._held_best = rows.take(slice(latest[-1], latest[-1] + 1))
        last_written = len(due) and due[-1] == n - 1
        self._held_last = None if last_written else rows.take(slice(n - 1, n))
        return TraceRows.join(parts) if parts else rows.take(slice(0, 0))

    def _release_held(self) -> None:
        """The rows held back (log_every > 1): the best, then the last, in iteration order."""
        best, last = self._held_best, self._held_last
        self._held_best = self._held_last = None
        for rows in (best, last):
            if rows is not None and not (rows is last and best is not None and best.k[0] == last.k[0]):
                self._chosen.append(rows)
                self._chosen_rows += 1

    # ------------------------------------------------------------------ rows out
    def _columns(self, rows: TraceRows) -> list[np.ndarray]:
        """The chunk's columns in the header's order."""
        m = len(rows.k)
        columns = [
            rows.k.astype(np.int64),
            rows.f.astype(float),
            rows.grad_norm.astype(float),
            rows.step_size.astype(float),
            np.round(rows.t.astype(float), 6),  # microseconds: the clock's resolution that matters
            rows.nfev.astype(np.int64),
            rows.njev.astype(np.int64),
        ]
        if self.wants_x:
            x = np.asarray(rows.x, dtype=float).reshape(m, -1)
            full = self._expand(x) if self._expand is not None else x
            columns.extend(full.T)
        if self.wants_g:
            g = np.full((m, self._n_grad), np.nan) if rows.g is None else np.asarray(rows.g, dtype=float)
            columns.extend(g.reshape(m, -1).T)
        if self._violation is not None:
            columns.append(np.full(m, np.nan) if rows.v is None else np.asarray(rows.v, dtype=float))
        if self._fstar is not None:
            columns.append(rows.f.astype(float) - self._fstar)
        return columns

    def flush(self, text: bytes | None = None) -> None:
        """Write what is buffered (one call of the sink). ``text``: those rows
        already formatted as CSV (a :class:`TraceGroup` formats a batch's at once)."""
        # Block SIGINT/SIGTERM while the rows are taken, written and forgotten, so a second Ctrl-C (which
        # raises at once) cannot duplicate or drop rows (raised between taking the pending rows and queueing
        # them, it dropped every row of a short run)
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            self._take_pending()
            if not self._chosen or self.error is not None:
                return
            rows = TraceRows.join(self._chosen)
            self._chosen, self._chosen_rows = [], 0
            try:
                if text is None:
                    self._sink.write(self._columns(rows))
                else:
                    self._sink.write_text(text, len(rows.k))
            except RunIOError as exc:
                self.error = exc
                raise
        finally:
            if in_main:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def _held_rows(self, closing: bool) -> TraceRows | None:
        """The rows the next flush writes (``closing``: with those held back
        for log_every); None: none, or a failed trace."""
        if self.error is not None or self._sink is None:
            return None
        self._take_pending()
        if closing:
            self._release_held()
        if not self._chosen:
            return None
        self._chosen = [TraceRows.join(self._chosen)]  # joined once: the flush that writes them takes it as it is
        return self._chosen[0]

    def close(self) -> None:
        """Write the rows held back and what is buffered, close the file, and let go of the summary's room."""
        try:
            if self.error is None and self._sink is not None:
                self._take_pending()
                self._release_held()
                self.flush()
        finally:
            if self._sink is not None:
                sink, self._sink = self._sink, None
                try:
                    sink.close()  # (a parquet trace writes its last row group and its footer)
                except RunIOError as exc:
                    if self.error is None:
                        self.error = exc
                        raise
                finally:
                    self._closed_rows = sink.rows


class TraceGroup:
    """The writers of a batch of runs (``sweep --vectorize``): when one of them
    is due to write, they all write what they hold, the CSV rows of all
    formatted in one call (a call costs the formatter about half a
    millisecond whatever its size: 64 runs of 300 rows format 3x faster at
    once), and their buffers share one bound (:data:`BUFFER_VALUES`)."""

    def __init__(self) -> None:
        self.writers: list[TraceWriter] = []

    def flush(self, closing: bool = False) -> None:
        """Every writer writes what it holds (``closing``: the rows it holds back too).
        A writer that fails keeps its error (``writer.error``); the others go on."""
        held = [(w, w._held_rows(closing)) for w in self.writers]
        csv = [(w, rows) for w, rows in held if rows is not None and w.format == "csv"]
        texts = format_csv_many([w._columns(rows) for w, rows in csv]) if len(csv) > 1 else [None] * len(csv)
        text_of = {id(w): text for (w, _), text in zip(csv, texts)}
        for w, rows in held:
            if rows is not None:
                try:
                    w.flush(text_of.get(id(w)))
                except RunIOError:
                    pass  # (kept in w.error)

    def close(self) -> None:
        """Write every writer's last rows together, then close each."""
        self.flush(closing=True)
        for w in self.writers:
            try:
                w.close()
            except RunIOError:
                pass
