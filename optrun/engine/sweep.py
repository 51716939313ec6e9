"""A sweep's runs: ordinary run directories ``run-NNNN/`` in one sweep
folder, beside ``sweep.json`` (the plan, for ``--resume``), ``sweep.csv``
and ``sweep.png``.

Each run is one :func:`run_one` call, whatever executor runs it
(:mod:`optrun.engine.executors`), so every executor gives identical
results. A failed or diverged run is recorded and the sweep goes on; a
signal stops starting new runs and keeps every finished one; ``--resume``
redoes exactly the runs without a summary.
"""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import warnings as warnings_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optrun.config import load_config
from optrun.core.errors import ConfigError, OptrunError, RunIOError
from optrun.core.outputs import make_run_dir, remove_run_dir, write_json_atomic, write_text_atomic
from optrun.core.result import Summary
from optrun.core.rundir import read_summary
from optrun.core.runner import SignalFlag
from optrun.core.status import Status, status
from optrun.engine.executors import Executor, batched, run_many
from optrun.engine.sweep_plan import Plan, _flow
from optrun.plots.sweep import plot_sweep

RESULT_COLUMNS = ("status", "f", "gap", "nit", "nfev", "wall_time_s", "message", "run_dir")


def is_done(row: dict[str, Any]) -> bool:
    """A row --resume keeps: a finished run, or one that could not start (``error``)."""
    found = status(row["status"])
    return row["status"] == "error" if found is None else found.finished


def is_failed(row: dict[str, Any]) -> bool:
    """A run that diverged or failed, or could not start."""
    found = status(row["status"])
    return row["status"] == "error" if found is None else found.failure


def run_batch(calls: Sequence[tuple[dict[str, Any]]], flag: SignalFlag | None) -> list[dict[str, Any]]:
    """:func:`run_one`'s vectorised form (``--vectorize``): the runs as one
    computation, every run directory written as a single run writes it; the
    plan was checked by :func:`optrun.engine.sweep_plan.check_vectorizable`."""
    from optrun.engine.record import execute_batch

    tasks = [task for (task,) in calls]
    configs = [load_config(task["config"], task["overrides"]) for task in tasks]
    run_dirs = [Path(task["run_dir"]) for task in tasks]
    results = execute_batch(configs, run_dirs, tasks[0]["blas_threads"], interrupt=flag)
    return [_row(task, result.summary) for task, result in zip(tasks, results)]


@batched(run_batch)
def run_one(task: dict[str, Any]) -> dict[str, Any]:
    """One sweep run, in whatever process an executor chose; returns its row.
    Errors become the row's status, so one bad run never stops the sweep."""
    from optrun.config.plugins import load_user_problems
    from optrun.engine.record import execute

    row = _row(task, None)
    try:
        load_user_problems(task.get("problems"))
        config = load_config(task["config"], task["overrides"])
        result = execute(config, run_dir=Path(task["run_dir"]), blas_threads=task["blas_threads"])
    except OptrunError as exc:
        return {**row, "status": "error", "message": str(exc)}
    except Exception as exc:  # an executor must get a row back, never an exception
        return {**row, "status": "error", "message": f"{type(exc).__name__}: {exc}"}
    return _row(task, result.summary)


def _row(task: dict[str, Any], summary: Summary | None) -> dict[str, Any]:
    """A task's row in sweep.csv: its index, swept values and results (empty without a summary)."""
    results = _result_fields(summary) if summary is not None else dict.fromkeys(RESULT_COLUMNS)
    return {"index": task["index"], **task["values"], **results, "run_dir": task["run_dir"]}


def _result_fields(summary: Summary) -> dict[str, Any]:
    """The result columns of a sweep row, from a run's summary (plain data: rows go to sweep.csv)."""
    return {
        "status": summary.status.value,
        "f": summary.fun,
        "gap": summary.gap,
        "nit": summary.nit,
        "nfev": summary.nfev,
        "wall_time_s": summary.wall_time_s,
        "message": summary.message,
    }


