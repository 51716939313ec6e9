"""The command line as a plain Click command, for docs/reference/commands.md:
mkdocs-click documents Click commands, and Typer builds its commands on a
copy of Click of its own (``typer._click``), which mkdocs-click does not
recognise. :data:`cli` mirrors every command, argument and option of the
Typer app (names, help, metavars, types, defaults) in Click's classes; it
documents the commands, it never runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import typer

from optrun.cli import app


def _text(text: str | None) -> str:
    """Help text for a Markdown table cell: its pipes and angle brackets shown
    as written, and no core count of the machine that builds the pages."""
    from optrun.cli_app import CORES

    text = (text or "").replace(f", here {CORES})", ")")
    return text.replace("|", "&#x7C;").replace("<", "&lt;").replace(">", "&gt;")


def _default(param: Any) -> Any:
    """The default as help shows it: an enum's value; none where help shows none (a core count)."""
    import enum

    value = param.default
    if param.show_default is False or callable(value):
        return None
    if isinstance(value, enum.Enum):
        return value.value
    if not isinstance(value, (str, int, float, bool, list, tuple, Path)):  # Click's own "unset" sentinel
        return False if param.is_flag else None
    return value


def _type(param: Any) -> click.ParamType:
    """The Click type of the parameter's annotation (a choice keeps its values, a range its bounds)."""
    import enum
    import typing

    kind = param.type_descriptor.annotation
    while typing.get_args(kind) and not (isinstance(kind, type) and issubclass(kind, enum.Enum)):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))  # list[X], X | None -> X
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return click.Choice([str(member.value) for member in kind])
    if kind in (int, float) and (param.min is not None or param.max is not None):
        return (click.IntRange if kind is int else click.FloatRange)(param.min, param.max)
    if kind is Path:
        return click.Path()
    types: dict[Any, click.ParamType] = {int: click.INT, float: click.FLOAT, bool: click.BOOL}
    return types.get(kind, click.STRING)


# the Default column of an option whose default the help text gives (--workers: every usable core) or that
# has none (--set); mkdocs-click would print "None"
NO_DEFAULT = "-"


def _option(param: Any) -> click.Option:
    """An option as help shows it."""
    opts = list(param.opts)
    if param.secondary_opts:  # --plots/--no-plots
        opts[0] += "/" + "/".join(param.secondary_opts)
    default = _default(param)
    option = click.Option(
        [param.name, *opts],
        type=_type(param),
        is_flag=param.is_flag,
        multiple=param.multiple,
        default=default,
        required=param.required,
        help=_text(param.help),
        metavar=param.metavar or None,
        hidden=param.hidden,
    )
    if default is None and not param.required:
        option.default = NO_DEFAULT  # set after construction: only shown, never parsed (cli never runs)
    return option


# -h/--help as optrun's commands take it (Click's own shows its internal "unset" default)
HELP = click.Option(
    ["-h", "--help"], is_flag=True, default=False, expose_value=False, help="Show this message and exit."
)


def _command(command: Any) -> click.Command:
    if isinstance(command, click.Command):  # a Typer built on Click itself
        return command
    params: list[click.Parameter] = []
    arguments = []
    for param in command.params:
        if param.param_type_name == "argument":
            metavar = param.metavar or param.name.upper()
            usage = (metavar if param.required else f"[{metavar}]") + ("..." if param.nargs != 1 else "")
            params.append(click.Argument([param.name], metavar=usage, required=param.required, nargs=param.nargs))
            arguments.append(f"- `{metavar}`: {_text(getattr(param, 'help', ''))}")
        else:
            params.append(_option(param))
    params.append(HELP)
    text = command.help or ""
    if arguments:
        text += "\n\n**Arguments:**\n\n" + "\n".join(arguments)
    if hasattr(command, "commands"):
        subcommands = [_command(sub) for sub in command.commands.values()]
        return click.Group(command.name, commands=subcommands, params=params, help=text, add_help_option=False)
    return click.Command(command.name, params=params, help=text, add_help_option=False)


cli = _command(typer.main.get_command(app))
