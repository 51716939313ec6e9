"""One run, executed and recorded: the run directory, config.yaml, the
streamed trace, summary.json and the plots, whatever stops the run (its
stop rules, a signal, a full disk).

:func:`execute` runs one prepared config (:mod:`optrun.engine.prepare`
builds everything that can fail on bad input *before* any file is
written; :mod:`optrun.engine.batch` runs many that differ only in their
start and numeric options as one vectorised computation). :func:`solve` is the
loop alone (the Python runner, or the jax backend's compiled loop), writing
nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import platform
import signal
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from optrun.config import Config
from optrun.core import compiled, machine, runner
from optrun.core.errors import OptrunError, RunIOError
from optrun.core.feasible import with_feasibility
from optrun.core.outputs import make_given_dir, make_run_dir, remove_run_dir, write_json_atomic, write_yaml
from optrun.core.params import to_jsonable
from optrun.core.result import Best, Feasibility, KnownMinimum, Summary
from optrun.core.runner import Interrupted, SignalFlag
from optrun.core.status import Status
from optrun.core.stopping import Outcome
from optrun.core.trace import TraceGroup, TraceWriter
from optrun.core.trace_files import FORMATS
from optrun.engine.prepare import Prepared, prepare
from optrun.engine.result import RunResult
from optrun.engine.signals import armed, run_signals

__all__ = ["build_summary", "execute", "record_io_failure", "solve", "start_record", "versions", "write_summary"]


def versions() -> dict[str, str]:
    """The versions summary.json records (python, numpy, autograd, optrun)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    """Read once per process: a sweep records them in every run."""
    from optrun import __version__

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "autograd": metadata.version("autograd"),
        "optrun": __version__,
    }


def build_summary(prep: Prepared, outcome: Outcome, where: dict[str, Any], io_error: str | None = None) -> Summary:
    """The Summary of a finished run (summary.json's fields: README, "Runs,
    statuses and exit codes"); ``io_error``: why its files could not be written."""
    config = prep.config
    found = outcome.best_iter >= 0
    return Summary(
        name=config.name,
        problem=config.problem.name,
        optimizer=config.optimizer.name,
        status=Status(outcome.status),
        message=outcome.message,
        fun=outcome.fun,
        params=to_jsonable(prep.params(outcome.x)),
        grad_norm=outcome.grad_norm,
        nit=outcome.nit,
        nfev=outcome.nfev,
        njev=outcome.njev,
        nhev=prep.oracle.nhev,
        best=Best(outcome.best_fun if found else None, outcome.best_iter if found else None),
        wall_time_s=outcome.wall_time_s,
        reference=KnownMinimum.of(prep.problem.reference),
        reference_note=prep.problem.note or None,
        seed=config.seed,
        versions=versions(),
        machine=where,
        io_error=io_error,
        constraints=(
            Feasibility.of(prep.feasible, prep.x0, outcome.x, outcome.best_x) if prep.feasible is not None else None
        ),
    )


def start_record(
    run_dir: Path, prep: Prepared, group: TraceGroup | None = None, with_config: bool = True
) -> TraceWriter:
    """Write config.yaml (unless ``with_config`` is false: the caller writes
    it) and the trace header; if either fails (a full disk, no inodes left),
    remove the run directory: nothing was recorded."""
    reference = prep.problem.reference
    try:
        if with_config:
            write_yaml(run_dir / "config.yaml", prep.config.resolved(bounded=prep.feasible is not None))
        fmt = FORMATS[prep.config.output.trace_format]
        return TraceWriter(
            run_dir / fmt.file,
            prep.param_names,
            prep.expand,
            fstar=reference.fun if reference else None,
            grad_names=prep.grad_names,
            log_every=prep.config.output.log_every,
            format=fmt.name,
            group=group,
            # a run with constraints: a violation column (bounds alone: the methods keep iterates in the box)
            violation=prep.feasible.violation if prep.feasible is not None and prep.feasible.constraints else None,
        )
    except RunIOError as exc:
        remove_run_dir(run_dir)
        raise RunIOError(
            f"{exc.message}; nothing was recorded (the run directory was removed)", source=exc.source
        ) from None


