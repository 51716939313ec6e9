"""The ``optrun`` command's entry point (also ``python -m optrun``).

Its first lines catch SIGINT and SIGTERM, before the command's modules are
imported (about 0.3 s of typer, rich, numpy and autograd): a signal in that
window is noted, and the command then ends with one line and exit status
128 + signal, never a traceback or a silent death by SIGTERM. Only Python's
own start-up, before this module runs, is outside it. Importing ``optrun``
as a library installs nothing.
"""

import signal

EARLY: list[int] = []  # signals that came before the command took over


def _note(signum, frame) -> None:
    EARLY.append(signum)


def main() -> None:
    """Catch signals, then run the command (optrun.cli.main)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _note)
    from optrun.cli import main as cli_main

    try:
        cli_main(EARLY)
    finally:
        # The command's work is done and its files written: tell the garbage
        # collector to leave every object as it is, so the interpreter's exit
        # does not walk them all again (0.05-0.1 s, the more the more is loaded).
        import gc

        gc.freeze()
