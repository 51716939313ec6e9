"""The command line: a thin Typer shell over :mod:`optrun.commands`.

Every command parses its options and calls one function that does the work
and returns the exit status. How a command ends on an error (one line on
stderr, no traceback, and which exit status) is one table,
:data:`optrun.commands.exits.EXITS`: 2 for bad input, 1 for an I/O failure,
128+signal for an interrupted command; a failed or diverged run is 1.
Heavy modules are imported inside the commands, so ``optrun --help`` is fast.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup


class _Argument(TyperArgument):
    """An argument as help shows it: its metavar only (CONFIG, RUN_DIR...,
    [PATH]...), never Typer's Python type (<path>, <list[Path]>) beside it
    nor {CONFIG} in the usage line."""

    def display_type_rich(self, ctx: Any) -> None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")


class _Help:
    """What every command and the group share: arguments shown by their
    metavar (:class:`_Argument`), and -h/--help with no <bool> beside it."""

    params: list[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if type(param) is TyperArgument:
                param.__class__ = _Argument  # same state, only the two display methods differ

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class _Command(_Help, TyperCommand):
    pass


class _Group(_Help, TyperGroup):
    pass


class _App(typer.Typer):
    """typer.Typer whose commands are :class:`_Command`: the one place help is tidied."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)


app = _App(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Run reproducible optimization experiments from YAML configs.",
)


def Flag(*decls: str, **kwargs: Any) -> Any:
    """An on/off option: no metavar in the help (Typer would show <bool>)."""
    return typer.Option(*decls, metavar="", **kwargs)


# options that several commands share
Problems = Annotated[
    Path | None,
    typer.Option(
        "--problems",
        metavar="DIR",
        help="Folder of user problem files (default: ./problems). These files are code and run as code.",
    ),
]
RunDir = Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run directory (outputs/NAME/TIMESTAMP).")]
Quiet = Annotated[
    bool, Flag("--quiet", "-q", help="No progress bar and no tables; a failure still prints one line on stderr.")
]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's
    or taskset's limit), else every core the machine has."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


CORES = usable_cores()


def Workers(what: str) -> Any:
    """``--workers N``: one default (the usable cores) for check, sweep and bench."""
    return typer.Option(
        "--workers",
        "-w",
        metavar="N",
        min=1,
        show_default=False,
        help=f"{what} (default: every usable core, here {CORES})",
    )


def Plots(default: str) -> Any:
    """``--plots/--no-plots``: draw each run's plots, in output.plot_format."""
    return Flag("--plots/--no-plots", help=f"Draw each run's plots in output.plot_format ({default}).")


def ends(command: Callable[..., int | None]) -> Callable[..., None]:
    """The command's exit status: the one it returns, or the one
    :func:`optrun.commands.exits.report` gives the error it raised."""

    @functools.wraps(command)
    def ended(*args: Any, **kwargs: Any) -> None:
        from optrun.commands.exits import ENDINGS, report

        try:
            code = command(*args, **kwargs)
        except ENDINGS as exc:
            raise typer.Exit(report(exc)) from None
        if code:
            raise typer.Exit(code)

    return ended


def _version(value: bool) -> None:
    if value:
        from optrun import __version__

        typer.echo(f"optrun {__version__}")
        raise typer.Exit(0)


@app.callback()
@ends
def options(
    version: Annotated[
        bool, Flag("--version", "-V", help="Print optrun's version and exit.", is_eager=True, callback=_version)
    ] = False,
    blas_threads: Annotated[
        int | None,
        typer.Option(
            "--blas-threads",
            metavar="N",
            min=1,
            max=1024,
            show_default=False,
            help="BLAS threads for every run, in this process and in sweep/check workers "
            "(default: $OPTRUN_BLAS_THREADS, else 1). Recorded in summary.json.",
        ),
    ] = None,
) -> None:
    """Run reproducible optimization experiments from YAML configs."""
    from optrun.commands.common import use_blas_threads

    use_blas_threads(blas_threads)


@app.command()
@ends
def run(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="The YAML config file.", show_default=False)],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a key: dotted.key=value (repeatable)."),
    ] = None,
    quiet: Quiet = False,
    json_out: Annotated[bool, Flag("--json", help="Print summary.json to stdout instead of the table.")] = False,
    plots: Annotated[
        bool | None,
        Flag(
            "--plots/--no-plots",
            show_default=False,
            help="Draw the run's plots in output.plot_format, or not; overrides output.plots (default: output.plots, which is on).",
        ),
    ] = None,
    problems: Problems = None,
) -> int:
    """Run one experiment and record it in a new run directory."""
    from optrun.commands.run import run_command

    return run_command(config, set_ or [], quiet, json_out, problems, plots)


@app.command("list-problems")
@ends
def list_problems(problems: Problems = None) -> int:
    """List the registered problems with their options and known minima."""
    from optrun.commands.catalogue import list_problems_command

    return list_problems_command(problems)


