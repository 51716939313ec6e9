"""Run directories and the files in them (spec/config.md, "A run directory").

- :func:`make_run_dir` creates ``<dir>/<name>/<YYYYMMDD-HHMMSS>[-N]/`` with an
  atomic ``mkdir``, so runs started in the same second (also from several
  processes) never share or overwrite a directory.
- :class:`TraceWriter` streams ``trace.csv``: rows are formatted as they come
  and written in whole lines, at most every ``flush_seconds``, so memory does
  not grow with the iteration count and a killed run leaves only complete rows.
- :func:`write_json_atomic` writes to a temporary file and renames it, so a
  ``summary.json`` is either complete or absent.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import threading
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from optrun.errors import RunIOError

TRACE_COLUMNS = ("iter", "f", "grad_norm", "step_size", "time_s", "nfev", "njev")


def make_run_dir(base: str | Path, name: str, now: float | None = None, prefix: str = "") -> Path:
    """A new ``<base>/<name>/<prefix><YYYYMMDD-HHMMSS>[-N]`` folder, made atomically."""
    parent = Path(base) / name
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunIOError(f"cannot create the output folder: {exc.strerror or exc}", source=str(parent)) from None
    stamp = prefix + time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    for n in range(10_000):
        path = parent / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunIOError(f"cannot create the run directory: {exc.strerror or exc}", source=str(path)) from None
    raise RunIOError("too many runs started in the same second", source=str(parent))


def make_given_dir(path: Path) -> Path:
    """Create exactly ``path`` (a sweep's run folder); it must not exist yet."""
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        raise RunIOError("the run directory exists already", source=str(path)) from None
    except OSError as exc:
        raise RunIOError(f"cannot create the run directory: {exc.strerror or exc}", source=str(path)) from None
    return path


def _number(value: float) -> str:
    return repr(float(value))


class TraceWriter:
    """Streams one CSV row per iteration to ``path``."""

    def __init__(
        self,
        path: Path,
        param_names: Sequence[str] | None,
        expand: Any = None,
        fstar: float | None = None,
        flush_seconds: float = 0.5,
        max_buffered: int = 2000,
    ):
        """``fstar``: the known minimum, if any; adds a ``gap`` = f - f* column."""
        self.path = path
        self._fstar = fstar
        self._expand = expand  # free vector -> full parameter vector (adds fixed ones)
        self._with_params = param_names is not None
        self._lines: list[str] = []
        self._flush_seconds = flush_seconds
        self._max_buffered = max_buffered
        self._next_flush = flush_seconds  # in the runner's elapsed seconds
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        # the spec's columns, the parameter columns, then gap (f - f*) when f* is known
        header = list(TRACE_COLUMNS) + (list(param_names) if param_names else []) + (["gap"] if fstar is not None else [])
        self._write(",".join(_csv_field(h) for h in header) + "\n")

    def record(self, k: int, f: float, grad_norm: float, step_size: float, t: float, nfev: int, njev: int, x: np.ndarray) -> None:
        """One row; ``t`` is the run's elapsed time, which also paces the flushes."""
        line = "%d,%r,%r,%r,%.6f,%d,%d" % (k, f, grad_norm, float(step_size), t, nfev, njev)
        if self._with_params:
            full = self._expand(x) if self._expand is not None else x
            line += "," + ",".join(map(repr, full.tolist()))
        if self._fstar is not None:
            line += ",%r" % (f - self._fstar)
        lines = self._lines
        lines.append(line + "\n")
        if t >= self._next_flush or len(lines) >= self._max_buffered:
            self.flush()
            self._next_flush = t + self._flush_seconds

    def flush(self) -> None:
        if not self._lines:
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
        data = text.encode("utf-8")
        try:
            while data:  # one write per flush; loop only on a short write
                written = os.write(self._fd, data)
                data = data[written:]
        except OSError as exc:
            raise RunIOError(f"cannot write the trace: {exc.strerror or exc}", source=str(self.path)) from None

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def _csv_field(text: str) -> str:
    return f'"{text}"' if "," in text or '"' in text else text


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()  # what open() would give, e.g. 0644 under umask 022


def write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise RunIOError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None
        raise


def gap_of(summary: dict[str, Any]) -> float | None:
    """f - f* from a summary, or None when f* is unknown or f is not finite."""
    reference, fun = summary.get("reference"), summary.get("fun")
    return fun - reference["fun"] if reference and fun is not None else None


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(_json_safe(data), indent=2) + "\n")


def write_yaml(path: Path, data: Any) -> None:
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


def _json_safe(value: Any) -> Any:
    """JSON has no NaN or inf: non-finite numbers are written as null."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    return value


def read_trace(path: Path) -> dict[str, np.ndarray]:
    """trace.csv as column name -> float array."""
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), None)
        if not header:
            raise ValueError("trace.csv is empty (no header row)")
        rest = handle.read()
    data = np.loadtxt(io.StringIO(rest), delimiter=",", dtype=float, ndmin=2) if rest.strip() else np.empty((0, len(header)))
    return {name: data[:, i] for i, name in enumerate(header)}
