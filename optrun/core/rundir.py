"""Reading a run directory back: its resolved config, summary and trace.

Used by ``optrun plot``, ``show`` and ``compare``, which work on any run
directory, finished, interrupted or killed (a killed run has no
``summary.json``; its complete trace rows are still there). A folder whose
files are not what optrun writes (tampered, truncated, wrong types) is a
one-line :class:`ConfigError`; a file that cannot be read is a
:class:`RunIOError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from optrun.core.safe_yaml import read_yaml_file
from optrun.core.errors import ConfigError, RunIOError
from optrun.core.outputs import TRACE_COLUMNS, read_trace


@dataclass(frozen=True)
class RunFiles:
    """A run directory read back: its resolved config, summary (None if killed) and trace."""

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any] | None  # None: the run never finished writing (killed)
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
        return self.summary["status"] if self.summary else "incomplete"


def read_run(path: str | Path) -> RunFiles:
    """Read and validate a run directory; a folder that is not one, or was tampered with, is a one-line error."""
    run = Path(path)
    if not run.is_dir():
        raise ConfigError("not a run directory (no such folder)", source=str(run))
    missing = [name for name in ("config.yaml", "trace.csv") if not (run / name).is_file()]
    if missing:
        raise ConfigError(f"not a run directory (no {' or '.join(missing)})", source=str(run))
    warnings: list[str] = []
    try:
        config = read_yaml_file(run / "config.yaml", "run config")  # the same bounded, safe reader as configs
        summary_file = run / "summary.json"
        summary = json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.is_file() else None
        trace = read_trace(run / "trace.csv", warnings)
    except OSError as exc:
        raise RunIOError(f"cannot read the run's files: {exc.strerror or exc}", source=str(run)) from None
    except (ValueError, yaml.YAMLError, RecursionError) as exc:  # (RecursionError: absurdly nested JSON)
        raise ConfigError(f"cannot read the run's files: {' '.join(str(exc).split())}", source=str(run)) from None
    named = isinstance(config, dict) and all(isinstance(config.get(k), dict) and "name" in config[k] for k in ("problem", "optimizer"))
    if not named:
        raise ConfigError("config.yaml is not a resolved optrun config (no problem/optimizer names)", source=str(run))
    if summary is not None:
        problem = summary_problem(summary)
        if problem:
            raise ConfigError(f"summary.json is not an optrun summary: {problem}", source=str(run))
    problem = trace_problem(trace)
    if problem:
        raise ConfigError(f"trace.csv is not an optrun trace: {problem}", source=str(run))
    return RunFiles(run, config, summary, trace, tuple(warnings))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_problem(data: dict[str, Any], key: str, check: Any, what: str, optional: bool = False, where: str = "") -> str:
    if key not in data:
        return "" if optional else f"no '{where}{key}'"
    value = data[key]
    return "" if check(value) else f"'{where}{key}' should be {what}, got {_shown(value)}"


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def summary_problem(summary: Any) -> str:
    """Why ``summary`` is not a summary optrun wrote ('' when it is): every
    field the readers use, with its type."""
    if not isinstance(summary, dict):
        return f"a JSON {type(summary).__name__}, not an object"
    number_or_null = lambda v: v is None or _is_number(v)  # noqa: E731
    checks = [
        ("status", lambda v: isinstance(v, str) and v != "", "a status name"),
        ("message", lambda v: isinstance(v, str), "a string"),
        ("fun", number_or_null, "a number or null"),
        ("grad_norm", number_or_null, "a number or null"),
        ("nit", _is_int, "an integer"),
        ("nfev", _is_int, "an integer"),
        ("njev", _is_int, "an integer"),
        ("wall_time_s", _is_number, "a number"),
        ("params", lambda v: isinstance(v, dict), "an object"),
        ("best", lambda v: isinstance(v, dict), "an object"),
        ("reference", lambda v: v is None or isinstance(v, dict), "an object or null"),
    ]
    for key, check, what in checks:
        problem = _type_problem(summary, key, check, what)
        if problem:
            return problem
    for key in ("name", "problem", "optimizer"):
        problem = _type_problem(summary, key, lambda v: isinstance(v, str), "a string", optional=True)
        if problem:
            return problem
    best = summary["best"]
    problem = (_type_problem(best, "fun", number_or_null, "a number or null", where="best.")
               or _type_problem(best, "iter", lambda v: v is None or _is_int(v), "an integer or null", where="best."))
    if problem:
        return problem
    reference = summary["reference"]
    if reference is not None:
        return (_type_problem(reference, "fun", _is_number, "a number", where="reference.")
                or _type_problem(reference, "params", lambda v: isinstance(v, list), "a list", where="reference."))
    return ""


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
