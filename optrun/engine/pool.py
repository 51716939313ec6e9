"""The local process pool of ``optrun check``, ``optrun sweep`` and the
calibration of expectations, on :class:`concurrent.futures.ProcessPoolExecutor`.

Workers are spawned (a forked multi-threaded BLAS can deadlock). Each run
sets its BLAS thread count itself (:mod:`optrun.core.machine`), so N workers
of one BLAS thread each do not oversubscribe the cores and compute what a run
in this process computes. ``environment`` sets variables a worker needs
before NumPy loads (the calibration's ``OPENBLAS_CORETYPE``).

The executor starts, feeds and reaps the workers. What it cannot do is kept
here, one reason each:

- This process runs calls too, from the start: a spawned worker needs 0.5-1 s
  (2-3 s on a loaded machine) to import NumPy, autograd, pydantic and optrun.
- Helpers start only once the calls left would keep this process busy longer
  than one takes to start (``HELPER_COST_SECONDS``), so a short sweep pays for none.
- A helper takes calls only once warmed up (``_warm_up``): an executor hands
  calls to a worker still importing, and they wait for it.
- One executor of one worker per helper: a worker that dies breaks every
  pending future of its executor, so a dying helper loses only its own call.
- Helpers start sessions of their own (``setsid``): Linux's autogroup shares
  the CPU per session first, and beside a busy session 2 workers left in the
  user's session were slower than 1 (0.70-0.95x).
- Workers die with this process (``PR_SET_PDEATHSIG``, and a watcher thread
  where the kernel cannot): an executor's worker busy with a call outlives a
  SIGKILLed parent.
- Signals end a run in a worker as they end ``optrun run`` (``interrupted``,
  summary written), and a worker that is slow to stop is killed after a grace
  period: an executor's shutdown waits for every running call, or kills it unrecorded.
- Helpers are ended with SIGKILL once their calls are back: a normal exit
  spends 0.1-0.5 s tearing the interpreter down while the sweep waits.

Signals in detail. A worker blocks SIGINT and SIGTERM (the mask of the thread
that spawned it) until its handler is installed, so a Ctrl-C while it starts
is no traceback; once it got a signal it refuses its next task, and after a
SIGTERM it exits once idle. Helpers are out of the terminal's process group:
Ctrl-C reaches this process, and :func:`run_calls` hands out nothing more,
sends the signal on, gives running calls ``GRACE_SECONDS`` to record themselves,
sends it again, kills the helpers after ``KILL_SECONDS`` (at once on a further
signal). No worker outlives :func:`run_calls`.

Why not loky (joblib's executor; loky 3.7.0, Python 3.11, 2 cores). A worker
that dies breaks its whole executor there too (SIGKILL one of 2 workers running
3-s calls: both futures raise TerminatedWorkerError, the other worker is
killed, new work is refused), so it would also need one executor per helper.
Its workers busy with a call outlived a SIGKILLed parent (running 10 s later,
as the standard executor's), it forwards no signal, and ``kill_workers``
SIGKILLs at once. Its reusable executor keeps warm workers across calls, but
a command calls :func:`run_calls` once, and a worker's start-up (spawn, then
import ``optrun.engine.record``) was no faster beyond this machine's noise:
median 0.45 s, against 0.52-0.55 s for the standard one (each 0.36-0.85 s).
It would add a dependency and replace none of what is kept above.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from queue import Empty, SimpleQueue
from typing import Any

from optrun.core.runner import SIGNALS, Interrupted, SignalFlag

POLL_SECONDS = 0.1  # how often the parent looks at its signal flag, and a worker at its parent
GRACE_SECONDS = 3.0  # after a stop: running tasks get this long to record themselves, then the signal again
KILL_SECONDS = 6.0  # ... and the workers are killed after this long
# run_calls looks this often whether helpers are worth starting (a sweep over sooner starts none):
HELPERS_AFTER_SECONDS = 0.15
# ... they are when the calls left would keep this process busy longer than a helper takes to start:
HELPER_COST_SECONDS = 1.0


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


def _init_worker(parent: int) -> None:
    global _worker
    _worker = _WorkerSignals()
    for sig in SIGNALS:
        signal.signal(sig, _worker)
    try:  # Linux: the kernel SIGKILLs this worker when the thread that started it ends (see run_calls)
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the watcher thread still ends orphans
    with contextlib.suppress(OSError):  # already a session leader, or not allowed: it shares the caller's
        os.setsid()  # its own CPU share under Linux's autogroup (module docstring)
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


def _warm_up(fn: Callable[..., Any]) -> None:
    """A helper's first task: receiving ``fn`` imports its module; every pool
    task executes runs, so the run's modules (NumPy, autograd, pydantic, the
    registries) are loaded too."""
    from optrun.engine import record  # noqa: F401


# ------------------------------------------------------------ in the parent
@contextlib.contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables while workers are spawned (they inherit them)."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        os.environ.update({key: value for key, value in saved.items() if value is not None})
        for key in [key for key, value in saved.items() if value is None]:
            os.environ.pop(key, None)


class _Pool(ProcessPoolExecutor):
    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Run ``fn`` through ``_task``, with SIGINT/SIGTERM blocked in this
        thread while a worker may be spawned (it inherits the mask until its
        handler is installed); a signal that came meanwhile is handled after."""
        old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            return super().submit(_task, fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of spawned workers (processes start on first submit)."""
    return _Pool(
        max_workers=workers,
        initializer=_init_worker,
        initargs=(os.getpid(),),
        mp_context=multiprocessing.get_context("spawn"),
    )


class _Calls:
    """The calls of :func:`run_calls`, handed out in order under ``lock`` by
    this thread and by the helpers' callbacks (a helper that finishes a call
    takes the next at once, even while this thread runs one of its own)."""

    def __init__(self, fn: Callable[..., Any], calls: Sequence[tuple]) -> None:
        self.fn, self.calls = fn, calls
        # re-entrant: a task done at once runs its callback, which takes the lock, in the thread that submitted it
        self.lock = threading.RLock()
        self.next = 0  # the calls before it were handed out
        self.closed = False  # after a stop nothing more is handed out
        self.running: dict[Future, int] = {}  # the helpers' calls not back yet
        self.back: SimpleQueue[tuple[int, Future, _Helper]] = SimpleQueue()  # ... and those back

    def take(self) -> int | None:
        """The next call, for this thread to run."""
        with self.lock:
            if self.closed or self.next >= len(self.calls):
                return None
            self.next += 1
            return self.next - 1

    def close(self) -> range:
        """Hand out nothing more (nor start a helper); returns the calls never handed out."""
        with self.lock:
            self.closed = True
            return range(self.next, len(self.calls))


class _Helper:
    """One helper process, in an executor of its own (module docstring)."""

    def __init__(self, calls: _Calls) -> None:
        self.calls = calls
        self.pool = process_pool(1)
        warm = self.pool.submit(_warm_up, calls.fn)  # starts the process
        [self.process] = self.pool._processes.values()
        self.pid: int = self.process.pid  # type: ignore[assignment]  # (None only before it started)
        warm.add_done_callback(self._next)

    def _next(self, finished: Future) -> None:
        """(Its executor's thread.) Take the next call, unless the task failed (refused after a signal, or died)."""
        if finished.cancelled() or finished.exception() is not None:
            return
        calls = self.calls
        with calls.lock:
            i = calls.next
            if calls.closed or i >= len(calls.calls):
                return
            try:
                future = self.pool.submit(calls.fn, *calls.calls[i])
            except Exception:  # the pool broke or is closing: the call stays for this thread to run
                return
            calls.next += 1
            calls.running[future] = i
        future.add_done_callback(lambda done: self._back(i, done))

    def _back(self, i: int, future: Future) -> None:
        with self.calls.lock:  # in back before out of running: run_calls waits while either holds it
            self.calls.back.put((i, future, self))
            del self.calls.running[future]
        self._next(future)

    def signal(self, signum: int) -> None:
        if self.process.exitcode is None:  # (reaps it if it died: its pid cannot be another's)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def died(self) -> str:
        self.process.join(timeout=1)  # its exit status is known once it is reaped
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"its worker process (pid {self.pid}) was killed by {signal.Signals(-code).name}"
        return f"its worker process (pid {self.pid}) died (exit status {code})"

    def close(self) -> None:
        """SIGKILL and reap it, never waiting on it: by now it runs nothing (its
        calls are back, their files written) or nothing worth waiting for."""
        self.process.kill()
        self.process.join(timeout=5)
        self.pool.shutdown(wait=True, cancel_futures=True)


def run_calls(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    workers: int,
    on_result: Callable[[int, Any], None],
    flag: SignalFlag | None,
) -> tuple[int | None, set[int], dict[int, str]]:
    """Run ``fn(*calls[i])`` on ``workers`` cores; ``on_result(i, value)``
    in this thread as each finishes (an exception from ``fn`` other than an
    interruption is raised here, after the helpers are stopped).

    This process runs calls itself, in order, from the start; ``workers - 1``
    helpers start once worth it and take calls, one at a time, once warmed
    up. A helper that dies (SIGKILL, a crash) loses only the call it was
    running; the others go on. A signal recorded in ``flag`` (or a call
    interrupted in a helper) stops the helpers: see the module docstring.

    Returns (the signal that stopped it or None, indices that never started,
    indices that were running and left no result -> why: killed after the
    stop, or their process died)."""
    stopped: int | None = None
    not_started: set[int] = set()
    lost: dict[int, str] = {}
    error: BaseException | None = None
    queue = _Calls(fn, calls)
    helpers: list[_Helper] = []  # added by the starter thread under queue.lock; final once queue is closed
    began, done_here = time.monotonic(), 0  # done_here: calls this thread finished
    released = threading.Event()  # the helpers are closed: the starter thread may end

    def worth_helpers() -> bool:
        """Whether the calls left would keep this process busy for longer than
        a helper takes to start (at least as long per call as so far)."""
        per_call = (time.monotonic() - began) / max(done_here, 1)
        return per_call * (len(calls) - queue.next) > HELPER_COST_SECONDS

    def start_helpers() -> None:
        """(The starter thread.) Start the helpers once worth it, unless every
        call is handed out or stopped first; then live until they are closed:
        the kernel's parent-death signal follows the thread that started a
        process (had it ended first, a helper was SIGKILLed at once)."""
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)  # helpers inherit the mask (see _init_worker)
        try:
            while not released.wait(HELPERS_AFTER_SECONDS) and not queue.closed and not worth_helpers():
                pass
            for _ in range(min(workers, len(calls)) - 1):
                with queue.lock:
                    if queue.closed or queue.next >= len(calls):
                        return
                    helpers.append(_Helper(queue))
        finally:
            released.wait()

    starter = threading.Thread(target=start_helpers, name="optrun-helper-starter", daemon=True)

    def collect(timeout: float = 0.0) -> None:
        """Hand over, in this thread, what the helpers' calls brought back
        (waiting up to ``timeout`` for one)."""
        nonlocal stopped, error
        back = []
        with contextlib.suppress(Empty):
            back.append(queue.back.get(timeout=timeout))
            while True:
                back.append(queue.back.get_nowait())
        for i, future, helper in back:
            exc = future.exception()
            if exc is None:
                on_result(i, future.result())
            elif isinstance(exc, KeyboardInterrupt):  # refused by a helper that got a signal
                not_started.add(i)
                stopped = stopped or getattr(exc, "signum", signal.SIGINT)
            elif isinstance(exc, BrokenProcessPool):  # its process died: killed by the stop, or on its own
                lost[i] = helper.died()
            elif error is None:
                error = exc

    try:
        if min(workers, len(calls)) > 1:
            starter.start()
        while True:
            collect()
            if flag is not None and flag.signum is not None and stopped is None:
                stopped = flag.signum
            if stopped is not None or error is not None:
                break
            i = queue.take()
            if i is None and not queue.running:
                break
            if i is None:
                collect(POLL_SECONDS)
                continue
            try:
                value = fn(*calls[i])
            except KeyboardInterrupt as exc:  # refused to start: the signal came just before it
                not_started.add(i)
                stopped = getattr(exc, "signum", signal.SIGINT)
            except Exception as exc:
                error = exc
            else:
                done_here += 1
                on_result(i, value)
        collect()
        if stopped is not None or error is not None:
            not_started.update(queue.close())
            signum = stopped or signal.SIGTERM
            for helper in helpers:
                helper.signal(signum)  # running calls end as interrupted, idle helpers start nothing more
            count, start, again = flag.count if flag else 0, time.monotonic(), False
            while queue.running:
                collect(POLL_SECONDS)
                waited = time.monotonic() - start
                more = flag is not None and flag.count > count  # another signal: hurry
                if queue.running and not again and (waited > GRACE_SECONDS or more):
                    for helper in helpers:
                        helper.signal(signum)  # a second signal: the runs stop at once
                    again, count = True, flag.count if flag else 0
                elif queue.running and (waited > KILL_SECONDS or (again and more)):
                    break
            collect()
            for i in list(queue.running.values()):
                lost[i] = "its worker process was killed: it did not stop within seconds of the signal"
    finally:
        queue.close()
        for helper in helpers:
            helper.close()
        released.set()
        if starter.is_alive():
            starter.join()
    if error is not None:
        raise error
    return stopped, not_started, lost
