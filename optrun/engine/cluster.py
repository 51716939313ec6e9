"""The Dask executor (``--dask ADDRESS``): runs on a Dask cluster, which
shares nothing with this machine but the network.

A function with a remote form (:mod:`optrun.engine.remote`: a sweep's
runs, a check's configs) is packed here into a task that carries every
file its run reads; its run directory comes back and is written here.
Each distinct file is scattered to the cluster once, not once per task.
Any other function is sent as it is.

Faults: a worker that dies mid-run has its task rescheduled by Dask (its
scratch folder dies with it: the run is recorded here once, from the run
that finished); a task whose workers keep dying (Dask's ``KilledWorker``)
and a run whose files cannot come back (its worker left, a full disk here)
are lost calls, each with why; a scheduler that goes away ends the map
with :attr:`Finished.error`, keeping every result that came back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from optrun.core.errors import ConfigError, OptrunError, RunIOError
from optrun.core.runner import SignalFlag
from optrun.engine.executor_base import POLL_SECONDS, Call, Executor, Finished, OnResult, Request, register_executor
from optrun.engine.remote import REMOTE_FORMS, Fetch, RemoteForm

MAX_LOCAL_WORKERS = 256  # --dask local:N
SCHEDULER_GONE = ("closing", "closed", "failed")  # Client.status once it lost its scheduler for good


def require_dask() -> None:
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--dask needs dask.distributed, which is not installed: pip install -e '.[dask]' in the optrun "
            "checkout (or pip install 'dask[distributed]')"
        ) from None


def check_dask_address(address: str) -> None:
    """Refuse a malformed --dask value before anything is created: ``local:N``
    (1 <= N <= MAX_LOCAL_WORKERS) or ``[protocol://]host:port`` with a
    protocol distributed knows (tcp, tls, ws, wss, ucx, inproc)."""
    require_dask()
    if address.startswith("local:"):
        try:
            n = int(address.split(":", 1)[1])
        except ValueError:
            n = 0
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise ConfigError(f"--dask {address!r}: local:N needs a number of workers N from 1 to {MAX_LOCAL_WORKERS}")
        return
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import backends

    example = "give a scheduler address such as tcp://127.0.0.1:8786 (or host:port), or local:N"
    try:
        protocol, location = parse_address(address)
    except (ValueError, TypeError):
        raise ConfigError(f"--dask {address!r}: not an address; {example}") from None
    if protocol not in backends:
        raise ConfigError(
            f"--dask {address!r}: unknown protocol '{protocol}' (known: {', '.join(sorted(backends))}); {example}"
        )
    if protocol in ("tcp", "tls", "ws", "wss", "ucx"):
        try:
            host, port = parse_host_port(location)
        except (ValueError, TypeError):
            raise ConfigError(f"--dask {address!r}: needs a host and a port number; {example}") from None
        if not host or not 1 <= int(port) <= 65535:
            raise ConfigError(f"--dask {address!r}: needs a host and a port from 1 to 65535; {example}")


def dask_client(address: str) -> tuple[Any, Any]:
    """A Dask client and its cluster: ``local:N`` starts a LocalCluster of N
    processes on loopback; anything else is a running scheduler's address
    (no cluster of ours)."""
    require_dask()
    from dask.distributed import Client, LocalCluster

    check_dask_address(address)
    if address.startswith("local:"):
        n = int(address.split(":", 1)[1])
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.CRITICAL,  # optrun says what went wrong, in one line
        )
        return Client(cluster), cluster
    try:
        return Client(address, timeout="10s"), None
    except (OSError, TimeoutError, ValueError) as exc:
        raise RunIOError(f"cannot reach the Dask scheduler at {address}: {' '.join(str(exc).split())}") from None


@register_executor
@dataclass
class DaskCluster(Executor):
    """Calls go to Dask workers (threads of other processes: a signal there
    cannot reach a call). A signal here cancels what did not finish and
    closes the client and a local cluster, which ends its worker processes;
    the calls cut that way are ``lost``."""

    address: str
    name: ClassVar[str] = "dask"

    @classmethod
    def wanted(cls, request: Request) -> Executor | None:
        return cls(request.dask) if request.dask is not None and not request.vectorize else None

    def map(
        self, fn: Callable[..., Any], calls: Sequence[Call], on_result: OnResult, flag: SignalFlag | None
    ) -> Finished:
        form = REMOTE_FORMS.get(fn)
        stack = contextlib.ExitStack()
        client = cluster = None
        signum = None
        error = ""
        futures: dict[Any, int] = {}
        pending: set[Any] = set()
        lost: dict[int, str] = {}
        try:
            stack.enter_context(_quiet_logs())
            client, cluster = dask_client(self.address)
            fetch = _fetcher(client)
            stamp = f"{os.getpid()}-{time.time_ns()}"
            scattered: dict[str, Any] = {}  # sha256 -> the file's future: each file goes to the cluster once
            for i, call in enumerate(calls):
                key = f"optrun-{i:04d}-{stamp}"
                if form is None:
                    futures[client.submit(fn, *call, key=key, pure=False)] = i
                    continue
                try:
                    call_out, files = form.pack(*call)
                except OptrunError:  # its config no longer loads: it fails here, as it would anywhere
                    on_result(i, fn(*call))
                    continue
                shipped = {sha: _scatter(client, scattered, sha, data) for sha, data in files.items()}
                futures[client.submit(form.run, *call_out, shipped, key=key, pure=False)] = i
            pending = set(futures)
            while pending and signum is None and not error:
                for future in [f for f in pending if f.status in ("finished", "error")]:
                    pending.discard(future)
                    self._hand_over(future, futures[future], calls, form, fetch, on_result, lost)
                if client.status in SCHEDULER_GONE or any(f.status == "cancelled" for f in pending):
                    error = f"lost the Dask scheduler at {self.address}"  # (only it cancels our futures)
                elif flag is not None and flag.signum is not None:
                    signum = flag.signum
                else:
                    time.sleep(POLL_SECONDS)
            if signum is not None:
                client.cancel(list(pending))
                for future in [f for f in pending if f.status == "finished"]:
                    pending.discard(future)
                    self._hand_over(future, futures[future], calls, form, fetch, on_result, lost)
        except KeyboardInterrupt as exc:  # no handler of ours (not the main thread)
            signum = getattr(exc, "signum", signal.SIGINT)
        finally:
            with contextlib.suppress(Exception):
                if client is not None:
                    client.close(timeout=5)
            with contextlib.suppress(Exception):
                if cluster is not None:
                    cluster.close(timeout=5)  # a local worker still in a call is killed after 4 s
            stack.close()
        why = "cancelled by the stop" if signum is not None else error
        if why:
            lost.update({futures[f]: why for f in pending})
        return Finished(signum, frozenset(), lost, error)

    @staticmethod
    def _hand_over(
        future: Any,
        i: int,
        calls: Sequence[Call],
        form: RemoteForm | None,
        fetch: Fetch,
        on_result: OnResult,
        lost: dict[int, str],
    ) -> None:
        """A finished call's value (its run directory written here) to
        ``on_result``; a call Dask gave up on (its workers kept dying) is lost."""
        from distributed import KilledWorker

        try:
            value = future.result()  # raises the call's error (or Dask's own)
        except KilledWorker:
            lost[i] = "its worker died each time Dask ran it (KilledWorker)"
            return
        except Exception as exc:
            if form is None:
                raise
            # a remote form's run never raises: this is the worker's (optrun missing there, another version)
            lost[i] = f"its worker could not run it: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            return
        future.release()  # the worker forgets the result (a run's files): its memory stays bounded too
        on_result(i, value if form is None else form.unpack(calls[i], value, fetch))


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """Dask's own log records (a lost scheduler's tracebacks) are not shown:
    optrun says what went wrong in one line."""
    handlers = [*logging.getLogger("distributed").handlers, *logging.getLogger().handlers]
    mute = logging.Filter("optrun-mutes-distributed")  # passes only that logger, which does not exist
    for handler in handlers:  # (a handler's filter: distributed sets levels on its loggers one by one)
        handler.addFilter(mute)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(mute)


def _scatter(client: Any, scattered: dict[str, Any], sha: str, data: bytes) -> Any:
    if sha not in scattered:
        scattered[sha] = client.scatter(data, hash=False)
    return scattered[sha]


def _fetcher(client: Any) -> Fetch:
    """fetch(worker, fn, *args): ``fn(*args)`` run on that worker (a chunk of
    a file it recorded), or RunIOError if it left the cluster."""

    def fetch(worker: str, fn: Callable[..., Any], *args: Any) -> Any:
        if worker not in client.scheduler_info().get("workers", {}):
            raise RunIOError(f"the worker that recorded it ({worker}) left the cluster before its files came back")
        try:
            return client.run(fn, *args, workers=[worker])[worker]
        except (OSError, KeyError, TimeoutError) as exc:
            raise RunIOError(f"could not read its files back from {worker}: {' '.join(str(exc).split())}") from None

    return fetch
