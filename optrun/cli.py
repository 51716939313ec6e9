"""The command line: a thin Typer shell over :mod:`optrun.commands`.

Every command parses its options and calls one function that does the work
and returns the exit status. How a command ends on an error (one line on
stderr, no traceback, and which exit status) is one table,
:data:`optrun.commands.exits.EXITS`: 2 for bad input, 1 for an I/O failure,
128+signal for an interrupted command; a failed or diverged run is 1.
Heavy modules are imported inside the commands, so ``optrun --help`` is fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optrun.cli_app import (
    CORES,
    Dask,
    Flag,
    Json,
    Out,
    Plots,
    Problems,
    Quiet,
    RunDir,
    RunWorkers,
    Set,
    app,
    ends,
    stops,
)

Names = Annotated[bool, Flag("--names", help="Only the names, one a line (for scripts and a quick look).")]
NOTHING = "nothing was written"  # what a signal leaves of a command that only reads


@app.command()
@ends
def run(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="The YAML config file.", show_default=False)],
    set_: Set = None,
    quiet: Quiet = False,
    json_out: Annotated[bool, Json("summary.json")] = False,
    plots: Annotated[bool | None, Plots("default: output.plots, which is on")] = None,
    problems: Problems = None,
) -> int:
    """Run one experiment and record it in a new run directory."""
    from optrun.commands.run import run_command

    return run_command(config, set_ or [], quiet, json_out, problems, plots)


@app.command("list-problems")
@ends
@stops(NOTHING)
def list_problems(names: Names = False, problems: Problems = None) -> int:
    """List the registered problems with their options and known minima."""
    from optrun.commands.catalogue import list_problems_command

    return list_problems_command(problems, names)


@app.command()
@ends
@stops(NOTHING)
def describe(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="A problem, optimizer, initializer, schedule or suite (see list-problems, list-optimizers).",
        ),
    ],
    problems: Problems = None,
) -> int:
    """Show one problem, optimizer, initializer, schedule or suite in full: options with their meaning, defaults."""
    from optrun.commands.catalogue import describe_command

    return describe_command(name, problems)


@app.command("list-optimizers")
@ends
@stops(NOTHING)
def list_optimizers(names: Names = False, problems: Problems = None) -> int:
    """List the registered optimizers with their options and what they need."""
    from optrun.commands.catalogue import list_optimizers_command

    return list_optimizers_command(problems, names)


# `optrun grad` and its many options are optrun/cli_grad.py; importing it here registers it here,
# where it stands in `optrun --help`'s list of commands.
from optrun import cli_grad  # noqa: E402, F401


@app.command()
@ends
@stops("the plots drawn before it are whole, the others not drawn")
def plot(run_dir: RunDir, quiet: Quiet = False, problems: Problems = None) -> int:
    """Redraw a run's plots from its files (also for interrupted runs), or a sweep directory's."""
    from optrun.commands.show import plot_command

    return plot_command(run_dir, problems, quiet)


@app.command()
@ends
@stops(NOTHING)
def show(
    run_dir: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="A run directory (outputs/NAME/TIMESTAMP), or a sweep or bench directory (its table)."
        ),
    ],
    quiet: Quiet = False,
    json_out: Annotated[
        bool, Json("the run's summary.json (with run_dir and its config), or a sweep's or bench's results")
    ] = False,
    problems: Problems = None,
) -> int:
    """Print a run's summary table and its resolved config (a sweep or bench directory: its table)."""
    from optrun.commands.show import show_command

    return show_command(run_dir, json_out, problems, quiet)


