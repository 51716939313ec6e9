"""The command line: a thin shell over :mod:`optrun.commands.run`.

Every command is one small function; errors go to stderr as one line and end
with ``typer.Exit(code)``: 2 for bad input, 1 for a failed or diverged run or
an I/O failure, 128+signal for an interrupted run.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Run reproducible optimization experiments from YAML configs.",
)
# emoji=False everywhere: ':x:' in a column name or a path is text, not an emoji. Text
# that comes from users (paths, names, messages, values) is printed with markup=False,
# or escaped / made a rich Text before it goes into a table, so '[red]' is text too.
err = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)


def out() -> Console:
    """stdout console, made per call so the terminal width is read when used.
    Piped output (CI logs, files) is 160 columns wide unless COLUMNS says otherwise."""
    console = Console(emoji=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=160, emoji=False)
    return console

PROBLEMS_OPTION = typer.Option(
    None, "--problems", help="Folder of user problem files (default: ./problems). These files are code and run as code."
)


def load_problems(folder: Optional[Path]) -> None:
    """Register user problems (and optimizers, initializers, schedules); a
    broken file is a one-line warning, a name already taken an error (exit 2)."""
    from optrun.core.errors import OptrunError
    from optrun.config.plugins import load_user_problems

    try:
        warnings = load_user_problems(folder)
    except OptrunError as exc:
        raise fail(exc, exc.exit_code)
    except KeyboardInterrupt as exc:  # a real Ctrl-C/SIGTERM while user files load (a file raising it is only a warning)
        raise fail(Exception("interrupted while loading user problem files; nothing was run"), 128 + getattr(exc, "signum", 2))
    for warning in warnings:
        err.print(f"warning: {warning}", markup=False, style="yellow")


def shown(path: Path) -> str:
    """A path relative to the working folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@app.callback()
def options(
    blas_threads: Optional[int] = typer.Option(
        None, "--blas-threads", min=1, max=1024, show_default=False,
        help="BLAS threads for every run, in this process and in sweep/check workers "
             "(default: $OPTRUN_BLAS_THREADS, else 1). Recorded in summary.json.",
    ),
) -> None:
    """Run reproducible optimization experiments from YAML configs."""
    from optrun.core.errors import OptrunError
    from optrun.core.machine import BLAS_THREADS_ENV, blas_threads as threads_setting

    if blas_threads is not None:
        os.environ[BLAS_THREADS_ENV] = str(blas_threads)  # workers (spawned, Dask local) inherit it
    try:
        threads_setting()
    except OptrunError as exc:
        raise fail(exc, exc.exit_code)


def fail(exc: Exception, code: int) -> typer.Exit:
    err.print(f"error: {exc}", markup=False, style="red")
    return typer.Exit(code)


_WHOLE_PROCESS = False  # set by main(): the command is all this process does


@contextlib.contextmanager
def _stoppable():
    """SIGINT/SIGTERM for the body of run, sweep and check: from its start to
    its end a signal is recorded (a run in progress stops, see optrun.commands.run),
    never a traceback or a silent death. When the command is the whole
    process, the handler is swapped for SIG_IGN at the end, so there is no
    moment, up to the exit, at which a signal would kill it after it has
    reported (and nothing is left to stop then: pools are shut down)."""
    import signal

    if not _WHOLE_PROCESS:  # in-process (tests, CliRunner): restore the handlers afterwards
        from optrun.commands.run import _signals_interrupt

        with _signals_interrupt() as flag:
            yield flag
        return
    from optrun.entry import EARLY
    from optrun.core.runner import SIGNALS, SignalFlag

    flag = SignalFlag(armed=False)
    for sig in SIGNALS:
        signal.signal(sig, flag)
    if EARLY:  # a signal came while the command was starting: stop before doing anything
        raise fail(Exception(f"interrupted by {_signal_name(EARLY[0])} before the command started; nothing was recorded"), 128 + EARLY[0])
    try:
        yield flag
    finally:
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def _signal_name(signum: int) -> str:
    import signal

    return signal.Signals(signum).name


