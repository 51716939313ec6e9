"""A sweep's runs: ordinary run directories ``run-NNNN/`` in one sweep
folder (:mod:`optrun.engine.sweep_dir`), beside ``sweep.json`` (the plan,
for ``--resume``), ``sweep.csv`` and ``sweep.png``.

Each run is one :func:`run_one` call, whatever executor runs it
(:mod:`optrun.engine.executors`), so every executor gives identical
results. A failed or diverged run is recorded and the sweep goes on; a
signal stops starting new runs and keeps every finished one; ``--resume``
redoes exactly the runs without a summary.
"""

from __future__ import annotations

import os
import signal
import warnings as warnings_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optrun.config import load_config
from optrun.core.errors import OptrunError, RunIOError
from optrun.core.result import Summary
from optrun.core.runner import SignalFlag
from optrun.core.status import Status, status
from optrun.engine import remote
from optrun.engine.executors import Executor, batched, run_many
from optrun.engine.remote import Fetch, Files, Parcel, RemoteForm, Returned, remote_form
from optrun.engine.sweep_dir import (
    check_writable,
    finished_row,
    redo_plan,
    remove_unfinished,
    row_on_disk,
    sweep_row,
    write_sweep_csv,
)
from optrun.engine.sweep_plan import Plan
from optrun.plots.sweep import plot_sweep


def run_batch(calls: Sequence[tuple[dict[str, Any]]], flag: SignalFlag | None) -> list[dict[str, Any]]:
    """:func:`run_one`'s vectorised form (``--vectorize``): the runs as one
    computation, every run directory written as a single run writes it; the
    plan was checked by :func:`optrun.engine.sweep_plan.check_vectorizable`."""
    from optrun.engine.batch import execute_batch

    tasks = [task for (task,) in calls]
    configs = [load_config(task["config"], task["overrides"]) for task in tasks]
    run_dirs = [Path(task["run_dir"]) for task in tasks]
    results = execute_batch(configs, run_dirs, tasks[0]["blas_threads"], interrupt=flag)
    return [sweep_row(task, result.summary) for task, result in zip(tasks, results)]


def _pack_task(task: dict[str, Any]) -> tuple[tuple[Any, ...], Files]:
    """(On the client.) A run as a task for another machine: its config as data, with the files it reads."""
    from optrun.config.plugins import load_user_problems

    load_user_problems(task.get("problems"))
    parcel, files = remote.pack(load_config(task["config"], task["overrides"]), task["blas_threads"])
    return (task, parcel), files


def _run_shipped(
    task: dict[str, Any], parcel: Parcel, files: Files, stop: str | None = None
) -> tuple[dict[str, Any], Returned | None]:
    """(On a worker.) The run recorded in a scratch folder; its row and its files."""
    from optrun.engine.record import execute

    def run(run_dir: Path) -> dict[str, Any]:
        def summary() -> Summary:
            with remote.opened(parcel, files) as config:
                return execute(config, run_dir=run_dir, blas_threads=parcel.blas_threads).summary

        return _row(task, summary)

    return remote.recorded(run, stop)


def _unpack_row(
    call: tuple[dict[str, Any]], value: tuple[dict[str, Any], Returned | None], fetch: Fetch
) -> dict[str, Any]:
    """(On the client.) The run's files written into its run directory here; its row."""
    (task,), (row, returned) = call, value
    if returned is not None:
        try:
            remote.receive(returned, Path(task["run_dir"]), fetch)
        except RunIOError as exc:
            return {**sweep_row(task, None), "status": "error", "message": f"{exc}; --resume redoes it"}
    return row


@batched(run_batch)
@remote_form(RemoteForm(_pack_task, _run_shipped, _unpack_row))
def run_one(task: dict[str, Any]) -> dict[str, Any]:
    """One sweep run, in whatever process an executor chose; returns its row.
    Errors become the row's status, so one bad run never stops the sweep."""
    from optrun.config.plugins import load_user_problems
    from optrun.engine.record import execute

    def summary() -> Summary:
        load_user_problems(task.get("problems"))
        config = load_config(task["config"], task["overrides"])
        return execute(config, run_dir=Path(task["run_dir"]), blas_threads=task["blas_threads"]).summary

    return _row(task, summary)


def _row(task: dict[str, Any], run: Callable[[], Summary]) -> dict[str, Any]:
    """The row of a run: its summary's, or an error row for whatever stopped it before."""
    row = sweep_row(task, None)
    try:
        return sweep_row(task, run())
    except OptrunError as exc:
        return {**row, "status": "error", "message": str(exc)}
    except Exception as exc:  # an executor must get a row back, never an exception
        return {**row, "status": "error", "message": f"{type(exc).__name__}: {exc}"}
    except (SystemExit, KeyboardInterrupt) as exc:  # user code outside a run's loop (which records its own)
        from optrun.core.runner import caused_by_signal, user_exit

        if isinstance(exc, KeyboardInterrupt) and caused_by_signal(exc):
            raise
        return {**row, "status": "error", "message": f"user code {user_exit(exc)}"}


class Stopped(Exception):
    """SIGINT/SIGTERM during a sweep: no new runs start; finished ones are kept."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


class ExecutorLost(Exception):
    """The executor ended by itself before every run finished (a Dask
    scheduler that went away): finished runs are kept; --resume runs the rest."""


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
        row = row_on_disk(tasks[i])
        if row is None and finished.signum is None and not finished.error:
            row = {
                **sweep_row(tasks[i], None),
                "status": "error",
                "message": f"{finished.lost[i]}; the run has no summary (--resume redoes it)",
            }
        if row is not None:
            on_done(row)
    if finished.error:
        raise ExecutorLost(finished.error)
    if finished.signum is not None or interrupted:
        raise Stopped(finished.signum or signal.SIGINT)


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
    lost: str = ""  # why the executor ended before every run finished (its runs are kept; --resume does the rest)


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
            kept = finished_row(run_dir, index, values)
            if kept is not None:
                rows[index] = kept
                continue
        if os.path.lexists(run_dir):  # interrupted or killed: redo it from scratch
            redo.append((run_dir, redo_plan(run_dir)))
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
    check_writable(sweep_dir)
    for run_dir, files in redo:  # only once every run was checked: a refusal deletes nothing
        remove_unfinished(run_dir, files)
    skipped = len(rows)

    def done(row: dict[str, Any]) -> None:
        rows[row["index"]] = row
        on_done(row)

    stopped = False
    signum = None
    lost = ""
    try:
        execute_tasks(tasks, executor, done)
    except Stopped as stop:
        stopped, signum = True, stop.signum
    except ExecutorLost as exc:
        lost = str(exc)
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
    return SweepOutcome(sweep_dir, ordered, plan.keys, skipped, stopped, tuple(warnings), signum, plot, lost)
