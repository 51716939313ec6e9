"""What every command shares: the two consoles it prints to, paths as shown
to a person, warnings, the BLAS thread setting and user problem files.

Light on purpose (rich's console only): ``optrun --help`` and ``list-problems``
import it. emoji=False everywhere: ':x:' in a column name or a path is text,
not an emoji. Text that comes from users (paths, names, messages, values) is
printed with markup=False, or escaped / made a rich Text before it goes into
a table, so '[red]' is text too; and it goes through :func:`visible`
first, so a control character (ESC...) in a received folder or a plugin
is shown, never obeyed by the terminal.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

# every control character (C0, DEL, C1) and the bidirectional overrides, as an escape: ESC is shown as \x1b
_CONTROLS = {
    code: (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    for code in (*range(0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}


def visible(text: object, keep: str = "") -> str:
    """``text`` with every control character made visible (ESC as ``\\x1b``):
    what a file or a plugin says reaches the terminal as text, never as a
    command (a window title, a cleared screen). ``keep``: characters left
    as they are (line breaks in a multi-line description)."""
    table = _CONTROLS if not keep else {code: v for code, v in _CONTROLS.items() if chr(code) not in keep}
    return str(text).translate(table)


err = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)


def out() -> Console:
    """stdout console, made per call so the terminal width is read when used.
    Piped output (CI logs, files) is $COLUMNS wide, else 80, like every
    table optrun prints: wide cells fold (text at spaces, a path at its
    separators), numbers never break."""
    console = Console(emoji=False)
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")
    return Console(emoji=False, width=int(columns) if columns.isdigit() and int(columns) > 0 else 80)


def say(text: str) -> None:
    """One line of plain text on stdout (what was written, how many ran):
    literal, never markup, and never folded, so grep finds it whole."""
    out().print(text, markup=False, highlight=False, soft_wrap=True)


def warn(warning: str) -> None:
    """One warning line on stderr."""
    err.print(f"warning: {visible(warning, keep=chr(10))}", markup=False, style="yellow")


def note(text: str) -> None:
    """An informational line on stderr (what optrun chose for the user), never mixed into stdout's tables or JSON."""
    err.print(f"note: {visible(text, keep=chr(10))}", markup=False, style="cyan")


def shown(path: Path | str) -> str:
    """A path as a person reads it: relative to the working folder when it is
    inside it; else the shorter of the path as given and its relative form
    (``../main/configs/a.yaml`` rather than a long absolute path)."""
    path = Path(path)
    cwd = Path.cwd()
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        pass
    try:
        relative = os.path.relpath(path, cwd)
    except ValueError:  # another drive (Windows)
        return str(path)
    return relative if len(relative) < len(str(path)) else str(path)


def plots_override(plots: bool | None) -> list[str]:
    """``--plots/--no-plots`` as the override it stands for (none when not given)."""
    return [] if plots is None else [f"output.plots={'true' if plots else 'false'}"]


def use_blas_threads(threads: int | None) -> None:
    """``--blas-threads``: set it for this process and the workers it starts
    (spawned, Dask local: they inherit the environment), then check the
    setting in effect (a bad $OPTRUN_BLAS_THREADS is a ConfigError)."""
    from optrun.core.machine import BLAS_THREADS_ENV, blas_threads

    if threads is not None:
        os.environ[BLAS_THREADS_ENV] = str(threads)
    blas_threads()


def load_problems(folder: Path | None) -> None:
    """Register user problems (and optimizers, initializers, schedules); a
    broken file is a one-line warning, a name already taken an error (exit 2)."""
    from optrun.config.plugins import load_user_problems
    from optrun.engine.signals import StoppedBySignal

    try:
        warnings = load_user_problems(folder)
    except (
        KeyboardInterrupt
    ) as exc:  # a real Ctrl-C/SIGTERM while user files load (a file raising it is only a warning)
        raise StoppedBySignal(
            "interrupted while loading user problem files; nothing was run", getattr(exc, "signum", 2)
        ) from None
    for warning in warnings:
        warn(warning)


def problem_about(name: str) -> str:
    """What a problem is, from the registry (user problems included, as
    --problems loaded them): its description and formula; a problem that is
    not registered here says so."""
    from optrun.core.problems import PROBLEMS

    if name not in PROBLEMS:
        return f"{name}: not registered here (a user problem? give its folder with --problems)"
    entry = PROBLEMS.get(name)
    return f"{entry.description}: {entry.formula}"


def failure_line(text: str) -> None:
    """The one line on stderr that ``--quiet`` never hides: what failed (a
    run, a check, runs of a sweep or bench) and where it is recorded. Any
    line break in ``text`` is folded, so it stays one line."""
    err.print(visible(" ".join(text.splitlines())), markup=False)
