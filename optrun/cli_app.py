"""The Typer app every command is registered on, the options several
commands share, and how a command ends (its exit status).

Typer's help is tidied in one place: arguments are shown by their metavar
(CONFIG, RUN_DIR...) without Typer's Python type beside them, and -h/--help
without <bool>.
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

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Click's usage errors while this command's options are parsed (an
        option without its value) name this command, not the group."""
        from optrun.commands.exits import click_exceptions

        try:
            return super().parse_args(ctx, args)  # type: ignore[misc]
        except click_exceptions.UsageError as exc:
            exc.ctx = ctx
            raise

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class _Command(_Help, TyperCommand):
    pass


class _Group(_Help, TyperGroup):
    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """An unknown command is one line listing the commands (not Click's guess)."""
        from optrun.commands.exits import click_exceptions

        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            commands = ", ".join(self.list_commands(ctx))
            raise click_exceptions.UsageError(f"no such command '{name}'; the commands are {commands}", ctx)
        return super().resolve_command(ctx, args)


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
RunDir = Annotated[
    Path,
    typer.Argument(
        metavar="RUN_DIR",
        help="A run directory (outputs/NAME/TIMESTAMP) or a sweep directory (sweep.png and each finished run's plots).",
    ),
]
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


# ``--workers N``: one definition and one default (the usable cores) for check, sweep and bench
RunWorkers = Annotated[
    int,
    typer.Option(
        "--workers",
        "-w",
        metavar="N",
        min=1,
        show_default=False,
        help="Local worker processes (1: in this process). Each run is limited to --blas-threads BLAS threads "
        "(default 1, set with threadpoolctl), so N workers keep to N cores "
        f"(default: every usable core, here {CORES}).",
    ),
]
Dask = Annotated[
    str | None,
    typer.Option(
        "--dask",
        metavar="ADDRESS",
        help="Run on a Dask cluster: a scheduler address (its workers need optrun, none of this machine's files: "
        "each run's config and files go with it, its run directory comes back), or local:N for N local workers.",
    ),
]


def Plots(default: str) -> Any:
    """``--plots/--no-plots``: draw each run's plots, in output.plot_format
    (``default`` says what happens without the flag)."""
    return Flag(
        "--plots/--no-plots", show_default=False, help=f"Draw the plots in output.plot_format, or not ({default})."
    )


Set = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override a config key, dotted.key=value, the value read as YAML (repeatable; "
        "for every run the command makes).",
    ),
]


def Json(what: str) -> Any:
    """``--json``: print ``what`` as JSON on stdout instead of the tables."""
    return Flag("--json", help=f"Print {what} as JSON instead of the tables.")


def Out(what: str) -> Any:
    """``--out/-o FILE``: where the command writes its file."""
    return typer.Option("--out", "-o", metavar="FILE", help=what)


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


def stops(nothing: str) -> Callable[[Callable[..., int | None]], Callable[..., int | None]]:
    """A command with nothing to finish gracefully (show, report, ...): a
    SIGINT/SIGTERM stops it at once, even in a blocking read, exit 128 +
    signal (:func:`optrun.engine.signals.stops_at_once`; ``nothing`` says
    what was left unwritten). Goes under :func:`ends`."""

    def wrap(command: Callable[..., int | None]) -> Callable[..., int | None]:
        @functools.wraps(command)
        def stoppable(*args: Any, **kwargs: Any) -> int | None:
            from optrun.engine.signals import stops_at_once

            with stops_at_once(nothing):
                return command(*args, **kwargs)

        return stoppable

    return wrap


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
