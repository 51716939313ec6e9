"""A sweep folder on disk: ``sweep.json`` (the plan), ``run-NNNN/`` run
directories, ``sweep.csv`` (one row per run: the swept values and the
results). What ``--resume`` keeps, what it redoes and what it refuses to
delete (anything optrun did not make) is decided here.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optrun.core.errors import ConfigError, OptrunError, RunIOError
from optrun.core.outputs import make_run_dir, remove_run_dir, write_json_atomic, write_text_atomic
from optrun.core.result import Summary
from optrun.core.rundir import read_summary
from optrun.core.status import status
from optrun.core.yaml_text import yaml_text
from optrun.engine.sweep_plan import MAX_RUNS, Plan

RESULT_COLUMNS = ("status", "f", "gap", "nit", "nfev", "wall_time_s", "message", "run_dir")
# a run with bounds or constraints: its final point's largest violation (summary.json's constraints.end.violation);
# sweep.csv has the column, after gap, when any of its runs has one
VIOLATION = "violation"


def is_done(row: dict[str, Any]) -> bool:
    """A row --resume keeps: a finished run, or one that could not start (``error``)."""
    found = status(row["status"])
    return row["status"] == "error" if found is None else found.finished


def is_failed(row: dict[str, Any]) -> bool:
    """A run that diverged or failed, or could not start."""
    found = status(row["status"])
    return row["status"] == "error" if found is None else found.failure


def sweep_row(task: dict[str, Any], summary: Summary | None) -> dict[str, Any]:
    """A task's row in sweep.csv: its index, swept values and results (empty without a summary)."""
    results = result_fields(summary) if summary is not None else dict.fromkeys(RESULT_COLUMNS)
    return {"index": task["index"], **task["values"], **results, "run_dir": task["run_dir"]}


def result_fields(summary: Summary) -> dict[str, Any]:
    """The result columns of a sweep row, from a run's summary (plain data:
    rows go to sweep.csv); with bounds or constraints, ``violation`` too."""
    fields = {
        "status": summary.status.value,
        "f": summary.fun,
        "gap": summary.gap,
        "nit": summary.nit,
        "nfev": summary.nfev,
        "wall_time_s": summary.wall_time_s,
        "message": summary.message,
    }
    if summary.constraints is not None:
        fields[VIOLATION] = summary.constraints.end.get("violation")
    return fields


