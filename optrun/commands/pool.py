"""The local process pool shared by ``optrun check``, ``optrun sweep`` and
the calibration of expectations.

Workers are spawned (not forked: a forked multi-threaded BLAS can deadlock).
Each run sets its BLAS thread count itself (:mod:`optrun.core.machine`, one
setting for every executor), so a pool of N workers running one BLAS thread
each does not oversubscribe the cores and gives the same numbers as a run in
this process. ``environment`` sets variables that must be there before NumPy
loads in a worker (the calibration's ``OPENBLAS_CORETYPE``).

Signals. A worker starts with SIGINT and SIGTERM blocked (inherited from the
spawning thread) until its handler is installed, so a Ctrl-C while it starts
is handled, not a traceback. A run in progress in a worker handles SIGINT and
SIGTERM like ``optrun run`` (it ends ``interrupted``, summary written); an
idle worker remembers the signal and refuses its next task (so a stopped pool
starts nothing new), and after a SIGTERM it exits as soon as it is idle. A
worker whose parent dies (SIGKILL, a crash) exits by itself within a second:
a watcher thread sees its parent change (and on Linux the kernel kills it at
once, ``PR_SET_PDEATHSIG``). :func:`run_calls` runs tasks and, on a signal to
this process, stops the pool: pending tasks are cancelled, running ones are
sent the signal and given a few seconds to record themselves, then every
worker is killed; it never waits on a worker that does not stop.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterator, Mapping, Sequence

from optrun.core.runner import SIGNALS, Interrupted, SignalFlag

POLL_SECONDS = 0.1  # how often the parent looks at its signal flag, and a worker at its parent
GRACE_SECONDS = 3.0  # after a stop: running tasks get this long to record themselves, then the signal again
KILL_SECONDS = 6.0  # ... and the workers are killed after this long


# ------------------------------------------------------------ in a worker
class _WorkerSignals(SignalFlag):
    """A worker's SIGINT/SIGTERM handler; its runs use it as their own."""

    def __init__(self) -> None:
        super().__init__(armed=False)
        self.busy = False
        self.idle_since = time.monotonic()
        self.terminated = False

    def __call__(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGTERM:
            self.terminated = True  # the watcher ends the worker once it is idle
        super().__call__(signum, frame)


_worker: _WorkerSignals | None = None


def _watch(parent: int, flag: _WorkerSignals) -> None:
    """Exit when the parent is gone, or after a SIGTERM once idle (its last
    result had time to be sent)."""
    while True:
        time.sleep(POLL_SECONDS)
        if os.getppid() != parent:
            os._exit(1)
        if flag.terminated and not flag.busy and time.monotonic() - flag.idle_since > 3 * POLL_SECONDS:
            os._exit(128 + signal.SIGTERM)


def _die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this worker when its parent dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the watcher thread still ends orphans


def _init_worker(parent: int) -> None:
    global _worker
    _worker = _WorkerSignals()
    for sig in SIGNALS:
        signal.signal(sig, _worker)
    _die_with_parent()
    threading.Thread(target=_watch, args=(parent, _worker), name="optrun-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the watcher started
        os._exit(1)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)  # a signal that came while starting is handled now


def _task(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one task in a worker; refused once the worker got a signal."""
    flag = _worker
    if flag is None:
        return fn(*args, **kwargs)
    if flag.signum is not None:
        raise Interrupted(flag.signum)
    flag.busy = True
    try:
        return fn(*args, **kwargs)
    finally:
        flag.idle_since = time.monotonic()
        flag.busy = False


# ------------------------------------------------------------ in the parent
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


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Block SIGINT/SIGTERM in this thread (workers spawned now inherit the
    mask); a signal that came meanwhile is handled when it ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class _Pool(ProcessPoolExecutor):
    def submit(self, fn, /, *args, **kwargs) -> Future:
        with _signals_blocked():  # a worker may be spawned here
            return super().submit(_task, fn, *args, **kwargs)

    def worker_pids(self) -> list[int]:
        return list(getattr(self, "_processes", None) or {})

    def signal_workers(self, signum: int) -> None:
        for pid in self.worker_pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    def kill(self) -> None:
        """SIGKILL every worker and release the pool: never waits on a worker."""
        processes = list((getattr(self, "_processes", None) or {}).values())
        for process in processes:
            with contextlib.suppress(Exception):
                process.kill()
        for process in processes:
            with contextlib.suppress(Exception):
                process.join(timeout=5)
        self.shutdown(wait=True, cancel_futures=True)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of spawned workers (processes start on first submit)."""
    return _Pool(max_workers=workers, initializer=_init_worker, initargs=(os.getpid(),),
                 mp_context=multiprocessing.get_context("spawn"))


def run_calls(fn: Callable[..., Any], calls: Sequence[tuple], workers: int, on_result: Callable[[int, Any], None],
              flag: SignalFlag | None) -> tuple[int | None, set[int], set[int]]:
    """Run ``fn(*calls[i])`` in a pool of ``workers``; ``on_result(i, value)``
    in this thread as each finishes (an exception from ``fn`` other than an
    interruption is raised here, after the pool is stopped).

    A signal recorded in ``flag`` (or a task interrupted in a worker) stops
    the pool: see the module docstring. Returns (the signal that stopped it or
    None, indices that never started, indices that were running and left no
    result (killed))."""
    pool = process_pool(min(workers, len(calls)))
    futures: dict[Future, int] = {}
    stopped: int | None = None
    not_started: set[int] = set()
    lost: set[int] = set()
    error: BaseException | None = None

    def collect(future: Future) -> None:
        nonlocal stopped, error
        i = futures[future]
        if future.cancelled():
            not_started.add(i)
            return
        exc = future.exception()
        if exc is None:
            on_result(i, future.result())
        elif isinstance(exc, KeyboardInterrupt):  # refused by a worker that got a signal
            not_started.add(i)
            if stopped is None:
                stopped = getattr(exc, "signum", signal.SIGINT)
        elif stopped is not None and isinstance(exc, BrokenProcessPool):  # a stopping worker exited first
            lost.add(i)
        elif error is None:
            error = exc

    try:
        for i, args in enumerate(calls):
            futures[pool.submit(fn, *args)] = i
        pending = set(futures)
        while pending and stopped is None and error is None:
            if flag is not None and flag.signum is not None:
                stopped = flag.signum
                break
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                collect(future)
        if stopped is not None or error is not None:
            pending = {f for f in pending if not f.cancel()}  # never started: cancelled
            signum = stopped or signal.SIGTERM
            pool.signal_workers(signum)  # running runs end as interrupted, idle workers start nothing more
            count = flag.count if flag is not None else 0
            start = time.monotonic()
            again = False
            while pending:
                done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                for future in done:
                    collect(future)
                waited = time.monotonic() - start
                more = flag is not None and flag.count > count  # another signal: hurry
                if pending and not again and (waited > GRACE_SECONDS or more):
                    pool.signal_workers(signum)  # a second signal: the runs stop at once
                    again, count = True, flag.count if flag is not None else 0
                elif pending and (waited > KILL_SECONDS or (again and more)):
                    break
        lost |= {futures[f] for f in futures if not f.done()}
    finally:
        if stopped is not None or error is not None or any(not f.done() for f in futures):
            pool.kill()
        else:
            pool.shutdown(wait=True)
    if error is not None:
        raise error
    return stopped, not_started, lost