@app.command()
@ends
def describe(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A problem name (see list-problems).")],
    problems: Problems = None,
) -> int:
    """Show one problem in full: formula, parameters, options, start, minimum."""
    from optrun.commands.catalogue import describe_command

    return describe_command(name, problems)


@app.command("list-optimizers")
@ends
def list_optimizers(problems: Problems = None) -> int:
    """List the registered optimizers with their options and what they need."""
    from optrun.commands.catalogue import list_optimizers_command

    return list_optimizers_command(problems)


@app.command()
@ends
def grad(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="The YAML config file.", show_default=False)],
    at: Annotated[
        list[str] | None,
        typer.Option(
            "--at",
            metavar="NAME=VALUE",
            help="Evaluate at NAME=VALUE instead of the config's start (YAML value, e.g. x=3 or 'w=[0, 0]'; repeatable).",
        ),
    ] = None,
    hessian: Annotated[bool, Flag("--hessian", help="Also the Hessian, labelled by parameter entry.")] = False,
    order: Annotated[
        int | None,
        typer.Option(
            "--order",
            metavar="K",
            help="Derivatives f, f', ..., up to order K in the one free scalar parameter.",
            show_default=False,
        ),
    ] = None,
    fd: Annotated[
        bool,
        Flag(
            "--fd",
            help="Check the gradient against finite differences (h = 1e-1 ... 1e-12); fd_error.png (in output.plot_format).",
        ),
    ] = False,
    jvp: Annotated[
        list[str] | None,
        typer.Option(
            "--jvp",
            metavar="NAME=VALUE",
            help="One forward-mode product J v, v given as NAME=VALUE (repeatable; names left out are 0).",
        ),
    ] = None,
    vjp: Annotated[
        str | None,
        typer.Option(
            "--vjp",
            metavar="[U1, U2, ...]",
            help="One reverse-mode product u^T J, u a YAML list with one number per output.",
            show_default=False,
        ),
    ] = None,
    range_: Annotated[
        str | None,
        typer.Option(
            "--range",
            metavar="A,B",
            help="a,b: the interval derivatives.png (and contour.png) span (default: around the point).",
            show_default=False,
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a key: dotted.key=value (repeatable)."),
    ] = None,
    json_out: Annotated[
        bool, Flag("--json", help="Print one JSON object (f, grad, hessian, derivatives, fd, jacobian, jvp, vjp).")
    ] = False,
    problems: Problems = None,
) -> int:
    """Derivatives of the config's objective at a point: f, the signed gradient, and more on request."""
    from optrun.commands.grad import grad_command

    return grad_command(config, set_ or [], at or [], hessian, order, fd, jvp or [], vjp, range_, json_out, problems)


@app.command()
@ends
def plot(run_dir: RunDir, problems: Problems = None) -> int:
    """Redraw a run's plots from its files (also for interrupted runs)."""
    from optrun.commands.show import plot_command

    return plot_command(run_dir, problems)


@app.command()
@ends
def show(
    run_dir: Annotated[
        Path, typer.Argument(metavar="DIR", help="A run directory (outputs/NAME/TIMESTAMP) or a bench directory.")
    ],
    json_out: Annotated[
        bool, Flag("--json", help="Print the run's summary.json (with run_dir and its config) instead of the tables.")
    ] = False,
    problems: Problems = None,
) -> int:
    """Print a run's summary table and its resolved config (a bench directory: its table)."""
    from optrun.commands.show import show_command

    return show_command(run_dir, json_out, problems)


@app.command()
@ends
def compare(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(metavar="RUN_DIR", help="Run directories (a sweep or bench directory stands for all its runs)."),
    ],
    out_file: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="FILE",
            help="The overlaid loss plot: .png, .svg or .pdf, by its suffix; the table is written beside it as a .csv of the same name.",
        ),
    ] = Path("compare.png"),
    json_out: Annotated[
        bool, Flag("--json", help="Print the table as JSON (one object per run) instead of the rich table.")
    ] = False,
    problems: Problems = None,
) -> int:
    """Overlay several runs' loss curves and tabulate their results."""
    from optrun.commands.compare import compare_command

    return compare_command(run_dirs, out_file, json_out, problems)


@app.command()
@ends
def check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(metavar="PATH", help="Config files or folders (default: configs/).", show_default=False),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", metavar="FILE", help="Also write a JUnit XML report to this file.")
    ] = None,
    workers: Annotated[
        int,
        Workers(
            "Check configs in this many worker processes (spawned when there are 2 or more configs; 1: in this process). "
            "Each run is limited to --blas-threads BLAS threads (default 1, set with threadpoolctl), so N workers keep to N cores."
        ),
    ] = CORES,
    strict: Annotated[
        bool, Flag("--strict", help="Exit 1 when no config was checked (none has an expect: block).")
    ] = False,
    update: Annotated[
        bool,
        Flag(
            "--update", help="Rewrite failing expected values with what the runs got, then calibrate their tolerances."
        ),
    ] = False,
    calibrate: Annotated[
        bool,
        Flag(
            "--calibrate",
            help="Measure how far each result moves on another machine and write tolerances that cover it (no run directories).",
        ),
    ] = False,
    margin: Annotated[
        float,
        typer.Option(
            "--margin",
            metavar="M",
            min=1.0,
            help="With --calibrate/--update: tolerance = margin x the largest deviation seen.",
        ),
    ] = 10.0,
    plots: Annotated[bool, Plots("off: checks are about numbers")] = False,
    quiet: Quiet = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a key in every config: dotted.key=value."),
    ] = None,
    problems: Problems = None,
) -> int:
    """Run every config that has an expect: block and compare the results.

    Exit status: 0 all passed, 1 a check failed or a run diverged/failed
    (or, with --strict, nothing was checked), 2 a config error.
    """
    from optrun.commands.check import check_command

    return check_command(
        paths or [], junit, workers, update, calibrate, margin, plots, set_ or [], problems, strict, quiet
    )


