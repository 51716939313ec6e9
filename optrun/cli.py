"""The command line: a thin shell over :mod:`optrun.api`.

Every command is one small function; errors go to stderr as one line and end
with ``typer.Exit(code)``: 2 for bad input, 1 for a failed or diverged run or
an I/O failure, 128+signal for an interrupted run.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Run reproducible optimization experiments from YAML configs.",
)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def out() -> Console:
    """stdout console, made per call so the terminal width is read when used."""
    return Console()

FAILED_STATUSES = ("diverged", "failed")
PROBLEMS_OPTION = typer.Option(
    None, "--problems", help="Folder of user problem files (default: ./problems). These files are code and run as code."
)


def load_problems(folder: Optional[Path]) -> None:
    """Register user problems; a broken file is a one-line warning, not a stop."""
    from optrun.plugins import load_user_problems

    for warning in load_user_problems(folder):
        err.print(f"warning: {warning}", markup=False, style="yellow")


def shown(path: Path) -> str:
    """A path relative to the working folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def fail(exc: Exception, code: int) -> typer.Exit:
    err.print(f"error: {exc}", markup=False, style="red")
    return typer.Exit(code)


@app.command()
def run(
    config: Path = typer.Argument(..., help="The YAML config file.", show_default=False),
    set_: Optional[List[str]] = typer.Option(None, "--set", "-s", help="Override a key: dotted.key=value (repeatable)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary table."),
    json_out: bool = typer.Option(False, "--json", help="Print summary.json to stdout instead of the table."),
    problems: Optional[Path] = PROBLEMS_OPTION,
) -> None:
    """Run one experiment and record it in a new run directory."""
    from optrun.api import execute
    from optrun.config import load_config
    from optrun.errors import OptrunError

    load_problems(problems)
    try:
        cfg = load_config(config, set_ or [])
        show_bar = not quiet and not json_out and err.is_terminal
        bar = None
        if show_bar:
            from optrun.terminal import ProgressBar

            bar = ProgressBar(err, cfg.stop.max_iter, cfg.name)
        with bar or contextlib.nullcontext():
            result = execute(cfg, [bar] if bar else [])
    except OptrunError as exc:
        raise fail(exc, exc.exit_code)
    except KeyboardInterrupt:
        raise fail(Exception("interrupted before the run started; nothing was recorded"), 130)

    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False, style="yellow")
    if json_out:
        from optrun.outputs import _json_safe

        typer.echo(json.dumps(_json_safe({**result.summary, "run_dir": shown(result.run_dir)}), indent=2))
    elif not quiet:
        from optrun.terminal import summary_table

        out().print(summary_table(result.summary, shown(result.run_dir), title=f"{cfg.name}: {cfg.problem.name} / {cfg.optimizer.name}"))
    if result.status == "interrupted":
        raise typer.Exit(128 + (result.signum or 2))
    if result.status in FAILED_STATUSES:
        raise typer.Exit(1)


@app.command("list-problems")
def list_problems(problems: Optional[Path] = PROBLEMS_OPTION) -> None:
    """List the registered problems with their options and known minima."""
    from optrun.catalogue import problems_table

    load_problems(problems)
    out().print(problems_table())


@app.command()
def describe(
    name: str = typer.Argument(..., help="A problem name (see list-problems)."),
    problems: Optional[Path] = PROBLEMS_OPTION,
) -> None:
    """Show one problem in full: formula, parameters, options, start, minimum."""
    from optrun.catalogue import describe_problem
    from optrun.errors import OptrunError

    load_problems(problems)
    try:
        out().print(describe_problem(name))
    except OptrunError as exc:
        raise fail(exc, exc.exit_code)


@app.command("list-optimizers")
def list_optimizers() -> None:
    """List the registered optimizers with their options and what they need."""
    from optrun.catalogue import optimizers_table

    out().print(optimizers_table())


def main() -> None:
    app()
