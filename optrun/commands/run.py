"""The pipeline: config -> problem -> initializer -> optimizer -> runner -> outputs.

``optrun.run`` (used by the CLI and by notebooks alike) loads the config,
:func:`~optrun.commands.prepare.prepare` builds everything that can fail on bad
input *before* any file is written, then :func:`execute` makes the run
directory, streams the trace, writes the :class:`~optrun.core.result.Summary`
and draws plots.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import platform
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from optrun.commands.prepare import Prepared, prepare
from optrun.commands.signals import run_signals
from optrun.config import Config, load_config
from optrun.core import compiled, machine, runner
from optrun.core.errors import ConfigError, OptrunError, RunIOError
from optrun.core.outputs import (
    TraceWriter,
    make_given_dir,
    make_run_dir,
    read_trace,
    remove_run_dir,
    write_json_atomic,
    write_yaml,
)
from optrun.core.params import to_jsonable
from optrun.core.result import Best, KnownMinimum, Summary
from optrun.core.runner import Interrupted, Outcome, SignalFlag
from optrun.core.status import Status

__all__ = ["Prepared", "RunResult", "build_summary", "execute", "prepare", "run", "solve", "versions"]


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class RunResult:
    """What a run returns to Python: its :class:`~optrun.core.result.Summary`
    (what summary.json holds), the run directory and the trace. The summary
    fields are attributes too: ``result.status``, ``result.fun``,
    ``result.params``, ... (right after a run a non-finite ``fun`` is ``nan``
    or ``inf``, which summary.json writes as null)."""

    summary: Summary
    run_dir: Path
    warnings: tuple[str, ...] = ()
    signum: int | None = None  # the signal that interrupted the run

    @functools.cached_property
    def trace(self) -> dict[str, np.ndarray]:
        """trace.csv as column -> NumPy array, read on first use (a run never
        holds its trace in memory)."""
        return read_trace(self.run_dir / "trace.csv")

    @property
    def ok(self) -> bool:
        return self.status.success

    @property
    def status(self) -> Status:
        """The run's :class:`~optrun.core.status.Status` (a str: ``result.status == "converged"``)."""
        return self.summary.status

    @property
    def message(self) -> str:
        return self.summary.message

    @property
    def fun(self) -> float | None:
        return self.summary.fun

    @property
    def params(self) -> dict[str, Any]:
        return self.summary.params

    @property
    def grad_norm(self) -> float | None:
        return self.summary.grad_norm

    @property
    def nit(self) -> int:
        return self.summary.nit

    @property
    def nfev(self) -> int:
        return self.summary.nfev

    @property
    def njev(self) -> int:
        return self.summary.njev

    @property
    def best(self) -> Best:
        return self.summary.best

    @property
    def wall_time_s(self) -> float:
        return self.summary.wall_time_s

    @property
    def reference(self) -> KnownMinimum | None:
        return self.summary.reference

    def to_pandas(self) -> Any:
        """The trace as a pandas DataFrame (pandas is optional: ``pip install pandas``)."""
        try:
            import pandas
        except ImportError:
            raise OptrunError("to_pandas needs pandas, which is not installed: pip install pandas") from None
        return pandas.DataFrame(self.trace)

    def plot(self, name: str = "loss", ax: Any = None) -> Any:
        """Draw one of the run's plots (``loss``, ``params``, ``landscape``,
        ``fit``) into matplotlib axes ``ax``, or into a new figure; returns
        the figure (Jupyter shows it). Uses the current matplotlib backend."""
        from optrun.commands.plots import draw_into

        if ax is None:
            from matplotlib.figure import Figure

            ax = Figure(figsize=(7, 4.5), layout="constrained").add_subplot()
        if not draw_into(self.run_dir, name, ax):
            raise ConfigError(f"the {name} plot does not apply to this run (see README, Plots)", path="plot")
        return ax.figure

    def _repr_html_(self) -> str:
        """The summary as an HTML table (what Jupyter shows for a result)."""
        from html import escape

        from optrun.commands.terminal import grad_norm_text, params_text

        s = self.summary
        gap = self.gap
        rows = [
            ("status", f"{s.status}: {s.message}"),
            ("f", "-" if s.fun is None else f"{s.fun:.10g}"),
            ("gap f - f*", "-" if gap is None else f"{gap:.3g}"),
            ("params", params_text(s.params)),
            ("grad norm", grad_norm_text(s)),
            ("iterations", f"{s.nit} ({s.nfev} evaluations)"),
            ("best f", f"{s.best.fun:.10g} at iteration {s.best.iter}" if s.best.fun is not None else "-"),
            ("time", f"{s.wall_time_s:.3f} s"),
            ("run directory", str(self.run_dir)),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{escape(k)}</th><td style='text-align:left'>{escape(v)}</td></tr>"
            for k, v in rows
        )
        title = escape(f"{s.name}: {s.problem} / {s.optimizer}")
        return f"<table><caption style='text-align:left'><b>{title}</b></caption>{body}</table>"

    @property
    def gap(self) -> float | None:
        """f - f* (None when the problem has no known minimum)."""
        return self.summary.gap

    @property
    def seed(self) -> int | None:
        return self.summary.seed


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
    )


