"""``trace.csv``, a run's one row per iteration: :class:`TraceWriter` writes
it as the run goes, :func:`read_trace` reads it back.

- :class:`TraceWriter` streams the rows: they are formatted as they come
  and written in whole lines, at most every ``flush_seconds``, so memory does
  not grow with the iteration count and a killed run leaves only complete rows.
  With ``log_every`` K > 1 it writes every K-th row plus the first, the last
  and the best (in iteration order), for long runs.
  A write that fails or comes back short (a full disk) is cut back to the
  last complete row with ``ftruncate``, so the file never ends mid-row. The
  writer holds :data:`SUMMARY_ROOM` bytes of the disk for the summary (a file
  with no name, which the kernel frees when it is closed or the process dies)
  and lets go of them when the trace cannot be written, so a run whose trace
  filled the disk is still recorded as failed in ``summary.json``.
- :func:`read_trace` gives the columns as float arrays, leaving out a torn
  last row (with a :class:`TraceWarning`).
"""

from __future__ import annotations

import csv
import io
import math
import os
import signal
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optrun.core.errors import RunIOError

TRACE_COLUMNS = ("iter", "f", "grad_norm", "step_size", "time_s", "nfev", "njev")
COUNT_COLUMNS = ("iter", "nfev", "njev")  # written as integers (read_trace still gives every column as floats)
GRAD_PREFIX = "grad:"  # output.grad_columns: the signed gradient, one column per free parameter entry


SUMMARY_ROOM = 64 * 1024  # bytes held for summary.json while the trace is written (a summary is a few kB)


class TraceWriter:
    """Streams one CSV row per iteration to ``path``."""

    def __init__(
        self,
        path: Path,
        param_names: Sequence[str] | None,
        expand: Any = None,
        fstar: float | None = None,
        grad_names: Sequence[str] | None = None,
        flush_seconds: float = 0.5,
        max_buffered: int = 2000,
        log_every: int = 1,
    ):
        """``fstar``: the known minimum, if any; adds a ``gap`` = f - f* column.
        ``grad_names``: the free parameter entries, for ``grad:<name>`` columns
        holding the signed gradient (``output.grad_columns``); None: none.
        ``log_every`` K: write the rows whose iteration is a multiple of K
        (the first among them), the last row and the row of the lowest f.
        The best row is known only in hindsight: the latest best row is
        held back and dropped when a lower f comes, written just before
        the next row that is written while it is still the best (so rows
        stay in iteration order, and at most one extra row per K is
        written), or at :meth:`close` with the last row."""
        if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
            raise ValueError(f"log_every must be an integer >= 1, got {log_every!r}")
        self.path = path
        self._fstar = fstar
        self._expand = expand  # free vector -> full parameter vector (adds fixed ones)
        self._with_params = param_names is not None
        self._with_grad = grad_names is not None
        self._no_grad = ",nan" * len(grad_names or ())  # grad columns of a derivative-free method
        self._every = log_every
        self._held_best: tuple | None = None  # (log_every > 1) the best row so far, not written yet
        self._held_last: tuple | None = None  # (log_every > 1) the last row recorded, when not written
        self._lines: list[str] = []
        self._flush_seconds = flush_seconds
        self._max_buffered = max_buffered
        self._next_flush = flush_seconds  # in the runner's elapsed seconds
        self._good = 0  # bytes on disk that end with a complete row: what a failed write is cut back to
        self.rows_written = 0  # complete rows on disk
        self.error: RunIOError | None = None  # set when a write failed; nothing more is written
        self.last: tuple | None = None  # (k, f, grad_norm, t, nfev, njev, x) of the last recorded row
        self.best: tuple[float, int] = (math.inf, -1)  # (f, k) of the lowest f recorded
        self._room = -1  # the summary's room on the disk (see the module docstring), or -1
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise RunIOError(f"cannot create the trace: {exc.strerror or exc}", source=str(path)) from None
        self._hold_room()
        # the spec's columns, the parameter columns, then gap (f - f*) when f* is known
        header = (
            list(TRACE_COLUMNS)
            + (list(param_names) if param_names else [])
            + [GRAD_PREFIX + name for name in grad_names or ()]
            + (["gap"] if fstar is not None else [])
        )
        try:
            self._write(csv_line(header))
        except RunIOError:
            self.close()
            raise
        self.rows_written = 0

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
        the flushes. ``g`` None (a derivative-free method): the grad columns
        are ``nan``, as ``grad_norm`` is."""
        self.last = (k, f, grad_norm, t, nfev, njev, x)
        better = f < self.best[0]
        if better:
            self.best = (f, k)
        lines = self._lines
        if self._every == 1:
            lines.append(self._line(k, f, grad_norm, step_size, t, nfev, njev, x, g))
        elif k % self._every == 0:
            if self._held_best is not None and not better:  # an earlier row, still the best: it goes first
                lines.append(self._line(*self._held_best))
            self._held_best = self._held_last = None
            lines.append(self._line(k, f, grad_norm, step_size, t, nfev, njev, x, g))
        else:
            row = (k, f, grad_norm, step_size, t, nfev, njev, x, g)
            if better:
                self._held_best = row  # the one held before is no longer the best: dropped
            self._held_last = row
            return
        if t >= self._next_flush or len(lines) >= self._max_buffered:
            self.flush()
            self._next_flush = t + self._flush_seconds

    def _line(
        self,
        k: int,
        f: float,
        grad_norm: float,
        step_size: float,
        t: float,
        nfev: int,
        njev: int,
        x: np.ndarray,
        g: np.ndarray | None,
    ) -> str:
        line = f"{int(k)},{f!r},{grad_norm!r},{float(step_size)!r},{t:.6f},{int(nfev)},{int(njev)}"
        if self._with_params:
            full = self._expand(x) if self._expand is not None else x
            line += "," + ",".join(map(repr, full.tolist()))
        if self._with_grad:
            line += "," + ",".join(map(repr, g.tolist())) if g is not None else self._no_grad
        if self._fstar is not None:
            line += f",{f - self._fstar!r}"
        return line + "\n"

    def _release_held(self) -> None:
        """The rows held back (log_every > 1): the best, then the last, in iteration order."""
        best, last = self._held_best, self._held_last
        self._held_best = self._held_last = None
        if best is not None:
            self._lines.append(self._line(*best))
        if last is not None and last is not best:
            self._lines.append(self._line(*last))

    def flush(self) -> None:
        if not self._lines or self.error is not None:
            return
        # Block SIGINT/SIGTERM while the rows are written and forgotten, so a
        # second Ctrl-C (which raises at once) cannot duplicate or drop rows.
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            self._write("".join(self._lines))
            self._lines.clear()
        finally:
            if in_main:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def _write(self, text: str) -> None:
        """Write whole rows; on any failure, also after a short write, cut the
        file back to the last complete row and stop writing."""
        data = text.encode("utf-8")
        size = len(data)
        try:
            while data:  # one write per flush; loop only on a short write
                written = os.write(self._fd, data)
                if written <= 0:
                    raise OSError(28, os.strerror(28))  # ENOSPC: nothing more fits
                data = data[written:]
        except OSError as exc:
            self._cut_back()
            self._free_room()  # the summary that says so must fit
            self._lines.clear()
            self.error = RunIOError(f"cannot write the trace: {exc.strerror or exc}", source=str(self.path))
            raise self.error from None
        self._good += size
        self.rows_written += text.count("\n")

    def _cut_back(self) -> None:
        try:
            os.ftruncate(self._fd, self._good)
            os.lseek(self._fd, self._good, os.SEEK_SET)
        except OSError:
            pass  # (readers drop a torn last line too)

    def close(self) -> None:
        """Write the rows held back and what is buffered, close the file, and let go of the summary's room."""
        try:
            if self.error is None and self._fd >= 0:
                self._release_held()
            self.flush()
        finally:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self._free_room()

    def _hold_room(self) -> None:
        """Take SUMMARY_ROOM bytes of the trace's disk in a file with no name (Linux's O_TMPFILE), best effort: a
        file system without O_TMPFILE or fallocate, or one already full, gives no room and nothing else changes."""
        try:
            fd = os.open(Path(self.path).parent, os.O_WRONLY | os.O_TMPFILE, 0o600)
        except (OSError, AttributeError):
            return
        try:
            os.posix_fallocate(fd, 0, SUMMARY_ROOM)
        except OSError:
            os.close(fd)
            return
        self._room = fd

    def _free_room(self) -> None:
        if self._room >= 0:
            os.close(self._room)
            self._room = -1