@app.command()
def run(
    config: Path = typer.Argument(..., help="The YAML config file.", show_default=False),
    set_: Optional[List[str]] = typer.Option(None, "--set", "-s", help="Override a key: dotted.key=value (repeatable)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary table."),
    json_out: bool = typer.Option(False, "--json", help="Print summary.json to stdout instead of the table."),
    problems: Optional[Path] = PROBLEMS_OPTION,
) -> None:
    """Run one experiment and record it in a new run directory."""
    import signal

    from optrun.commands.run import execute
    from optrun.config import load_config
    from optrun.core.errors import OptrunError
    from optrun.core.status import Status

    with _stoppable() as flag:
        load_problems(problems)
        try:
            cfg = load_config(config, set_ or [])
            show_bar = not quiet and not json_out and err.is_terminal
            bar = None
            if show_bar:
                from optrun.commands.terminal import ProgressBar

                bar = ProgressBar(err, cfg.stop.max_iter, cfg.name)
            with bar or contextlib.nullcontext():
                result = execute(cfg, [bar] if bar else [])
        except OptrunError as exc:
            raise fail(exc, exc.exit_code)
        except KeyboardInterrupt as exc:  # execute raises it only before it makes the run directory
            signum = getattr(exc, "signum", None) or signal.SIGINT
            raise fail(Exception(f"interrupted by {_signal_name(signum)} before the run started; nothing was recorded"), 128 + signum)

        for warning in result.warnings:
            err.print(f"warning: {warning}", markup=False, style="yellow")
        if json_out:
            from optrun.core.outputs import json_safe

            typer.echo(json.dumps(json_safe({**result.summary, "run_dir": shown(result.run_dir)}), indent=2))
        elif not quiet:
            from optrun.commands.terminal import summary_table

            out().print(summary_table(result.summary, shown(result.run_dir), title=f"{cfg.name}: {cfg.problem.name} / {cfg.optimizer.name}"))
        if result.status == "interrupted":
            err.print(f"{result.message}; recorded in {shown(result.run_dir)}", markup=False)
            raise typer.Exit(128 + (result.signum or signal.SIGINT))
        if flag is not None and flag.signum is not None and not any("interrupted" in w for w in result.warnings):
            err.print(f"warning: {_signal_name(flag.signum)} came as the run ended; it is recorded as {result.status}, nothing was cut short",
                      markup=False, style="yellow")
        if Status(result.status).failure:
            raise typer.Exit(1)


@app.command("list-problems")
def list_problems(problems: Optional[Path] = PROBLEMS_OPTION) -> None:
    """List the registered problems with their options and known minima."""
    from optrun.commands.catalogue import problems_table

    load_problems(problems)
    out().print(problems_table())


@app.command()
def describe(
    name: str = typer.Argument(..., help="A problem name (see list-problems)."),
    problems: Optional[Path] = PROBLEMS_OPTION,
) -> None:
    """Show one problem in full: formula, parameters, options, start, minimum."""
    from optrun.commands.catalogue import describe_problem
    from optrun.core.errors import OptrunError

    load_problems(problems)
    try:
        out().print(describe_problem(name))
    except OptrunError as exc:
        raise fail(exc, exc.exit_code)


@app.command("list-optimizers")
def list_optimizers(problems: Optional[Path] = PROBLEMS_OPTION) -> None:
    """List the registered optimizers with their options and what they need."""
    from optrun.commands.catalogue import optimizers_table

    load_problems(problems)  # user files may register optimizers and schedules too
    out().print(optimizers_table())


@app.command()
def plot(
    run_dir: Path = typer.Argument(..., help="A run directory (outputs/<name>/<timestamp>)."),
    problems: Optional[Path] = PROBLEMS_OPTION,
) -> None:
    """Redraw a run's plots from its files (also for interrupted runs)."""
    from optrun.core.errors import OptrunError
    from optrun.commands.plots import draw_run_plots
    from optrun.core.rundir import read_run

    load_problems(problems)
    try:
        read_warnings = read_run(run_dir).warnings  # e.g. a torn last trace row, left out
        written, warnings = draw_run_plots(run_dir, raise_io=True)  # a folder that cannot be written: one error
    except OptrunError as exc:
        raise fail(exc, exc.exit_code)
    for warning in (*read_warnings, *warnings):
        err.print(f"warning: {warning}", markup=False, style="yellow")
    for path in written:
        out().print(shown(path.resolve()), highlight=False, markup=False)


