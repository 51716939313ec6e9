"""The local process pool shared by ``optrun check`` and ``optrun sweep``.

Workers are spawned (not forked) with one BLAS thread each: N processes
each running multi-threaded BLAS oversubscribe the cores (measured: a pool of
2 was slower than 1 process on 2 cores). The variables must be set before
NumPy loads in the worker, hence spawn. Idle workers ignore Ctrl-C; a run in
progress handles it itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from typing import Iterator

SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def single_threaded_env() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in SINGLE_THREADED}
    os.environ.update(SINGLE_THREADED)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of spawned, single-BLAS-thread workers (processes start on first submit)."""
    return ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint, mp_context=multiprocessing.get_context("spawn"))