def csv_line(fields: Sequence[str]) -> str:
    """One CSV row, quoted where needed (a parameter name may hold , or ")."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


class TraceWarning(UserWarning):
    """trace.csv ended with a partial row (a torn write); it was left out."""


def read_trace(path: Path, warn: list[str] | None = None) -> dict[str, np.ndarray]:
    """trace.csv as column name -> float array.

    A last line without its newline is a torn write (a full disk, a crash):
    it is left out, and a warning is appended to ``warn`` (or issued as a
    :class:`TraceWarning` when no list is given). Anything else malformed
    raises ``ValueError`` (or ``OSError`` when the file cannot be read)."""
    text = Path(path).read_bytes().decode("utf-8")
    if not text.endswith("\n"):
        cut = text.rfind("\n") + 1
        if cut == 0:
            raise ValueError("trace.csv has no complete header row" if text else "trace.csv is empty (no header row)")
        text = text[:cut]
        message = f"{path}: the last line was incomplete (a torn write) and is left out"
        if warn is None:
            warnings.warn(message, TraceWarning, stacklevel=2)
        else:
            warn.append(message)
    handle = io.StringIO(text)
    try:
        header = next(csv.reader(handle), None)
    except csv.Error as exc:
        raise ValueError(f"trace.csv header: {exc}") from None
    if not header:
        raise ValueError("trace.csv is empty (no header row)")
    rest = handle.read()
    data = (
        np.loadtxt(io.StringIO(rest), delimiter=",", dtype=float, ndmin=2, comments=None)
        if rest.strip()
        else np.empty((0, len(header)))
    )
    if data.shape[1] != len(header):
        raise ValueError(f"trace.csv rows have {data.shape[1]} fields but the header names {len(header)} columns")
    return {name: data[:, i] for i, name in enumerate(header)}