@app.command()
def show(run_dir: Path = typer.Argument(..., help="A run directory (outputs/<name>/<timestamp>).")) -> None:
    """Print a run's summary table and its resolved config."""
    from rich.syntax import Syntax

    from optrun.core.errors import OptrunError
    from optrun.core.rundir import read_run
    from optrun.commands.terminal import summary_table

    try:
        run = read_run(run_dir)
        config_text = (run.path / "config.yaml").read_text(encoding="utf-8")
    except OptrunError as exc:
        raise fail(exc, exc.exit_code)
    except OSError as exc:
        raise fail(Exception(f"{run_dir}: cannot read config.yaml: {exc.strerror or exc}"), 1)
    for warning in run.warnings:
        err.print(f"warning: {warning}", markup=False, style="yellow")
    console = out()
    title = f"{run.name}: {run.problem} / {run.optimizer}"
    if run.summary is None:
        last = {k: float(v[-1]) for k, v in run.trace.items()} if len(run.trace["iter"]) else {}
        from rich.markup import escape

        console.print(f"[bold]{escape(title)}[/]: no summary.json, the run did not finish (killed?); "
                      f"last trace row: iteration {int(last.get('iter', 0))}, f = {last.get('f', float('nan')):.10g}")
    else:
        console.print(summary_table(run.summary, shown(run.path.resolve()), title=title))
    console.print(Syntax(config_text, "yaml", background_color="default", word_wrap=True))


@app.command()
def compare(
    run_dirs: List[Path] = typer.Argument(..., help="Run directories (a sweep directory stands for all its runs)."),
    out_file: Path = typer.Option(Path("compare.png"), "--out", help="The overlaid loss plot; compare.csv is written beside it."),
) -> None:
    """Overlay several runs' loss curves and tabulate their results."""
    from optrun.commands.compare import compare_table, expand_sweep_dirs, plot_compare, row, write_csv
    from optrun.core.errors import ConfigError, OptrunError
    from optrun.core.rundir import read_run

    try:
        if out_file.suffix.lower() != ".png":
            raise ConfigError(f"--out must name a .png file, got '{out_file}'")
        runs = [read_run(path) for path in expand_sweep_dirs(run_dirs)]
        rows = [row(i, run) for i, run in enumerate(runs, start=1)]
        csv_path = out_file.with_suffix(".csv")
        write_csv(rows, csv_path)
        plot_compare(runs, out_file)
    except OptrunError as exc:
        raise fail(exc, exc.exit_code)
    for warning in (w for run in runs for w in run.warnings):
        err.print(f"warning: {warning}", markup=False, style="yellow")
    out().print(compare_table(rows))
    out().print(f"wrote {shown(out_file.resolve())} and {shown(csv_path.resolve())}", highlight=False, markup=False)


@app.command()
def check(
    paths: Optional[List[Path]] = typer.Argument(None, help="Config files or folders (default: configs/).", show_default=False),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Also write a JUnit XML report to this file."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Run configs in this many parallel processes."),
    update: bool = typer.Option(False, "--update", help="Rewrite failing expected values with what the runs got, then calibrate their tolerances."),
    calibrate: bool = typer.Option(False, "--calibrate", help="Measure how far each result moves on another machine and write tolerances that cover it (no run directories)."),
    margin: float = typer.Option(10.0, "--margin", min=1.0, help="With --calibrate/--update: tolerance = margin x the largest deviation seen."),
    plots: bool = typer.Option(False, "--plots", help="Also draw each run's plots (off: checks are about numbers)."),
    set_: Optional[List[str]] = typer.Option(None, "--set", "-s", help="Override a key in every config: dotted.key=value."),
    problems: Optional[Path] = PROBLEMS_OPTION,
) -> None:
    """Run every config that has an expect: block and compare the results.

    Exit status: 0 all passed, 1 a check failed or a run diverged/failed,
    2 a config error.
    """
    from optrun.commands.check import exit_code, find_configs, results_table, run_checks, totals, write_junit
    from optrun.core.errors import ConfigError, OptrunError

    load_problems(problems)
    overrides = [*(set_ or []), *([] if plots else ["output.plots=false"])]
    problems_dir = str(problems) if problems else None
    try:
        if calibrate and update:
            raise ConfigError("--calibrate and --update are two modes: --update rewrites failing values and calibrates them, "
                              "--calibrate only rewrites tolerances")
        configs = find_configs(paths or [Path("configs")])
        if calibrate:
            raise typer.Exit(_calibrate(configs, overrides, workers, problems_dir, margin))
    except OptrunError as exc:
        raise fail(exc, exc.exit_code)
    with _stoppable() as flag:
        try:
            with _progress("checking", len(configs)) as advance:
                results = run_checks(configs, overrides, workers, problems_dir, on_done=lambda r: advance())
            if junit is not None:
                write_junit(results, junit)
        except OptrunError as exc:
            raise fail(exc, exc.exit_code)
        out().print(results_table(results))
        out().print(totals(results), highlight=False)
        code = exit_code(results)
        if code >= 128:  # stopped by a signal: what ran is reported, nothing is rewritten
            cut = [r for r in results if r.outcome in ("interrupted", "not run")]
            err.print(f"interrupted by {_signal_name(code - 128)}: {len(results) - len(cut)} of {len(results)} configs checked"
                      + (f"; JUnit report: {junit}" if junit is not None else "") + ("; nothing was updated" if update else ""), markup=False)
            raise typer.Exit(code)
        if update:
            from optrun.commands.check import update_all

            try:
                changed, left = update_all(results)
            except OSError as exc:
                raise fail(exc, 1)
            for path, change in changed:
                out().print(f"updated {path}: {change}", highlight=False, markup=False)
            for path, reason in left:
                out().print(f"still failing {path}: {reason}", highlight=False, markup=False)
            files = sorted({path for path, _ in changed})
            out().print(f"--update: {len(changed)} expected values rewritten in {len(files)} files; {len(left)} failures left", highlight=False)
            code = 2 if code == 2 else (1 if left else 0)
            if files:
                if flag is not None:
                    flag.armed = flag.at_once = True  # calibrating: Ctrl-C stops it at once, as before
                try:
                    calibrated = _calibrate([Path(f) for f in files], overrides, workers, problems_dir, margin)
                finally:
                    if flag is not None:
                        flag.armed = flag.at_once = False
                code = max(code, calibrated)
    raise typer.Exit(code)


