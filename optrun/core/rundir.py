"""Reading a run directory back: its resolved config, summary and trace.

Used by ``optrun plot``, ``show`` and ``compare``, which work on any run
directory, finished, interrupted or killed (a killed run has no
``summary.json``; its complete trace rows are still there). A folder whose
files are not what optrun writes (tampered, truncated, wrong types) is a
one-line :class:`ConfigError`; a file that cannot be read is a
:class:`RunIOError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from optrun.core.errors import ConfigError, RunIOError
from optrun.core.folder_files import read_folder_json
from optrun.core.result import Summary
from optrun.core.safe_yaml import read_yaml_file
from optrun.core.trace import TRACE_COLUMNS, TRACE_FILES, read_trace, trace_file


@dataclass(frozen=True)
class RunFiles:
    """A run directory read back: its resolved config, summary (None if killed) and trace."""

    path: Path
    config: dict[str, Any]
    summary: Summary | None  # None: the run never finished writing (killed)
    trace: dict[str, np.ndarray]
    warnings: tuple[str, ...] = ()  # e.g. a torn last trace row that was left out

    @property
    def name(self) -> str:
        return str(self.config.get("name", self.path.parent.name))

    @property
    def problem(self) -> str:
        return str(self.config["problem"]["name"])

    @property
    def optimizer(self) -> str:
        return str(self.config["optimizer"]["name"])

    @property
    def status(self) -> str:
        """The run's status name, or ``incomplete`` when it has no summary (killed)."""
        return self.summary.status.value if self.summary is not None else "incomplete"


def read_run(path: str | Path) -> RunFiles:
    """Read and validate a run directory: its config, its :class:`Summary`
    (None when the run has no summary.json: killed) and its trace. A folder
    that is not one, or was tampered with, is a one-line error."""
    run = Path(path)
    if not run.is_dir():
        raise ConfigError("not a run directory (no such folder)", source=str(run))
    try:
        trace_path = trace_file(run)
    except ValueError as exc:  # both trace files
        raise ConfigError(f"not one run directory: it {exc}", source=str(run)) from None
    missing = [name for name in ("config.yaml",) if not (run / name).is_file()]
    if trace_path is None:
        missing.append(" or ".join(TRACE_FILES))
    if missing or trace_path is None:
        raise ConfigError(f"not a run directory (no {' or '.join(missing)})", source=str(run))
    warnings: list[str] = []
    try:
        config = read_yaml_file(run / "config.yaml", "run config")  # the same bounded, safe reader as configs
        trace = read_trace(trace_path, warnings)
    except OSError as exc:
        raise RunIOError(f"cannot read the run's files: {exc.strerror or exc}", source=str(run)) from None
    except (ValueError, yaml.YAMLError, RecursionError) as exc:  # (RecursionError: absurdly nested data)
        raise ConfigError(f"cannot read the run's files: {' '.join(str(exc).split())}", source=str(run)) from None
    named = isinstance(config, dict) and all(
        isinstance(config.get(k), dict) and "name" in config[k] for k in ("problem", "optimizer")
    )
    if not named:
        raise ConfigError("config.yaml is not a resolved optrun config (no problem/optimizer names)", source=str(run))
    summary = read_summary(run)
    problem = trace_problem(trace)
    if problem:
        raise ConfigError(f"{trace_path.name} is not an optrun trace: {problem}", source=str(run))
    return RunFiles(run, config, summary, trace, tuple(warnings))


def read_summary(run_dir: str | Path) -> Summary | None:
    """A run directory's summary.json as a :class:`Summary`, or None when it
    has none (the run was killed, or is still going). A file optrun did not
    write (not JSON, wrong keys or types) is a one-line :class:`ConfigError`
    naming the key; a file that cannot be read is a :class:`RunIOError`."""
    run = Path(run_dir)
    path = run / "summary.json"
    if not path.exists() and not path.is_symlink():  # a FIFO or device in its place is refused below
        return None
    try:  # the bounded reader: a regular file (never a FIFO or a device), its size, depth and finite numbers
        data = read_folder_json(path, str(run), "summary.json is not an optrun summary")
    except FileNotFoundError:  # removed since it was seen
        return None
    return Summary.from_json(data, source=str(run))


def trace_problem(trace: dict[str, np.ndarray]) -> str:
    """Why a parsed trace is not one optrun wrote ('' when it is)."""
    for column in TRACE_COLUMNS:
        if column not in trace:
            return f"no '{column}' column"
    for column in ("iter", "nfev", "njev"):
        values = trace[column]
        bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            return f"'{column}' should hold whole numbers, got {float(values[row])!r} in row {row + 1}"
    return ""
