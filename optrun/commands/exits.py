"""How a command ends.

A command returns its exit status: 0 done, 1 a run failed or diverged or a
check failed, 2 a check met a config error, 128 + the signal when a signal
stopped it after it recorded something (it says where, on stderr). Every
other ending is an exception, and :data:`EXITS` is the one table that turns
it into an exit status and one line on stderr (never a traceback):

=====================  ==================================================
ConfigError            2: a config, an override or an option is wrong
RunIOError             1: files could not be read or written
OptrunError            its ``exit_code``
StoppedBySignal        128 + the signal: it came before anything was recorded
Click's usage errors   2: an unknown option, a missing argument, a bad value
Abort                  1
=====================  ==================================================

The signal handling of a command's body is :mod:`optrun.engine.signals`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from typer import Abort

from optrun.commands.common import err, visible
from optrun.core.errors import OptrunError
from optrun.engine.signals import StoppedBySignal

click_exceptions: ModuleType  # either module below: the same exception classes
try:  # Typer >= 0.20 vendors Click as typer._click; older ones use Click itself
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions


def _usage_line(exc: Any) -> str:
    command = exc.ctx.command_path if exc.ctx is not None else "optrun"
    if isinstance(exc, click_exceptions.NoSuchOption) and exc.ctx is not None:
        message = f"no such option {exc.option_name}; {_takes(exc.ctx)}"  # never Click's guess of a close name
    else:
        message = " ".join(exc.format_message().split())
    return f"error: {command}: {message} (see '{command} --help')"


def _takes(ctx: Any) -> str:
    """Every option the command has, in one line: ``it takes --set/-s, --quiet/-q, ...``."""
    names = [
        "/".join(sorted([*param.opts, *param.secondary_opts], key=lambda name: not name.startswith("--")))
        for param in ctx.command.get_params(ctx)
        if param.param_type_name == "option" and not getattr(param, "hidden", False)
    ]
    return "it takes " + ", ".join(names)


# (exception, its exit status, its line on stderr or None); the first match wins
EXITS: tuple[tuple[type[BaseException], Callable[[Any], int], Callable[[Any], str | None]], ...] = (
    (OptrunError, lambda exc: exc.exit_code, lambda exc: f"error: {exc}"),  # ConfigError 2, RunIOError 1
    (StoppedBySignal, lambda exc: 128 + exc.signum, lambda exc: f"error: {exc}"),
    (
        click_exceptions.NoArgsIsHelpError,
        lambda exc: 2,
        lambda exc: None,
    ),  # plain `optrun`: the help is printed already
    (click_exceptions.UsageError, lambda exc: exc.exit_code, _usage_line),  # one line instead of Typer's boxed message
    (
        click_exceptions.ClickException,
        lambda exc: exc.exit_code,
        lambda exc: f"error: {' '.join(exc.format_message().split())}",
    ),
    (Abort, lambda exc: 1, lambda exc: "error: aborted"),
)
ENDINGS = tuple(kind for kind, _, _ in EXITS)  # the exceptions a command may end with


def report(exc: BaseException) -> int:
    """Print ``exc``'s line on stderr; return its exit status (``exc`` is one of ENDINGS)."""
    for kind, status, line in EXITS:
        if isinstance(exc, kind):
            text = line(exc)
            if text is not None:
                err.print(visible(text), markup=False, style="red")  # a value from a file: text, not a command
            return status(exc)
    raise TypeError(f"no exit status for {type(exc).__name__}") from exc
