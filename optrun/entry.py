"""The ``optrun`` command's entry point (also ``python -m optrun``).

Its first lines catch SIGINT and SIGTERM, before the command's modules are
imported (about 0.3 s of typer, rich, numpy and autograd): a signal in that
window is noted, and the command then ends with one line and exit status
128 + signal, never a traceback or a silent death by SIGTERM. Only Python's
own start-up, before this module runs, is outside it. Importing ``optrun``
as a library installs nothing.
"""

from __future__ import annotations

import signal

EARLY: list[int] = []  # signals that came before the command took over


def _note(signum, frame) -> None:
    EARLY.append(signum)


def main() -> None:
    """Catch signals, then run the command (:func:`run_command`)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _note)
    try:
        run_command(EARLY)
    finally:
        # The command's work is done and its files written: tell the garbage
        # collector to leave every object as it is, so the interpreter's exit
        # does not walk them all again (0.05-0.1 s, the more the more is loaded).
        import gc

        gc.freeze()


def run_command(early: list[int] | None = None) -> None:
    """Run the command line (``early``: the signals noted while the modules
    were imported; it keeps filling until
    the command installs its own handlers). Click's usage errors (an unknown
    option, a missing argument, a bad option value) are one line on stderr,
    exit 2, like every other error, instead of Typer's boxed message."""
    import sys

    from optrun.cli import app
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