@app.command()
@ends
def sweep(
    config: Annotated[
        Path | None,
        typer.Argument(metavar="CONFIG", help="The YAML config (omit with --resume).", show_default=False),
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid", metavar="KEY=V1,V2,...", help="path=v1,v2,... (repeatable): runs for every combination."
        ),
    ] = None,
    zip_: Annotated[
        list[str] | None,
        typer.Option(
            "--zip", metavar="KEY=V1,V2,...", help="path=v1,v2,... (repeatable): paired lists, one run per position."
        ),
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            "--seeds", metavar="N", min=1, help="Repeat every point with this many seeds (seed, seed+1, ...)."
        ),
    ] = None,
    workers: Annotated[
        int, Workers("Local worker processes (1: in this process); each run uses --blas-threads BLAS threads.")
    ] = CORES,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask", metavar="ADDRESS", help="A Dask scheduler address, or local:N for a LocalCluster of N workers."
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", metavar="DIR", help="Finish a partial sweep directory without redoing finished runs."),
    ] = None,
    plots: Annotated[bool, Plots("off: sweeps are about final values")] = False,
    quiet: Quiet = False,
    vectorize: Annotated[
        bool,
        Flag(
            "--vectorize",
            help="backend: jax only: run every seed as one vmap'ed computation in this process "
            "(the runs may differ in seed and init.* only); same run directories.",
        ),
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a key in every run: dotted.key=value."),
    ] = None,
    problems: Problems = None,
) -> int:
    """Run a config over a grid of values and seeds, and tabulate the results."""
    from optrun.commands.sweep import sweep_command

    return sweep_command(
        config, grid or [], zip_ or [], seeds, workers, dask, resume, plots, set_ or [], problems, quiet, vectorize
    )


@app.command()
@ends
def bench(
    suite: Annotated[
        Path | None, typer.Argument(metavar="SUITE", help="The suite file (omit with --resume).", show_default=False)
    ] = None,
    workers: Annotated[
        int, Workers("Local worker processes (1: in this process); each run uses --blas-threads BLAS threads.")
    ] = CORES,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask", metavar="ADDRESS", help="A Dask scheduler address, or local:N for a LocalCluster of N workers."
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", metavar="DIR", help="Finish a partial bench directory without redoing finished runs."),
    ] = None,
    quiet: Quiet = False,
    problems: Problems = None,
) -> int:
    """Run every optimizer on every problem of a suite from several starts; profiles and a table."""
    from optrun.commands.bench import bench_command

    return bench_command(suite, workers, dask, resume, problems, quiet)


@app.command()
@ends
def report(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH",
            help="Run, sweep or bench directories (anything holding run directories).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="The HTML file to write.")] = Path(
        "report.html"
    ),
) -> int:
    """One self-contained HTML page (tables, configs, plots) to share runs, sweeps and benches."""
    from optrun.commands.report import report_command

    return report_command(paths, out)


def main(early: list[int] | None = None) -> None:
    """The console entry point (called by optrun.entry with ``early``, the
    signals noted while the modules were imported; it keeps filling until
    the command installs its own handlers). Click's usage errors (an unknown
    option, a missing argument, a bad option value) are one line on stderr,
    exit 2, like every other error, instead of Typer's boxed message."""
    import sys

    from optrun.commands import exits
    from optrun.engine import signals
    from optrun.engine.signals import StoppedBySignal, signal_name

    EARLY = signals.EARLY = early if early is not None else []
    signals.WHOLE_PROCESS = True  # the command owns the process: its signal handling lasts to the exit
    if EARLY:  # a signal during the imports: nothing has started
        sys.exit(
            exits.report(
                StoppedBySignal(
                    f"interrupted by {signal_name(EARLY[0])} before the command started; nothing was recorded", EARLY[0]
                )
            )
        )
    try:
        code = app(standalone_mode=False)
    except exits.ENDINGS as exc:
        code = exits.report(exc)
    code = code if isinstance(code, int) else 0
    if EARLY and code == 0:  # a signal noted during a command that does not stop for it (list-*, show, ...)
        code = 128 + EARLY[0]
    sys.exit(code)