# ----------------------------------------------------- I/O failures of a run
def _start_record(run_dir: Path, prep: Prepared) -> TraceWriter:
    """Write config.yaml and the trace header; if either fails (a full disk,
    no inodes left), remove the run directory: nothing was recorded."""
    reference = prep.problem.reference
    try:
        write_yaml(run_dir / "config.yaml", prep.config.resolved())
        return TraceWriter(
            run_dir / "trace.csv",
            prep.param_names,
            prep.expand,
            fstar=reference.fun if reference else None,
            grad_names=prep.grad_names,
            log_every=prep.config.output.log_every,
        )
    except RunIOError as exc:
        remove_run_dir(run_dir)
        raise RunIOError(
            f"{exc.message}; nothing was recorded (the run directory was removed)", source=exc.source
        ) from None


def _record_io_failure(run_dir: Path, prep: Prepared, writer: TraceWriter, outcome: Outcome | None) -> None:
    """The trace could not be written mid-run (``writer`` cut it back to its
    last complete row): record the run as failed in summary.json if that can
    still be written, and raise the one-line error saying what is left."""
    writer.close()
    error = writer.error
    kept = f"trace.csv keeps its {writer.rows_written} complete rows"
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


def _write_summary(run_dir: Path, summary: Summary, outcome: Outcome) -> None:
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
            return outcome, machine.machine_info()
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
        return outcome, machine.machine_info()


def _interrupted(prep: Prepared, writer: TraceWriter, signum: int) -> Outcome:
    """The outcome of a run stopped by a signal just outside the loop (the
    loop catches its own): what the trace recorded, marked interrupted."""
    k, f, grad_norm, t, nfev, njev, x = writer.last or (
        0,
        float("nan"),
        float("nan"),
        0.0,
        prep.oracle.nfev,
        prep.oracle.njev,
        prep.x0,
    )
    best_fun, best_iter = writer.best
    return Outcome(
        Status.INTERRUPTED,
        "interrupted",
        f"interrupted by {signal.Signals(signum).name} at iteration {k}",
        x,
        f,
        grad_norm,
        k,
        nfev,
        njev,
        best_fun,
        best_iter,
        t,
        signum=int(signum),
    )


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
        writer = _start_record(run_dir, prep)
        return _record(prep, run_dir, writer, observers, threads, flag, on_summary)