def record_io_failure(run_dir: Path, prep: Prepared, writer: TraceWriter, outcome: Outcome | None) -> NoReturn:
    """The trace could not be written mid-run (``writer`` cut it back to its
    last complete row): record the run as failed in summary.json if that can
    still be written, and raise the one-line error saying what is left."""
    writer.close()
    error = writer.error
    assert error is not None  # called only when the writer has recorded its error
    kept = (
        f"{writer.path.name} keeps its {writer.rows_written} complete rows"
        if writer.path.exists()
        else f"{writer.path.name} was removed (a parquet file cannot be cut back to its complete rows)"
    )
    if outcome is None:  # stopped in the middle of the run
        k, f, grad_norm, t, nfev, njev, x = writer.last or (0, float("nan"), float("nan"), 0.0, 0, 0, prep.x0)
        best_fun, best_iter = writer.best
        outcome = Outcome(
            Status.FAILED,
            "io_error",
            f"{error.message} at iteration {k}; {kept}",
            x,
            f,
            grad_norm,
            k,
            nfev,
            njev,
            best_fun,
            best_iter,
            t,
        )
    else:  # the run had ended; its last rows could not be written
        outcome = dataclasses.replace(
            outcome,
            status=Status.FAILED,
            reason="io_error",
            message=f"{error.message} after the run ended ({outcome.status}: {outcome.message}); {kept}",
        )
    try:
        write_json_atomic(
            run_dir / "summary.json",
            build_summary(prep, outcome, machine.machine_info(), io_error=error.message).to_json(),
        )
    except RunIOError as again:
        raise RunIOError(
            f"{error.message}; {kept}, but summary.json could not be written either ({again.message}): "
            "the run directory is left like a killed run",
            source=error.source,
        ) from None
    raise RunIOError(
        f"{error.message}; {kept} and the run is recorded as failed in summary.json", source=error.source
    ) from None


def write_summary(run_dir: Path, summary: Summary, outcome: Outcome) -> None:
    try:
        write_json_atomic(run_dir / "summary.json", summary.to_json())
    except RunIOError as exc:
        raise RunIOError(
            f"{exc.message}; the run ended ({outcome.status}) but has no summary: "
            "its directory holds config.yaml and the complete trace, like a killed run",
            source=exc.source,
        ) from None


def execute(
    config: Config,
    observers: Sequence[Any] = (),
    run_dir: Path | None = None,
    blas_threads: int | None = None,
    on_summary: Callable[[Summary, Path], None] | None = None,
) -> RunResult:
    """Run a validated config and record it; returns the result. ``run_dir``
    names the (new) run directory; by default it is made under output.dir.
    ``blas_threads`` (default: :func:`optrun.core.machine.blas_threads`) is the
    BLAS thread count for the whole run, whatever process runs it.
    ``on_summary(summary, run_dir)`` is called once summary.json is written,
    before the plots are drawn (the CLI shows the result then)."""
    threads = machine.blas_threads(blas_threads)
    with machine.blas_limits(threads):
        return _execute(config, observers, run_dir, threads, on_summary)


def solve(
    prep: Prepared,
    threads: int,
    x0: np.ndarray | None = None,
    observers: Sequence[Any] = (),
    interrupt: SignalFlag | None = None,
) -> tuple[Outcome, dict[str, Any]]:
    """Make the optimizer and run the loop from ``x0`` (default: the config's
    start) with ``threads`` BLAS threads: on the jax backend, a method with a
    compiled direction runs in jitted chunks (:mod:`optrun.core.compiled`),
    anything else in the one Python loop; returns the outcome and the machine
    it ran on (for summary.json). Writes nothing: observers do."""
    config = prep.config
    entry, options = config.optimizer.entry, config.optimizer.options
    start = prep.x0 if x0 is None else x0
    if compiled.can_compile(entry, prep.oracle.backend):  # jax and a method with a compiled direction: lax.scan chunks
        with machine.blas_limits(threads):
            outcome = compiled.minimize_compiled(
                prep.oracle, start, entry, options, config.stop, observers, interrupt=interrupt
            )
            return with_feasibility(outcome, prep.feasible), machine.machine_info()
    optimizer = entry.make(options, prep.oracle)
    with machine.blas_limits(threads):  # also for a BLAS library that make() loaded (SciPy's)
        reference = prep.problem.reference
        outcome = runner.minimize(
            prep.oracle,
            start,
            optimizer,
            config.stop,
            observers,
            interrupt=interrupt,
            known_minimum=reference.fun if reference is not None else None,
        )
        return with_feasibility(outcome, prep.feasible), machine.machine_info()