class Stopped(Exception):
    """SIGINT/SIGTERM during a sweep: no new runs start; finished ones are kept."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def execute_tasks(tasks: list[dict[str, Any]], executor: Executor, on_done: Callable[[dict[str, Any]], None]) -> None:
    """Run the tasks on ``executor``; raises :class:`Stopped` after a
    SIGINT/SIGTERM, once the executor has stopped and the rows of the runs
    that recorded themselves were handed to ``on_done``. A run whose worker
    died by itself (SIGKILL, a crash) gets an error row saying so."""
    interrupted = False

    def result(i: int, row: dict[str, Any]) -> None:
        nonlocal interrupted
        on_done(row)
        interrupted = interrupted or status(row["status"]) is Status.INTERRUPTED

    finished = run_many(executor, run_one, [(task,) for task in tasks], result)
    for i in sorted(finished.lost):  # killed, or its result lost with its worker: kept if it recorded itself
        row = _row_on_disk(tasks[i])
        if row is None and finished.signum is None:
            row = {
                **_row(tasks[i], None),
                "status": "error",
                "message": f"{finished.lost[i]}; the run has no summary (--resume redoes it)",
            }
        if row is not None:
            on_done(row)
    if finished.signum is not None or interrupted:
        raise Stopped(finished.signum or signal.SIGINT)


def _row_on_disk(task: dict[str, Any]) -> dict[str, Any] | None:
    """The row of a run whose result did not come back from a stopped
    executor but which wrote its summary (interrupted, usually)."""
    try:
        summary = read_summary(Path(task["run_dir"]))
    except OptrunError:
        return None
    return None if summary is None else _row(task, summary)


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep did: its rows, what --resume kept, and whether a signal stopped it."""

    sweep_dir: Path
    rows: list[dict[str, Any]]
    keys: tuple[str, ...]
    skipped: int  # finished runs kept by --resume
    stopped: bool  # SIGINT/SIGTERM
    warnings: tuple[str, ...] = ()
    signum: int | None = None  # the signal that stopped it
    plot: Path | None = None  # sweep.png, when drawn (not when only seeds were swept or no run finished)


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
    path = sweep_dir / "sweep.json"
    if not sweep_dir.is_dir():
        raise ConfigError("not a sweep directory (no such folder)", source=str(sweep_dir))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("not a sweep directory (no sweep.json)", source=str(sweep_dir)) from None
    except ValueError as exc:
        raise ConfigError(f"cannot read sweep.json: {' '.join(str(exc).split())}", source=str(sweep_dir)) from None
    except OSError as exc:
        raise RunIOError(f"cannot read sweep.json: {exc.strerror or exc}", source=str(sweep_dir)) from None
    problem = _plan_problem(data)
    if problem:
        raise ConfigError(f"sweep.json is not an optrun sweep plan: {problem}", source=str(sweep_dir))
    return Plan.from_json(data)


def _plan_problem(data: Any) -> str:
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
    taken = set(keys) & {"index", *RESULT_COLUMNS}
    if taken:
        return f"'keys' names a result column ({sorted(taken)[0]})"
    if not data["runs"]:
        return "'runs' is empty"
    for i, values in enumerate(data["runs"], start=1):
        if not isinstance(values, dict) or list(values) != keys:
            return f"run {i} does not give exactly the keys {keys}"
    return ""


def _finished_row(run_dir: Path, index: int, values: dict[str, Any]) -> dict[str, Any] | None:
    """A run that --resume keeps: its summary exists and it was not
    interrupted, nor stopped by the disk (an I/O failure is redone)."""
    try:
        summary = read_summary(run_dir)
    except ConfigError as exc:
        raise ConfigError(f"{exc.message}; move this run away to redo it", source=exc.source) from None
    if summary is None or not summary.status.finished or summary.io_error:
        return None
    return {"index": index, **values, **_result_fields(summary), "run_dir": str(run_dir)}


