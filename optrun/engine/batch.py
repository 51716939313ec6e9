"""Runs that differ only in their start and numeric options, as one
vectorised computation (``sweep --vectorize``): :func:`vectorizable` says
whether a set of runs can be one, :func:`execute_batch` runs and records
them, each run directory written as :func:`optrun.engine.record.execute`
writes a single run's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from optrun.config import Config
from optrun.core import compiled, machine
from optrun.core.errors import RunIOError
from optrun.core.feasible import with_feasibility
from optrun.core.outputs import make_given_dir, remove_run_dir, write_yaml
from optrun.core.result import Summary
from optrun.core.runner import SignalFlag
from optrun.core.stopping import Outcome
from optrun.core.trace import TraceGroup, TraceWriter
from optrun.engine.prepare import Prepared, prepare
from optrun.engine.record import build_summary, record_io_failure, start_record, write_summary
from optrun.engine.result import RunResult

__all__ = ["execute_batch", "vectorizable"]


def vectorizable(configs: Sequence[Config]) -> str:
    """Why these runs cannot be one vectorised computation ('' when they can):
    the jax backend, a method with a compiled direction, and one objective,
    optimizer and stop rules for all. What may differ between the runs:

    - ``seed`` and ``init.*`` (they change the start point only);
    - ``optimizer.step_size``, a number or any schedule (fed as an array of
      step sizes, one row per run);
    - any other optimizer option whose value is a number in every run
      (``beta``, ``b1``, ``eps``, ``clip_grad_norm``, ...: the batch carries one value per run,
      :func:`optrun.core.compiled.chunk.batch_problem`); an option that is a
      number in some runs and unset or not a number in others is refused;
    - ``name``, ``output.*`` and ``expect`` (what is recorded, not computed).

    Everything else is shared: ``backend``, ``problem.*``, ``fix``, ``stop.*``,
    ``bounds`` (one box for the batch: each run's steps are projected onto it)
    and the optimizer's name. ``constraints`` are refused (no method with a
    compiled direction takes them)."""

    def shared(config: Config) -> str:
        data = config.resolved()
        return repr(
            {
                k: v
                for k, v in data.items()
                if k not in ("name", "seed", "init", "output", "expect", "sweep", "optimizer", "bounds")
            }
        )

    if any(c.backend != "jax" for c in configs):
        return "--vectorize runs on the jax backend: add backend: jax to the config (or --set backend=jax)"
    from optrun.core.optimizers import OPTIMIZERS

    entry = configs[0].optimizer.entry
    if not compiled.supports(entry):
        return (
            f"--vectorize needs a first-order method with a compiled direction; optimizer '{entry.name}' has none "
            f"(those that have: {', '.join(n for n in OPTIMIZERS if compiled.supports(OPTIMIZERS.get(n)))})"
        )
    if any(c.constraints for c in configs):
        return (
            f"--vectorize runs first-order methods, which take no constraints; optimizer '{entry.name}' cannot "
            "run this config's constraints (sweep without --vectorize, with a method that takes them)"
        )
    if len({repr(dict(c.bounds)) for c in configs}) > 1:
        return (
            "--vectorize runs every run in one box: the runs differ in bounds (sweep bounds without --vectorize, "
            "or run one vectorised sweep per box)"
        )
    if len({shared(c) for c in configs}) > 1 or len({c.optimizer.entry.name for c in configs}) > 1:
        return (
            "--vectorize runs one objective, optimizer and stop rules for every run: sweep only seed, init.* "
            "and the optimizer's numeric options (step_size, ...) with it"
        )
    return compiled.batch_problem([c.optimizer.options for c in configs])


def execute_batch(
    configs: Sequence[Config], run_dirs: Sequence[Path], threads: int, interrupt: SignalFlag | None = None
) -> list[RunResult]:
    """Runs that differ only in their start and the optimizer's numeric
    options (``sweep --seeds N --vectorize``, a grid over step sizes) as one
    ``jax.vmap`` computation (:func:`optrun.core.compiled.minimize_compiled_batch`):
    each run gets its own run directory, trace, summary and plots, exactly
    as :func:`execute` writes them (with bounds: each run's steps projected
    onto the one box, its status and summary's constraints block as a single
    run's); the caller checked :func:`vectorizable`."""
    preps = [prepare(config) for config in configs]
    first = preps[0]
    records: list[tuple[Prepared, Path, TraceWriter]] = []
    group = TraceGroup()  # the traces are written together

    def start(prep: Prepared, run_dir: Path) -> tuple[Prepared, Path, TraceWriter]:
        run_dir = make_given_dir(run_dir)
        return prep, run_dir, start_record(run_dir, prep, group, with_config=False)

    def write_config(prep: Prepared, run_dir: Path, _: TraceWriter) -> None:
        write_yaml(run_dir / "config.yaml", prep.config.resolved(bounded=prep.feasible is not None))

    try:
        started, error = _in_threads(start, list(zip(preps, run_dirs)))
        records.extend(started)  # (closed below, whatever happens)
        if error is not None:
            raise error
        # the config.yaml files are written while the batch computes (jax computes without the GIL)
        with ThreadPoolExecutor(max_workers=1) as side, machine.blas_limits(threads):
            configs_written = side.submit(_in_threads, write_config, records)
            config = first.config
            outcomes = compiled.minimize_compiled_batch(
                first.oracle,
                np.stack([prep.x0 for prep in preps]),
                config.optimizer.entry,
                [prep.config.optimizer.options for prep in preps],
                config.stop,
                observers=[[writer] for _, _, writer in records],
                interrupt=interrupt,
            )
            error = configs_written.result()[1]
        if isinstance(error, RunIOError):  # as a single run that cannot start: nothing is recorded
            for _, run_dir, writer in records:
                writer.close()
                remove_run_dir(run_dir)
            raise RunIOError(
                f"{error.message}; nothing was recorded (the batch's run directories were removed)",
                source=error.source,
            )
        if error is not None:
            raise error
        where = machine.machine_info()

        def finish(record: tuple[Prepared, Path, TraceWriter], outcome: Outcome) -> Summary:
            prep, run_dir, writer = record
            outcome = with_feasibility(outcome, prep.feasible)  # as record.solve ends a single run
            if writer.error is not None:  # its summary says so, as a single run's would (and it raises)
                record_io_failure(run_dir, prep, writer, outcome)
            summary = build_summary(prep, outcome, where)
            write_summary(run_dir, summary, outcome)
            return summary

        group.close()  # the traces' last rows, formatted at once
        summaries, error = _in_threads(finish, list(zip(records, outcomes)))
        if error is not None:
            raise error
        results = []
        for (prep, run_dir, _), outcome, summary in zip(records, outcomes, summaries):
            warnings = list(prep.config.warnings)
            if prep.config.output.plots:
                from optrun.plots import runs as plots  # matplotlib and the run reader: only when plots are drawn

                warnings.extend(plots.draw_run_plots(run_dir, prep)[1])
            results.append(RunResult(summary, run_dir.resolve(), tuple(warnings), outcome.signum))
        return results
    finally:
        for _, _, writer in records:
            writer.close()


IO_THREADS = 4  # a batch's run directories are written this many at a time: each file's fsync waits on the disk


def _in_threads(work: Callable[..., Any], items: list[tuple]) -> tuple[list[Any], BaseException | None]:
    """``work(*item)`` for every item, IO_THREADS at a time (writing a run
    directory mostly waits: on fsync, and on polars formatting the trace,
    neither of which holds the GIL). Every item is done; returns the results
    of those that succeeded, in the items' order, and the first error."""
    with ThreadPoolExecutor(max_workers=max(1, min(IO_THREADS, len(items)))) as pool:
        futures = [pool.submit(work, *item) for item in items]
    errors = [f.exception() for f in futures]
    done = [f.result() for f, error in zip(futures, errors) if error is None]
    return done, next((error for error in errors if error is not None), None)