def _ended_outside(prep: Prepared, writer: TraceWriter, exc: BaseException, flag: SignalFlag | None) -> Outcome:
    """The outcome of a run stopped just outside the loop (which catches its
    own): by a signal (``interrupted``), or by user code outside it (an
    optimizer's make, the compiled loop) calling sys.exit() or raising a
    KeyboardInterrupt no signal caused (``failed``); what the trace recorded."""
    oracle = prep.oracle
    k, f, grad_norm, t, nfev, njev, x = writer.last or (0, np.nan, np.nan, 0.0, oracle.nfev, oracle.njev, prep.x0)
    signum = None if isinstance(exc, SystemExit) else int(getattr(exc, "signum", signal.SIGINT))
    if signum is not None and runner.caused_by_signal(exc, flag):
        status, message = Status.INTERRUPTED, f"interrupted by {signal.Signals(signum).name} at iteration {k}"
    else:
        status, message, signum = Status.FAILED, f"user code {runner.user_exit(exc)} at iteration {k}", None
    reason = "interrupted" if signum else "exited"
    return Outcome(status, reason, message, x, f, grad_norm, k, nfev, njev, *writer.best, t, signum=signum)


def _execute(
    config: Config,
    observers: Sequence[Any],
    run_dir: Path | None,
    threads: int,
    on_summary: Callable[[Summary, Path], None] | None = None,
) -> RunResult:
    try:
        prep = prepare(config)
    except OptrunError as exc:
        raise exc.located(source=exc.source or config.source) from None
    # The handlers are in place before the run directory exists and stay until
    # the run is recorded. Unarmed, they only record a signal; they raise only
    # while armed (the loop, the plots), at most once, and that one
    # KeyboardInterrupt is caught here: once the directory exists, no signal
    # leaves it without a summary.
    with run_signals() as flag:
        if flag is not None and flag.signum is not None:  # a signal before anything was written
            raise Interrupted(flag.signum)
        run_dir = make_given_dir(run_dir) if run_dir is not None else make_run_dir(config.output.dir, config.name)
        writer = start_record(run_dir, prep)
        return _record(prep, run_dir, writer, observers, threads, flag, on_summary)


def _record(
    prep: Prepared,
    run_dir: Path,
    writer: TraceWriter,
    observers: Sequence[Any],
    threads: int,
    flag: SignalFlag | None,
    on_summary: Callable[[Summary, Path], None] | None = None,
) -> RunResult:
    config = prep.config
    outcome = where = None
    try:
        try:
            with armed(flag):  # the loop stops at the first signal; a second one stops it at once
                outcome, where = solve(prep, threads, observers=[writer, *observers], interrupt=flag)
        except (KeyboardInterrupt, SystemExit) as exc:  # a second signal, or user code, just outside the loop
            if outcome is None:
                outcome = _ended_outside(prep, writer, exc, flag)
        writer.close()  # its last rows
    except RunIOError:
        if writer.error is None:
            raise
        record_io_failure(run_dir, prep, writer, outcome)  # always raises
    finally:
        writer.close()
    if where is None:
        where = machine.machine_info()
    summary = build_summary(prep, outcome, where)
    write_summary(run_dir, summary, outcome)
    if on_summary is not None:
        on_summary(summary, run_dir)
    warnings: list[str] = list(config.warnings)
    if config.output.plots:
        try:
            with armed(flag, at_once=True):  # a signal now cuts the plots short (the run is recorded)
                from optrun.plots import runs as plots  # matplotlib and the run reader: only when plots are drawn

                warnings.extend(plots.draw_run_plots(run_dir, prep)[1])
        except KeyboardInterrupt:  # the run is recorded; only the plots are cut short
            warnings.append(f"{run_dir}: plots not drawn: interrupted (redraw with: optrun plot {run_dir})")
    return RunResult(summary, run_dir.resolve(), tuple(warnings), outcome.signum)