# what a run directory holds: anything else in run-NNNN was not made by optrun, and --resume will not delete it
RUN_FILES = re.compile(
    r"(config\.yaml|trace\.csv|summary\.json|(loss|params|landscape|fit)\.(png|svg|pdf)"
    r"|\.(config\.yaml|summary\.json|(loss|params|landscape|fit)\.(png|svg|pdf))\.[^/]+\.tmp)"
)


def _redo_plan(run_dir: Path) -> list[Path]:
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


def _remove_unfinished(run_dir: Path, files: list[Path]) -> None:
    try:
        for file in files:
            file.unlink()
        run_dir.rmdir()
    except OSError as exc:
        raise RunIOError(
            f"cannot remove the unfinished run to redo it: {exc.strerror or exc}", source=str(run_dir)
        ) from None


def _check_writable(folder: Path) -> None:
    """Fail at once, before any run, when the sweep folder cannot be written."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise RunIOError(f"cannot write in the sweep folder: {exc.strerror or exc}", source=str(folder)) from None


def run_sweep(
    plan: Plan,
    sweep_dir: Path,
    executor: Executor,
    problems: str | None,
    on_done: Callable[[dict[str, Any]], None] = lambda row: None,
) -> SweepOutcome:
    """Run every run of the plan that has not finished yet; write sweep.csv and sweep.png."""
    from optrun.core.machine import blas_threads

    threads = blas_threads()  # this process's setting, for every executor (Dask workers do not share its environment)
    rows: dict[int, dict[str, Any]] = {}
    tasks = []
    redo: list[tuple[Path, list[Path]]] = []
    for index, values in enumerate(plan.runs, start=1):
        run_dir = sweep_dir / f"run-{index:04d}"
        if not run_dir.is_symlink():  # (a symlink is refused by _redo_plan, never followed)
            kept = _finished_row(run_dir, index, values)
            if kept is not None:
                rows[index] = kept
                continue
        if os.path.lexists(run_dir):  # interrupted or killed: redo it from scratch
            redo.append((run_dir, _redo_plan(run_dir)))
        tasks.append(
            {
                "index": index,
                "values": values,
                "config": plan.config,
                "overrides": plan.run_overrides(values),
                "run_dir": str(run_dir),
                "problems": problems,
                "blas_threads": threads,
            }
        )
    _check_writable(sweep_dir)
    for run_dir, files in redo:  # only once every run was checked: a refusal deletes nothing
        _remove_unfinished(run_dir, files)
    skipped = len(rows)

    def done(row: dict[str, Any]) -> None:
        rows[row["index"]] = row
        on_done(row)

    stopped = False
    signum = None
    try:
        execute_tasks(tasks, executor, done)
    except Stopped as stop:
        stopped, signum = True, stop.signum
    ordered = [rows[i] for i in sorted(rows)]
    write_sweep_csv(ordered, plan.keys, sweep_dir / "sweep.csv")
    warnings = []
    path = sweep_dir / "sweep.png"
    plot: Path | None = path  # None: not drawn
    try:
        if path.is_symlink():  # replaced, never written through
            path.unlink()
        with warnings_module.catch_warnings():  # e.g. matplotlib's "no artists" when every run failed
            warnings_module.simplefilter("ignore")
            if not plot_sweep(ordered, plan.keys, path):
                path.unlink(missing_ok=True)  # a stale one (--resume) would show other results
                plot = None
    except Exception as exc:
        warnings.append(f"{path}: plot not drawn: {type(exc).__name__}: {exc}")
        try:  # a half-written or stale plot is worse than none
            path.unlink(missing_ok=True)
        except OSError:
            pass
        plot = None
    return SweepOutcome(sweep_dir, ordered, plan.keys, skipped, stopped, tuple(warnings), signum, plot)


def write_sweep_csv(rows: list[dict[str, Any]], keys: Sequence[str], path: Path) -> None:
    import csv
    import io

    columns = ["index", *keys, *RESULT_COLUMNS]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                c: ("" if row.get(c) is None else (_flow(row[c]) if isinstance(row.get(c), (list, dict)) else row[c]))
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
        row = None if run_dir.is_symlink() else _finished_row(run_dir, index, values)
        if row is not None:
            rows.append(row)
    return plan, rows
