"""bench.csv: one row per (problem, optimizer, start) of a bench (:mod:`optrun.engine.bench`).

A run's row holds its result and, per target, the evaluations (nfev) and
seconds at the first trace row that reached it. A pair whose optimizer cannot
take the problem's bounds or constraints was not run: its rows have status
``not_applicable`` and no result (pandas reads that word as it is; ``n/a``
would become NaN).

Solved, for a run with bounds or constraints, means solved at a
*feasible* point: a trace row reaches a target only if its f is low enough
and its largest violation is at most the run's ``stop.feasibility_tol``
(a row below f* that breaks a constraint is no success). Each row's violation
is the trace's ``violation`` column (a run with constraints has one); else
(bounds alone, or an older trace) it is computed from the trace's parameter
columns with the run's feasible set (its config prepared again, once per
problem); a trace without parameter columns either (more than
``output.param_columns``) counts the best feasible row only (summary.json
``best``), so its costs are upper bounds. A run that ends ``infeasible``
reaches no target, whatever its f. The
``violation`` column is the final point's largest violation (summary.json
``constraints.end.violation``), empty for a run without bounds or constraints.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optrun.core.errors import ConfigError, OptrunError
from optrun.core.outputs import write_text_atomic
from optrun.plots.profiles import target_name

RUNS = "runs"
VIOLATION = "violation"  # the trace's column of each row's largest violation (runs with constraints)
NOT_APPLICABLE = "not_applicable"  # the status of a pair whose optimizer cannot take the problem's feasible set
BASE_COLUMNS = ("problem", "dimension", "optimizer", "start", "status", "f", "gap", "nit", "nfev", "njev", "time")


def columns(targets: Sequence[float]) -> list[str]:
    """bench.csv's columns: the run, its final violation, then nfev_to_<tau> and time_to_<tau> per target,
    then run_dir."""
    return [
        *BASE_COLUMNS,
        "violation",
        *(f"nfev_to_{target_name(t)}" for t in targets),
        *(f"time_to_{target_name(t)}" for t in targets),
        "run_dir",
    ]


def _feasible_set(run: Any, cache: dict[str, Any], key: str) -> Any:
    """(Feasible, the free parameters' trace columns) of a run's problem, prepared again from its
    config.yaml once per problem; None when that fails (the row then counts its best feasible row only)."""
    if key not in cache:
        from optrun.config import load_config
        from optrun.core.params import leaf_names
        from optrun.engine.prepare import prepare

        try:
            prep = prepare(load_config(run.path / "config.yaml"))
            free = {k: v for k, v in prep.params0.items() if k not in prep.fixed}
            cache[key] = (prep.feasible, leaf_names(free)) if prep.feasible is not None else None
        except (OptrunError, ValueError, TypeError):
            cache[key] = None
    return cache[key]


def feasible_rows(run: Any, cache: dict[str, Any], key: str) -> np.ndarray | None:
    """Which trace rows count for the targets: None when all do (no bounds or constraints); for a run
    with them, the rows at most feasibility_tol from the feasible set (none if it ended infeasible): the
    trace's ``violation`` column where it has one (runs with constraints), else computed from its
    parameter columns (:func:`_feasible_set`), else the best feasible row alone."""
    summary = run.summary
    if summary is None or summary.constraints is None:
        return None
    rows = len(run.trace["f"])
    tol = summary.constraints.tol
    if summary.status == "infeasible":
        return np.zeros(rows, dtype=bool)
    if VIOLATION in run.trace:
        return np.asarray(run.trace[VIOLATION] <= tol)  # (nan: not feasible)
    found = _feasible_set(run, cache, key)
    if found is not None and all(name in run.trace for name in found[1]):
        feasible, names = found
        points = np.column_stack([run.trace[name] for name in names]) if names else np.zeros((rows, 0))
        return np.array([feasible.violation(x) <= tol for x in points], dtype=bool)
    mask = np.zeros(rows, dtype=bool)  # no parameter columns: the best feasible row only
    if summary.best.iter is not None:
        mask[run.trace["iter"] == summary.best.iter] = True
    return mask


def bench_rows(
    sweep_rows: list[dict[str, Any]],
    meta: list[dict[str, Any]],
    targets: Sequence[float],
    not_applicable: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """bench.csv's rows: one per finished run (its result and, per target, the
    evaluations (nfev) and seconds at the first trace row that reached it, at a
    feasible point for a run with bounds or constraints), and one per
    ``not_applicable`` problem-start, in the suite's order."""
    from optrun.core.rundir import read_run
    from optrun.plots.profiles import target_costs, threshold

    rows: list[dict[str, Any]] = []
    traces: list[tuple[float, np.ndarray, np.ndarray, np.ndarray] | None] = []  # (f0, f where it counts, nfev, s)
    stars: list[float | None] = []
    order: list[tuple[int, int]] = []
    cache: dict[str, Any] = {}
    for sweep_row in sweep_rows:
        info = meta[sweep_row["index"] - 1]
        row = {
            **{c: None for c in BASE_COLUMNS},
            **info,
            "status": sweep_row["status"],
            "f": sweep_row["f"],
            "gap": sweep_row["gap"],
            "nit": sweep_row["nit"],
            "nfev": sweep_row["nfev"],
            "time": sweep_row["wall_time_s"],
            "violation": None,
            "run_dir": f"{RUNS}/{Path(sweep_row['run_dir']).name}",
        }
        trace = star = None
        if sweep_row["status"] != "error":
            try:
                run = read_run(sweep_row["run_dir"])
                f = np.asarray(run.trace["f"], dtype=float)
                counted = feasible_rows(run, cache, str(info["problem"]))
                trace = (
                    float(f[0]) if len(f) else math.nan,
                    f if counted is None else np.where(counted, f, np.nan),
                    run.trace["nfev"],
                    run.trace["time_s"],
                )
                if run.summary is not None:
                    row["njev"] = run.summary.njev
                    star = run.summary.reference.fun if run.summary.reference is not None else None
                    if run.summary.constraints is not None:
                        violation = run.summary.constraints.end.get("violation")
                        row["violation"] = math.inf if violation is None else violation
            except OptrunError:
                trace = None
        rows.append(row)
        traces.append(trace)
        stars.append(star)
        order.append((sweep_row["index"] - 1, 1))
    for entry in not_applicable:
        rows.append({**{c: None for c in BASE_COLUMNS}, **_na_row(entry)})
        traces.append(None)
        stars.append(None)
        order.append((int(entry.get("position", len(meta))), 0))
    # f_L per instance (problem, start): the lowest (feasible) f any run of it recorded (Moré-Wild, no f*)
    lowest: dict[tuple[str, int], float] = {}
    for row, trace in zip(rows, traces):
        finite = trace[1][np.isfinite(trace[1])] if trace is not None else ()
        if len(finite):
            key = (row["problem"], row["start"])
            lowest[key] = min(lowest.get(key, math.inf), float(np.min(finite)))
    for row, trace, star in zip(rows, traces, stars):
        for tau in targets:
            name = target_name(tau)
            row[f"nfev_to_{name}"] = row[f"time_to_{name}"] = None
            if trace is None or not len(trace[1]):
                continue
            level = threshold(tau, star, trace[0], lowest.get((row["problem"], row["start"])))
            if level is None:
                continue
            evals, seconds = target_costs(trace[1], trace[2], level), target_costs(trace[1], trace[3], level)
            if math.isfinite(evals):
                row[f"nfev_to_{name}"], row[f"time_to_{name}"] = int(evals), seconds
    ranked = sorted(range(len(rows)), key=lambda i: order[i])  # a stable sort: the suite's order
    return [rows[i] for i in ranked]