def vectorizable(configs: Sequence[Config]) -> str:
    """Why these runs cannot be one vectorised computation ('' when they can):
    the jax backend, a method with a compiled direction, and one objective,
    optimizer and stop rules for all. They may differ in seed and init
    (which change the start), and in the optimizer's step_size and numeric
    options (which the batch carries one per run: compiled.batch_problem)."""

    def shared(config: Config) -> str:
        data = config.resolved()
        return repr(
            {
                k: v
                for k, v in data.items()
                if k not in ("name", "seed", "init", "output", "expect", "sweep", "optimizer")
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
    as :func:`execute` writes them; the caller checked :func:`vectorizable`."""
    preps = [prepare(config) for config in configs]
    first = preps[0]
    records: list[tuple[Prepared, Path, TraceWriter]] = []
    try:
        for prep, run_dir in zip(preps, run_dirs):
            run_dir = make_given_dir(run_dir)
            records.append((prep, run_dir, _start_record(run_dir, prep)))
        with machine.blas_limits(threads):
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
        where = machine.machine_info()
        results = []
        for (prep, run_dir, writer), outcome in zip(records, outcomes):
            writer.close()
            summary = build_summary(prep, outcome, where)
            _write_summary(run_dir, summary, outcome)
            warnings = list(prep.config.warnings)
            if prep.config.output.plots:
                from optrun.commands import plots  # matplotlib and the run reader: only when plots are drawn

                warnings.extend(plots.draw_run_plots(run_dir, prep)[1])
            results.append(RunResult(summary, run_dir.resolve(), tuple(warnings), outcome.signum))
        return results
    finally:
        for _, _, writer in records:
            writer.close()


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
            if flag is not None:
                flag.armed, flag.at_once = True, False  # a second signal stops at once
            outcome, where = solve(prep, threads, observers=[writer, *observers], interrupt=flag)
            if flag is not None:
                flag.armed = False
        except KeyboardInterrupt as exc:  # the second signal, just before or after the loop (the loop catches its own)
            if outcome is None:
                outcome = _interrupted(prep, writer, getattr(exc, "signum", signal.SIGINT))
        writer.close()  # its last rows
    except RunIOError:
        if writer.error is None:
            raise
        _record_io_failure(run_dir, prep, writer, outcome)  # always raises
    finally:
        writer.close()
    if where is None:
        where = machine.machine_info()
    summary = build_summary(prep, outcome, where)
    _write_summary(run_dir, summary, outcome)
    if on_summary is not None:
        on_summary(summary, run_dir)
    warnings: list[str] = list(config.warnings)
    if config.output.plots:
        try:
            try:
                if flag is not None:
                    flag.armed, flag.at_once = True, True  # a signal now cuts the plots short (the run is recorded)
                from optrun.commands import plots  # matplotlib and the run reader: only when plots are drawn

                warnings.extend(plots.draw_run_plots(run_dir, prep)[1])
            finally:
                if flag is not None:
                    flag.armed = flag.at_once = False
        except KeyboardInterrupt:  # the run is recorded; only the plots are cut short
            warnings.append(f"{run_dir}: plots not drawn: interrupted (redraw with: optrun plot {run_dir})")
    return RunResult(summary, run_dir.resolve(), tuple(warnings), outcome.signum)


def run(
    config: str | Path | Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    problems: str | Path | None = None,
    observers: Sequence[Any] = (),
) -> RunResult:
    """Run an experiment exactly as ``optrun run`` does.

    ``config`` is a YAML file path or a mapping with the same keys;
    ``overrides`` are ``"dotted.key=value"`` strings like ``--set``;
    ``problems`` is the user-problem folder (default ``./problems``, as for
    the CLI). Raises :class:`~optrun.core.errors.ConfigError` for bad input
    (before anything is written). Returns a :class:`RunResult`; warnings
    about user problem files that failed to load are in ``result.warnings``.
    """
    from optrun.config.plugins import load_user_problems

    load_warnings = load_user_problems(problems)
    result = execute(load_config(config, overrides), observers)
    return dataclasses.replace(result, warnings=(*load_warnings, *result.warnings)) if load_warnings else result


def load(run_dir: str | Path) -> RunResult:
    """The :class:`RunResult` of a finished run directory (what ``optrun.run``
    returned when it ran): summary, trace on first use, plots. A run killed
    before its summary was written is an error saying so."""
    from optrun.core.rundir import read_run

    path = Path(run_dir)
    files = read_run(path)
    if files.summary is None:
        raise RunIOError(
            "the run has no summary.json (it was killed before it ended); its trace is readable with optrun.read_run",
            source=str(path),
        )
    return RunResult(summary=files.summary, run_dir=path.resolve(), warnings=tuple(files.warnings))


def minimize(
    fun: Any,
    x0: Any,
    optimizer: str | Mapping[str, Any] = "adam",
    *,
    step_size: Any = None,
    stop: Mapping[str, Any] | None = None,
    name: str | None = None,
    output: Mapping[str, Any] | None = None,
    init: str | Mapping[str, Any] | None = None,
    fix: Mapping[str, Any] | None = None,
    seed: int = 0,
    overrides: Sequence[str] = (),
    observers: Sequence[Any] = (),
    backend: str = "autograd",
    **options: Any,
) -> RunResult:
    """Minimize your own Python function, through exactly what ``optrun run``
    runs (runner, stop rules, fix, schedules, trace, summary, plots, run
    directory); returns the same :class:`RunResult`.

    ``fun`` takes one parameter tree (a float, an array, a dict or list of
    them) written with ``autograd.numpy`` (with ``backend="jax"``: with
    ``jax.numpy``, and first-order methods run compiled); ``x0`` is the start. A dict start's
    keys name the parameters, any other start is the parameter ``x``
    (``result.params["x"]``). ``optimizer`` is a name or a mapping of its
    options; ``step_size`` and ``**options`` are the optimizer's options;
    ``stop``, ``output``, ``init``, ``fix`` and ``seed`` are the config keys
    of those names. Bad arguments raise ConfigError with the same one-line
    messages as a config file. The run's config.yaml records the function's
    qualified name and source hash (see :mod:`optrun.core.problems.python`)."""
    from optrun.config import name_from_stem
    from optrun.core.backend import check_backend
    from optrun.core.problems.python import PythonFunction

    check_backend(
        backend
    )  # one line at `backend` for a wrong name or a missing extra, before the function's own checks
    function = PythonFunction(fun, x0, backends=(backend,))
    section = dict(optimizer) if isinstance(optimizer, Mapping) else {"name": optimizer}
    if step_size is not None:
        section["step_size"] = step_size
    section.update(options)
    config: dict[str, Any] = {
        "name": name if name is not None else name_from_stem(function.name),
        "seed": seed,
        "problem": function,
        "optimizer": section,
        "backend": backend,
    }
    for key, value in (("stop", stop), ("output", output), ("init", init), ("fix", fix)):
        if value is not None:
            config[key] = value
    return run(config, overrides, observers=observers)


# ------------------------------------------------------------- optrun run
def run_command(
    config_path: Path,
    overrides: Sequence[str],
    quiet: bool,
    json_out: bool,
    problems: Path | None,
    plots: bool | None = None,
) -> int:
    """``optrun run``: run one config with a progress bar on a terminal, then
    print its summary (a table, or summary.json with ``json_out``);
    ``plots`` (``--plots/--no-plots``) overrides output.plots when given; returns
    the exit status: 0, 1 for a failed or diverged run, 128 + the signal for
    an interrupted one. Errors are raised (see :mod:`optrun.commands.exits`)."""
    import json

    from optrun.commands.common import StoppedBySignal, err, failure_line, load_problems, out, shown, signal_name, warn
    from optrun.commands.signals import stoppable
    from optrun.commands.terminal import summary_table

    with stoppable() as flag:
        load_problems(problems)
        try:
            flags = [] if plots is None else [f"output.plots={'true' if plots else 'false'}"]
            cfg = load_config(config_path, [*overrides, *flags])
            show_bar = not quiet and not json_out and err.is_terminal
            bar = None
            if show_bar:
                from optrun.commands.terminal import ProgressBar

                bar = ProgressBar(err, cfg.stop.max_iter, cfg.name)

            def show_table(summary: Summary, run_dir: Path) -> None:
                """The result as soon as summary.json is written: the plots take longer than a tiny run."""
                if bar is not None:
                    bar.stop()  # before the table, as at the end of the command
                out().print(
                    summary_table(
                        summary, shown(run_dir), title=f"{cfg.name}: {cfg.problem.name} / {cfg.optimizer.name}"
                    )
                )

            table_now = show_table if not quiet and not json_out else None
            with bar or contextlib.nullcontext():
                result = execute(cfg, [bar] if bar else [], on_summary=table_now)
        except KeyboardInterrupt as exc:  # execute raises it only before it makes the run directory
            signum = getattr(exc, "signum", None) or signal.SIGINT
            raise StoppedBySignal(
                f"interrupted by {signal_name(signum)} before the run started; nothing was recorded", signum
            ) from None

        for warning in result.warnings:
            warn(warning)
        if json_out:
            from optrun.core.outputs import json_safe

            print(
                json.dumps(json_safe({**result.summary.to_json(), "run_dir": shown(result.run_dir)}), indent=2),
                flush=True,
            )
        if result.status is Status.INTERRUPTED:
            err.print(f"{result.message}; recorded in {shown(result.run_dir)}", markup=False)
            return 128 + (result.signum or signal.SIGINT)
        if quiet and result.status.failure:  # quiet hides the table, never a failure
            failure_line(f"{cfg.name}: {result.status}: {result.message}; recorded in {shown(result.run_dir)}")
        if flag is not None and flag.signum is not None and not any("interrupted" in w for w in result.warnings):
            err.print(
                f"warning: {signal_name(flag.signum)} came as the run ended; it is recorded as {result.status}, nothing was cut short",
                markup=False,
                style="yellow",
            )
        return 1 if Status(result.status).failure else 0