@app.command()
@ends
@stops("a file written before it is whole, the others are not written")
def compare(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(metavar="RUN_DIR", help="Run directories (a sweep or bench directory stands for all its runs)."),
    ],
    out_file: Annotated[
        Path,
        Out(
            "The overlaid loss plot: .png, .svg or .pdf, by its suffix; "
            "the table is written beside it as a .csv of the same name."
        ),
    ] = Path("compare.png"),
    quiet: Quiet = False,
    json_out: Annotated[bool, Json("the table (one object per run)")] = False,
    problems: Problems = None,
) -> int:
    """Overlay several runs' loss curves and tabulate their results."""
    from optrun.commands.compare import compare_command

    return compare_command(run_dirs, out_file, json_out, problems, quiet)


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
    workers: RunWorkers = CORES,
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
            help="Measure how far each result moves on another machine and write tolerances that cover it "
            "(no run directories).",
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
    plots: Annotated[bool, Plots("default: off, checks are about numbers")] = False,
    quiet: Quiet = False,
    json_out: Annotated[bool, Json("the results (one object per config) and the totals")] = False,
    set_: Set = None,
    problems: Problems = None,
    dask: Dask = None,
    keep_runs: Annotated[
        Path | None,
        typer.Option(
            "--keep-runs",
            metavar="DIR",
            help="Keep every run directory, as DIR/NAME/TIMESTAMP (NAME: the config's name), for optrun show "
            "and compare. Without it the runs go to a temporary folder, removed at the end but for the failing "
            "configs' runs, whose paths the check prints. The configs' output.dir is not used.",
        ),
    ] = None,
) -> int:
    """Run every config that has an expect: block and compare the results.

    Exit status: 0 all passed, 1 a check failed or a run diverged/failed
    (or, with --strict, nothing was checked), 2 a config error.
    """
    from optrun.commands.check import check_command

    return check_command(
        paths or [],
        junit,
        workers,
        update,
        calibrate,
        margin,
        plots,
        set_ or [],
        problems,
        strict,
        quiet,
        json_out,
        dask,
        keep_runs,
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
    workers: RunWorkers = CORES,
    dask: Dask = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", metavar="DIR", help="Finish a partial sweep directory without redoing finished runs."),
    ] = None,
    plots: Annotated[bool, Plots("default: off, sweeps are about final values")] = False,
    quiet: Quiet = False,
    json_out: Annotated[bool, Json("the results (one object per setting)")] = False,
    vectorize: Annotated[
        bool,
        Flag(
            "--vectorize",
            help="backend: jax only: run the sweep as one vmap'ed computation in this process, for a "
            "first-order method with a compiled direction (gd, momentum, adam, ...). The runs may differ in seed, "
            "init.*, optimizer.step_size (a number or a schedule) and the optimizer's other numeric options (beta, "
            "b1, ...); the problem, fix, stop rules and the optimizer itself are shared. Same run directories.",
        ),
    ] = False,
    set_: Set = None,
    problems: Problems = None,
) -> int:
    """Run a config over a grid of values and seeds, and tabulate the results."""
    from optrun.commands.sweep import sweep_command

    return sweep_command(
        config,
        grid or [],
        zip_ or [],
        seeds,
        workers,
        dask,
        resume,
        plots,
        set_ or [],
        problems,
        quiet,
        vectorize,
        json_out,
    )


@app.command()
@ends
def bench(
    suite: Annotated[
        Path | None, typer.Argument(metavar="SUITE", help="The suite file (omit with --resume).", show_default=False)
    ] = None,
    workers: RunWorkers = CORES,
    dask: Dask = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", metavar="DIR", help="Finish a partial bench directory without redoing finished runs."),
    ] = None,
    plots: Annotated[bool, Plots("default: off, a bench is about its profiles")] = False,
    quiet: Quiet = False,
    json_out: Annotated[bool, Json("the table (one object per optimizer)")] = False,
    set_: Set = None,
    problems: Problems = None,
) -> int:
    """Run every optimizer on every problem of a suite from several starts; profiles and a table."""
    from optrun.commands.bench import bench_command

    return bench_command(suite, workers, dask, resume, problems, quiet, set_ or [], plots, json_out)


@app.command()
@ends
@stops("the report was not written")
def report(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH",
            help="Run, sweep or bench directories (anything holding run directories).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, Out("The HTML file to write.")] = Path("report.html"),
    quiet: Quiet = False,
    problems: Problems = None,
) -> int:
    """One self-contained HTML page (tables, configs, plots) to share runs, sweeps and benches."""
    from optrun.commands.report import report_command

    return report_command(paths, out, quiet, problems)


# `optrun schema` (the JSON Schema of configs, for editors) is optrun/cli_schema.py, listed last
from optrun import cli_schema  # noqa: E402, F401