@contextlib.contextmanager
def _progress(label: str, total: int):
    """A transient progress bar on a terminal's stderr; yields ``advance()``."""
    if not err.is_terminal:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


def _calibrate(configs: List[Path], overrides: List[str], workers: int, problems: Optional[str], margin: float) -> int:
    """Calibrate, write, print the table; returns the exit status."""
    from optrun.commands.calibrate import variants
    from optrun.commands.check import calibrate_configs, calibration_table
    from optrun.core.machine import blas_threads

    runs = len(configs) * len(variants(blas_threads())[0])
    with _progress("calibrating", runs) as advance:
        results, note = calibrate_configs(configs, overrides, workers, problems, margin, on_sample=lambda path, sample: advance())
    out().print(calibration_table(results, note))
    written = sum(r.written for r in results)
    sensitive = sum(bool(r.calibration and r.calibration.sensitive) for r in results)
    out().print(f"--calibrate: tolerances written for {written} of {len(results)} configs ({sensitive} rounding-sensitive); "
                f"margin {margin:g}", highlight=False)
    outcomes = {r.outcome for r in results}
    return 2 if "error" in outcomes else (1 if "fail" in outcomes else 0)


@app.command()
def sweep(
    config: Optional[Path] = typer.Argument(None, help="The YAML config (omit with --resume).", show_default=False),
    grid: Optional[List[str]] = typer.Option(None, "--grid", help="path=v1,v2,... (repeatable): runs for every combination."),
    zip_: Optional[List[str]] = typer.Option(None, "--zip", help="path=v1,v2,... (repeatable): paired lists, one run per position."),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=1, help="Repeat every point with this many seeds (seed, seed+1, ...)."),
    workers: int = typer.Option(os.cpu_count() or 1, "--workers", "-w", min=1, help="Local processes (1: in this process)."),
    dask: Optional[str] = typer.Option(None, "--dask", help="A Dask scheduler address, or local:N for a LocalCluster of N workers."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Finish a partial sweep directory without redoing finished runs."),
    plots: bool = typer.Option(False, "--plots", help="Also draw every run's plots (off: sweeps are about final values)."),
    set_: Optional[List[str]] = typer.Option(None, "--set", "-s", help="Override a key in every run: dotted.key=value."),
    problems: Optional[Path] = PROBLEMS_OPTION,
) -> None:
    """Run a config over a grid of values and seeds, and tabulate the results."""
    from optrun.core.errors import ConfigError, OptrunError
    from optrun.commands.sweep import load_plan, make_plan, results_table, run_sweep, start_sweep

    with _stoppable() as flag:
        load_problems(problems)
        problems_dir = str(problems.resolve()) if problems else (str(Path("problems").resolve()) if Path("problems").is_dir() else None)
        try:
            if dask is not None:
                from optrun.commands.sweep import check_dask_address

                check_dask_address(dask)  # fail before validating or creating anything
            if resume is not None:
                if config is not None or grid or zip_ or seeds or set_:
                    raise ConfigError("--resume takes a sweep directory only: the plan is in its sweep.json")
                plan, sweep_dir = load_plan(resume), resume
            else:
                if config is None:
                    raise ConfigError("give a config file (or --resume SWEEP_DIR)")
                checking = None
                if err.is_terminal:  # validating a large sweep takes a moment: show it
                    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

                    checking = Progress(TextColumn("[bold]validating"), BarColumn(), MofNCompleteColumn(), console=err, transient=True)
                    check_task = checking.add_task("validating", total=None)
                with checking or contextlib.nullcontext():
                    plan, base = make_plan(config, set_ or [], grid or [], zip_ or [], seeds, plots,
                                           on_checked=(lambda done, total: checking.update(check_task, completed=done, total=total)) if checking else None)
                if flag is not None and flag.signum is not None:
                    raise fail(Exception(f"interrupted by {_signal_name(flag.signum)} before the sweep started; nothing was recorded"),
                               128 + flag.signum)
                sweep_dir = start_sweep(plan, base.output.dir, base.name)
            try:
                with _progress("sweep", len(plan.runs)) as advance:
                    outcome = run_sweep(plan, sweep_dir, workers, dask, problems_dir, on_done=lambda row: advance())
            except OptrunError:
                if resume is None and not any(sweep_dir.glob("run-*")):  # nothing ran (e.g. no scheduler): leave nothing behind
                    import shutil

                    shutil.rmtree(sweep_dir, ignore_errors=True)
                raise
        except OptrunError as exc:
            raise fail(exc, exc.exit_code)
        for warning in outcome.warnings:
            err.print(f"warning: {warning}", markup=False, style="yellow")
        out().print(results_table(outcome.rows, outcome.keys))
        from optrun.commands.sweep import is_done, is_failed

        done = sum(is_done(r) for r in outcome.rows)
        failed = sum(is_failed(r) for r in outcome.rows)
        errors = sum(r["status"] == "error" for r in outcome.rows)
        kept = f" ({outcome.skipped} kept from before)" if outcome.skipped else ""
        out().print(f"{done} of {len(plan.runs)} runs done{kept}, {failed} failed or diverged; "
                    f"{shown(outcome.sweep_dir.resolve())}/sweep.csv, sweep.png", highlight=False, markup=False)
        if outcome.stopped or done < len(plan.runs):
            by = f" by {_signal_name(outcome.signum)}" if outcome.signum else ""
            err.print(f"interrupted{by}: finish it with  optrun sweep --resume {shown(outcome.sweep_dir.resolve())}", markup=False)
            raise typer.Exit(128 + (outcome.signum or 2))
        if errors:  # a run that could not even start (e.g. a missing data file): the sweep needs fixing
            err.print(f"error: {errors} runs could not run; see the message column of sweep.csv", markup=False)
            raise typer.Exit(1)


