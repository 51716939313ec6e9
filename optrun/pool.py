"""The local process pool shared by ``optrun check``, ``optrun sweep`` and
the calibration of expectations.

Workers are spawned (not forked: a forked multi-threaded BLAS can deadlock).
Each run sets its BLAS thread count itself (:mod:`optrun.machine`, one
setting for every executor), so a pool of N workers running one BLAS thread
each does not oversubscribe the cores and gives the same numbers as a run in
this process. ``environment`` sets variables that must be there before NumPy
loads in a worker (the calibration's ``OPENBLAS_CORETYPE``). Idle workers
ignore Ctrl-C; a run in progress handles it itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from typing import Iterator, Mapping


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables while workers are spawned (they inherit them)."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of spawned workers (processes start on first submit)."""
    return ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint, mp_context=multiprocessing.get_context("spawn"))
