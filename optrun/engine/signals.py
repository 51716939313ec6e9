"""Signals (SIGINT, SIGTERM) for a command: a signal never kills optrun with
a traceback or half-written files; it is recorded, a run in progress stops
at the next iteration boundary (:class:`~optrun.core.runner.SignalFlag`),
and the command reports where it stopped.

:func:`run_signals` is one run's handling (in-process, a pool worker, a
test); :func:`stoppable` is a whole command's body (run, sweep, check, bench);
:func:`stops_at_once` is the body of a command with nothing to finish
gracefully (show, plot, compare, report, list-*, describe).
"""

from __future__ import annotations

import contextlib
import contextvars
import signal
import threading
from collections.abc import Iterator
from typing import Any


class StoppedBySignal(Exception):
    """SIGINT/SIGTERM stopped the command before it recorded anything."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


# The flag of a run in a thread that cannot receive signals (a Dask task): something else sets its signum
# (optrun.engine.remote's watch of the client's stop event); the run stops at its next iteration as on a signal.
OUTER_FLAG: contextvars.ContextVar[Any] = contextvars.ContextVar("optrun_outer_flag", default=None)

# optrun.core.runner (numpy, autograd) is imported inside the functions:
# optrun.entry.run_command imports this module for every command, `--help` too.


@contextlib.contextmanager
def run_signals() -> Iterator[Any]:
    """SIGINT and SIGTERM end the run like Ctrl-C (main thread only). An
    outer scope's handler (a command's, a pool worker's) is used as it is:
    a signal that came before this run stops it before it starts."""
    from optrun.core.runner import SignalFlag

    if threading.current_thread() is not threading.main_thread():
        yield OUTER_FLAG.get()  # a Dask task's stop flag (optrun.engine.remote), else None: no handling
        return
    current = signal.getsignal(signal.SIGINT)
    if isinstance(current, SignalFlag) and signal.getsignal(signal.SIGTERM) is current:
        yield current
        return
    flag = SignalFlag()
    flag.armed = False  # armed only where its one KeyboardInterrupt is caught
    previous = {sig: signal.signal(sig, flag) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


WHOLE_PROCESS = False  # set by optrun.entry.run_command: the command is all this process does
# set by optrun.entry.run_command: signals that came while optrun was starting (optrun.entry notes them)
EARLY: list[int] = []


@contextlib.contextmanager
def stoppable() -> Iterator[Any]:
    """SIGINT/SIGTERM for the body of run, sweep and check: from its start to
    its end a signal is recorded (a run in progress stops, see optrun.engine.record),
    never a traceback or a silent death. Yields the flag that records it.
    When the command is the whole process, the handler is swapped for SIG_IGN
    at the end, so there is no moment, up to the exit, at which a signal would
    kill it after it has reported (and nothing is left to stop then: pools are
    shut down)."""
    if not WHOLE_PROCESS:  # in-process (tests, CliRunner): restore the handlers afterwards
        with run_signals() as flag:
            yield flag
        return
    from optrun.core.runner import SIGNALS, SignalFlag

    flag = SignalFlag(armed=False)
    for sig in SIGNALS:
        signal.signal(sig, flag)
    if EARLY:  # a signal came while the command was starting: stop before doing anything
        raise StoppedBySignal(
            f"interrupted by {signal_name(EARLY[0])} before the command started; nothing was recorded", EARLY[0]
        )
    try:
        yield flag
    finally:
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


@contextlib.contextmanager
def armed(flag: Any, at_once: bool = False) -> Iterator[None]:
    """Let ``flag`` (a :class:`~optrun.core.runner.SignalFlag`, or None: no
    handling) raise while inside: one KeyboardInterrupt on a second signal
    (a run's loop stops at the first by itself), or on the first with
    ``at_once`` (plots, calibration: nothing to stop gracefully). The code
    inside catches it; outside, a signal is only recorded."""
    if flag is None:
        yield
        return
    flag.armed, flag.at_once = True, at_once
    try:
        yield
    finally:
        flag.armed = flag.at_once = False


@contextlib.contextmanager
def stops_at_once(nothing: str) -> Iterator[None]:
    """SIGINT/SIGTERM for the body of a command that only reads and draws
    (show, plot, compare, report, list-problems, describe): a signal raises
    at once, even out of a read that blocks (a FIFO), and the command ends
    with :class:`StoppedBySignal` (exit 128 + signal; ``nothing`` says what
    was left unwritten). Files are written atomically, so a signal leaves
    each whole or untouched. As in :func:`stoppable`, a signal that came
    while the command was starting stops it before it begins, and the
    handlers are SIG_IGN after its end when the command is the whole
    process (a second signal while it reports is only recorded). What it
    had not yet written to stdout is dropped: a reader that stopped reading
    (a paused pager, a full pipe) cannot hold the stopped command."""
    from optrun.core.runner import SIGNALS, SignalFlag

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    flag = SignalFlag(armed=True)
    flag.at_once = True  # raises once; a second signal while it is reported only records
    previous = {sig: signal.signal(sig, flag) for sig in SIGNALS}
    try:
        if WHOLE_PROCESS and EARLY:
            raise StoppedBySignal(
                f"interrupted by {signal_name(EARLY[0])} before the command started; {nothing}", EARLY[0]
            )
        try:
            yield
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", None) or flag.signum or signal.SIGINT
            if WHOLE_PROCESS:
                _drop_stdout()
            raise StoppedBySignal(f"interrupted by {signal_name(signum)}; {nothing}", signum) from None
        if flag.signum is not None:  # a signal the command's own code caught (user problem files): it still stops
            raise StoppedBySignal(f"interrupted by {signal_name(flag.signum)}; {nothing}", flag.signum)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, signal.SIG_IGN if WHOLE_PROCESS else old)


def _drop_stdout() -> None:
    """Send the rest of this process's stdout to /dev/null (its buffer is flushed at the exit)."""
    import os
    import sys

    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # no stdout, or not a real file
        pass