def _na_row(entry: dict[str, Any]) -> dict[str, Any]:
    keys = ("problem", "dimension", "optimizer", "start")
    return {**{k: entry.get(k) for k in keys}, "status": NOT_APPLICABLE, "violation": None, "run_dir": None}


def write_bench_csv(rows: list[dict[str, Any]], targets: Sequence[float], path: Path) -> None:
    names = columns(targets)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row[c] for c in names})
    write_text_atomic(path, buffer.getvalue())


_TEXT_COLUMNS = ("problem", "optimizer", "status", "run_dir")
_WHOLE_COLUMNS = ("dimension", "start", "nit", "nfev", "njev")
# a diverged run's f and f - f* are written as inf or nan; a violation is inf where a constraint was nan
_UNBOUNDED_COLUMNS = ("f", "gap", "violation")


def read_bench_csv(path: Path) -> list[dict[str, Any]]:
    """bench.csv's rows with numbers as numbers and empty cells as None, read by the bounded reader;
    a cell that is not what optrun writes there is one line naming the line and column."""
    from optrun.core.folder_files import csv_number, read_folder_csv

    try:
        _, raw_rows = read_folder_csv(path)
    except FileNotFoundError:
        raise ConfigError(
            "the bench has no bench.csv yet: finish it with optrun bench --resume", source=str(path.parent)
        ) from None
    rows = []
    for line, raw in enumerate(raw_rows, start=2):
        row: dict[str, Any] = {}
        for key, value in raw.items():
            if value == "":
                row[key] = None
            elif key in _TEXT_COLUMNS:
                row[key] = value
            else:
                whole = key in _WHOLE_COLUMNS or key.startswith("nfev_to_")
                number = csv_number(path, line, key, value, whole=whole, finite=key not in _UNBOUNDED_COLUMNS)
                row[key] = int(number) if whole else number
        rows.append(row)
    return rows