def result_columns(rows: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """sweep.csv's result columns for these rows: ``violation`` after ``gap``
    when any run has bounds or constraints."""
    if not any(VIOLATION in row for row in rows):
        return RESULT_COLUMNS
    at = RESULT_COLUMNS.index("gap") + 1
    return (*RESULT_COLUMNS[:at], VIOLATION, *RESULT_COLUMNS[at:])


def row_on_disk(task: dict[str, Any]) -> dict[str, Any] | None:
    """The row of a run whose result did not come back from a stopped
    executor but which wrote its summary (interrupted, usually)."""
    try:
        summary = read_summary(Path(task["run_dir"]))
    except OptrunError:
        return None
    return None if summary is None else sweep_row(task, summary)


def start_sweep(plan: Plan, output_dir: str, name: str) -> Path:
    """Make a new sweep directory and write its plan."""
    sweep_dir = make_run_dir(output_dir, name, prefix="sweep-")
    try:
        write_json_atomic(sweep_dir / "sweep.json", plan.to_json())
    except RunIOError as exc:  # a full disk: leave no empty sweep folder behind
        remove_run_dir(sweep_dir)
        raise RunIOError(
            f"{exc.message}; nothing was recorded (the sweep folder was removed)", source=exc.source
        ) from None
    return sweep_dir


def load_plan(sweep_dir: Path) -> Plan:
    """The plan of an existing sweep directory (for --resume), validated."""
    from optrun.core.folder_files import read_folder_json

    if not sweep_dir.is_dir():
        raise ConfigError("not a sweep directory (no such folder)", source=str(sweep_dir))
    try:  # the bounded reader: a regular file, its size, depth and finite numbers
        data = read_folder_json(sweep_dir / "sweep.json", str(sweep_dir))
    except FileNotFoundError:
        raise ConfigError("not a sweep directory (no sweep.json)", source=str(sweep_dir)) from None
    problem = plan_problem(data)
    if problem:
        raise ConfigError(f"sweep.json is not an optrun sweep plan: {problem}", source=str(sweep_dir))
    return Plan.from_json(data)


def plan_problem(data: Any) -> str:
    """Why ``data`` is not a plan optrun wrote ('' when it is)."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    for key, kind, what in (
        ("config", (str, dict), "a path or a mapping"),
        ("overrides", list, "a list"),
        ("keys", list, "a list"),
        ("runs", list, "a list"),
        ("plots", bool, "true or false"),
    ):
        if key not in data:
            return f"no '{key}'"
        if not isinstance(data[key], kind):
            return f"'{key}' should be {what}"
    if not all(isinstance(o, str) for o in data["overrides"]):
        return "'overrides' should be strings"
    keys = data["keys"]
    if not keys or not all(isinstance(k, str) and k for k in keys) or len(set(keys)) != len(keys) or keys[-1] != "seed":
        return "'keys' should be distinct names ending with 'seed'"
    taken = set(keys) & {"index", *RESULT_COLUMNS, VIOLATION}
    if taken:
        return f"'keys' names a result column ({sorted(taken)[0]})"
    if not data["runs"]:
        return "'runs' is empty"
    if len(data["runs"]) > MAX_RUNS:
        return f"'runs' holds {len(data['runs'])} runs; a sweep has at most {MAX_RUNS}"
    for i, values in enumerate(data["runs"], start=1):
        if not isinstance(values, dict) or list(values) != keys:
            return f"run {i} does not give exactly the keys {keys}"
    return ""


def finished_row(run_dir: Path, index: int, values: dict[str, Any]) -> dict[str, Any] | None:
    """A run that --resume keeps: its summary exists and it was not
    interrupted, nor stopped by the disk (an I/O failure is redone)."""
    try:
        summary = read_summary(run_dir)
    except ConfigError as exc:
        raise ConfigError(f"{exc.message}; move this run away to redo it", source=exc.source) from None
    if summary is None or not summary.status.finished or summary.io_error:
        return None
    return {"index": index, **values, **result_fields(summary), "run_dir": str(run_dir)}


# what a run directory holds: anything else in run-NNNN was not made by optrun, and --resume will not delete it
RUN_FILES = re.compile(
    r"(config\.yaml|trace\.csv|trace\.parquet|summary\.json|(loss|params|landscape|fit)\.(png|svg|pdf)"
    r"|\.(config\.yaml|summary\.json|(loss|params|landscape|fit)\.(png|svg|pdf))\.[^/]+\.tmp)"
)


def redo_plan(run_dir: Path) -> list[Path]:
    """The files to delete before redoing an unfinished run. Refuses (one
    line, nothing deleted) a run-NNNN that is a symbolic link, not a folder,
    or holds anything optrun does not write there."""
    if run_dir.is_symlink():
        raise ConfigError(
            f"{run_dir.name} is a symbolic link, not a run directory of this sweep: move it away to resume",
            source=str(run_dir.parent),
        )
    if not run_dir.is_dir():
        raise ConfigError(
            f"{run_dir.name} is not a folder, not a run directory of this sweep: move it away to resume",
            source=str(run_dir.parent),
        )
    try:
        entries = list(os.scandir(run_dir))
    except OSError as exc:
        raise RunIOError(f"cannot read the unfinished run: {exc.strerror or exc}", source=str(run_dir)) from None
    for entry in entries:
        if not RUN_FILES.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
            raise ConfigError(
                f"the unfinished run holds '{entry.name}', which optrun did not write: "
                "move it away to resume (nothing was deleted)",
                source=str(run_dir),
            )
    return [Path(entry.path) for entry in entries]


def remove_unfinished(run_dir: Path, files: list[Path]) -> None:
    try:
        for file in files:
            file.unlink()
        run_dir.rmdir()
    except OSError as exc:
        raise RunIOError(
            f"cannot remove the unfinished run to redo it: {exc.strerror or exc}", source=str(run_dir)
        ) from None


def check_writable(folder: Path) -> None:
    """Fail at once, before any run, when the sweep folder cannot be written."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise RunIOError(f"cannot write in the sweep folder: {exc.strerror or exc}", source=str(folder)) from None


def write_sweep_csv(rows: list[dict[str, Any]], keys: Sequence[str], path: Path) -> None:
    import csv
    import io

    columns = ["index", *keys, *result_columns(rows)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                c: (
                    yaml_text(row[c])  # a swept value as the table and --set write it (null too)
                    if c in keys and c in row
                    else ("" if row.get(c) is None else row[c])
                )
                for c in columns
            }
        )
    try:
        write_text_atomic(path, buffer.getvalue())
    except RunIOError as exc:
        raise RunIOError(
            f"{exc.message} (the runs are kept: finish with optrun sweep --resume {path.parent})", source=exc.source
        ) from None


def is_sweep_dir(path: Path) -> bool:
    return (path / "sweep.json").is_file()


def sweep_rows(sweep_dir: Path) -> tuple[Plan, list[dict[str, Any]]]:
    """The plan of a sweep directory and the rows of its finished runs, read
    from each run's summary.json (sweep.csv is only a copy: a killed sweep may
    not have written it)."""
    plan = load_plan(sweep_dir)
    rows = []
    for index, values in enumerate(plan.runs, start=1):
        run_dir = sweep_dir / f"run-{index:04d}"
        row = None if run_dir.is_symlink() else finished_row(run_dir, index, values)
        if row is not None:
            rows.append(row)
    return plan, rows