def main() -> None:
    """The console entry point. Click's usage errors (an unknown option, a
    missing argument, a bad option value) are one line on stderr, exit 2,
    like every other error, instead of Typer's boxed message."""
    import sys

    global _WHOLE_PROCESS
    _WHOLE_PROCESS = True  # the command owns the process: its signal handling lasts to the exit

    try:  # Typer >= 0.20 vendors Click as typer._click; older ones use Click itself
        from typer._click import exceptions as click_exceptions
    except ImportError:  # pragma: no cover
        from click import exceptions as click_exceptions

    from optrun.entry import EARLY

    if EARLY:  # a signal during the imports: nothing has started
        err.print(f"error: interrupted by {_signal_name(EARLY[0])} before the command started; nothing was recorded", markup=False, style="red")
        sys.exit(128 + EARLY[0])
    try:
        code = app(standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError:  # plain `optrun`: Typer has printed the help already
        code = 2
    except click_exceptions.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "optrun"
        message = " ".join(exc.format_message().split())
        err.print(f"error: {command}: {message} (see '{command} --help')", markup=False, style="red")
        code = exc.exit_code
    except click_exceptions.ClickException as exc:
        err.print(f"error: {' '.join(exc.format_message().split())}", markup=False, style="red")
        code = exc.exit_code
    except typer.Abort:
        err.print("error: aborted", markup=False, style="red")
        code = 1
    code = code if isinstance(code, int) else 0
    if EARLY and code == 0:  # a signal noted during a command that does not stop for it (list-*, show, ...)
        code = 128 + EARLY[0]
    sys.exit(code)
