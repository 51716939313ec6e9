"""The Dask executor (``--dask ADDRESS``): runs on a Dask cluster, which
shares nothing with this machine but the network.

A function with a remote form (:mod:`optrun.engine.remote`: a sweep's
runs, a check's configs) is packed here into a task that carries every
file its run reads (up to 1 MB with the task, larger files sent to every
worker once); its run directory comes back and is written here. Any other
function is sent as it is.

Faults: a worker that dies mid-run has its task rescheduled by Dask (its
scratch folder dies with it: the run is recorded here once, from the run
that finished), and a task whose large files died with their workers is
sent again; a task whose workers keep dying (Dask's ``KilledWorker``) and
a run whose files cannot come back (its worker left, a full disk here) are
lost calls, each with why; a scheduler that goes away ends the map with
:attr:`Finished.error`, keeping every result that came back. A signal here
sets the stop event the running runs watch (they end at their next
iteration and leave nothing) and cancels the rest.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from optrun.core.errors import ConfigError, OptrunError, RunIOError
from optrun.core.runner import SignalFlag
from optrun.engine.executor_base import POLL_SECONDS, Call, Executor, Finished, OnResult, Request, register_executor
from optrun.engine.remote import REMOTE_FORMS, Fetch, Files

MAX_LOCAL_WORKERS = 256  # --dask local:N
SCHEDULER_GONE = ("connecting", "closing", "closed", "failed")  # Client.status once it lost its scheduler
CONNECT_SECONDS = 20.0  # a scheduler address that does not answer in this time is an error
WAIT_FOR_WORKERS = 120.0  # seconds a scheduler with no workers yet gets to have one
INLINE_SHIP_BYTES = 1 << 20  # a task's files up to this go with it; larger ones are scattered once
RESUBMITS = 3  # times a task whose shipped files were lost with their workers is sent again


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


def dask_client(address: str, flag: SignalFlag | None = None) -> tuple[Any, Any]:
    """A Dask client and its cluster: ``local:N`` starts a LocalCluster of N
    processes on loopback; anything else is a running scheduler's address
    (no cluster of ours), given :data:`CONNECT_SECONDS` to answer."""
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
            dashboard_address=":0",  # (a free port: never the warning that 8787 is taken)
            silence_logs=logging.CRITICAL,  # optrun says what went wrong, in one line
        )
        return Client(cluster), cluster
    found: dict[str, Any] = {}

    def connect() -> None:  # in a thread: distributed's handshake has no timeout (a server that never answers)
        try:
            found["client"] = Client(address, timeout="10s")
        except BaseException as exc:  # a server that is not a scheduler: anything, MemoryError included
            found["error"] = exc

    thread = threading.Thread(target=connect, name="optrun-dask-connect", daemon=True)
    thread.start()
    deadline = time.monotonic() + CONNECT_SECONDS
    while thread.is_alive() and time.monotonic() < deadline:
        thread.join(POLL_SECONDS)
        if flag is not None and flag.signum is not None:
            raise KeyboardInterrupt
    if "client" in found:
        return found["client"], None
    error = found.get("error")
    if error is None:
        why = f"no answer in {CONNECT_SECONDS:g} s"
    elif isinstance(error, (OSError, TimeoutError)):  # refused, unreachable, a name that does not resolve
        why = " ".join(str(error).split())[:200]
    else:  # what the handshake made of another server's bytes (a MemoryError for a length it read from a banner)
        why = "the server there does not speak Dask's protocol"
    raise RunIOError(
        f"cannot reach a Dask scheduler at {address} ({why}): give the scheduler's address "
        "(dask scheduler prints it; port 8786 by default, not the dashboard's)"
    )


@register_executor
@dataclass
class DaskCluster(Executor):
    """Calls go to Dask workers (threads of other processes: a signal there
    cannot reach a call). A signal here sets the stop event the runs watch
    (they stop at their next iteration, leaving nothing), cancels what did not
    finish and closes the client and a local cluster; the calls cut that way
    are ``lost``."""

    address: str
    name: ClassVar[str] = "dask"

    @classmethod
    def wanted(cls, request: Request) -> Executor | None:
        return cls(request.dask) if request.dask is not None and not request.vectorize else None

    def map(
        self, fn: Callable[..., Any], calls: Sequence[Call], on_result: OnResult, flag: SignalFlag | None
    ) -> Finished:
        client = cluster = None
        ship = None
        signum = None
        error = ""
        lost: dict[int, str] = {}
        with contextlib.ExitStack() as stack:
            stack.enter_context(_quiet_logs())
            try:
                client, cluster = dask_client(self.address, flag)
                stack.callback(_close, client, cluster)
                _wait_for_workers(client, self.address, flag)
                ship = _Shipping(client, fn, calls)
                for i in range(len(calls)):
                    ship.submit(i, on_result)
                while ship.pending and signum is None and not error:
                    for i in ship.finished():
                        ship.hand_over(i, on_result, lost)
                    if client.status in SCHEDULER_GONE:
                        error = f"lost the Dask scheduler at {self.address}"
                    else:
                        lost.update(ship.resubmit_cancelled())  # their shipped files died with a worker
                        if flag is not None and flag.signum is not None:
                            signum = flag.signum
                        else:
                            time.sleep(POLL_SECONDS)
                if signum is not None:
                    ship.stop()
                    for i in ship.finished():
                        ship.hand_over(i, on_result, lost)
            except KeyboardInterrupt as exc:  # a signal while connecting (or no handler of ours: not the main thread)
                signum = getattr(exc, "signum", None) or (flag.signum if flag is not None else None) or signal.SIGINT
        pending = ship.pending if ship is not None else {}
        why = "cancelled by the stop" if signum is not None else error
        if why:
            lost.update(dict.fromkeys(pending, why))
        not_started = frozenset(range(len(calls))) - set(lost) - (ship.submitted if ship is not None else set())
        return Finished(signum, not_started if signum is not None else frozenset(), lost, error)


class _Shipping:
    """The calls of one map as Dask tasks: each packed by its remote form
    (its files inline when small, else scattered to every worker once), a
    task whose files died with their workers sent again (up to
    :data:`RESUBMITS` times), and the stop event the runs watch."""

    def __init__(self, client: Any, fn: Callable[..., Any], calls: Sequence[Call]):
        self.client, self.fn, self.calls = client, fn, calls
        self.form = REMOTE_FORMS.get(fn)
        self.fetch = _fetcher(client)
        self.stamp = f"{os.getpid()}-{time.time_ns()}"
        self.stop_event = f"optrun-stop-{self.stamp}"
        self.pending: dict[int, Any] = {}  # call -> its future
        self.submitted: set[int] = set()
        self.packed: dict[int, tuple[Call, Files]] = {}
        self.tries: dict[int, int] = {}
        self.scattered: dict[str, Any] = {}  # sha256 -> the future of a large file on the cluster

    def submit(self, i: int, on_result: OnResult) -> None:
        self.submitted.add(i)
        if self.form is None:
            self.pending[i] = self.client.submit(self.fn, *self.calls[i], key=self._key(i), pure=False)
            return
        try:
            self.packed[i] = self.form.pack(*self.calls[i])
        except OptrunError:  # its config no longer loads: it fails here, as it would anywhere
            on_result(i, self.fn(*self.calls[i]))
            return
        self._send(i)

    def _send(self, i: int) -> None:
        call, files = self.packed[i]
        if sum(map(len, files.values())) > INLINE_SHIP_BYTES:  # sent to every worker once, not with each task
            files = {sha: self._scatter(sha, data) for sha, data in files.items()}
        self.tries[i] = self.tries.get(i, 0) + 1
        assert self.form is not None
        self.pending[i] = self.client.submit(self.form.run, *call, files, self.stop_event, key=self._key(i), pure=False)

    def _key(self, i: int) -> str:
        return f"optrun-{i:04d}-{self.tries.get(i, 0)}-{self.stamp}"

    def _scatter(self, sha: str, data: bytes) -> Any:
        if sha not in self.scattered or self.scattered[sha].status != "finished":
            self.scattered[sha] = self.client.scatter(data, hash=False, broadcast=True)
        return self.scattered[sha]

    def finished(self) -> list[int]:
        return sorted(i for i, future in self.pending.items() if future.status in ("finished", "error"))

    def hand_over(self, i: int, on_result: OnResult, lost: dict[int, str]) -> None:
        """Call ``i``'s value (its run directory written here) to ``on_result``;
        a call Dask gave up on (its workers kept dying) is lost."""
        from distributed import KilledWorker

        future = self.pending.pop(i)
        try:
            value = future.result()  # raises the call's error (or Dask's own)
        except KilledWorker:
            lost[i] = (
                "its worker died each time Dask ran it (KilledWorker: is optrun installed there? see the workers' logs)"
            )
            return
        except Exception as exc:
            if self.form is None:
                raise
            # a remote form's run never raises: this is the worker's (optrun missing there, another version)
            lost[i] = f"its worker could not run it: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            return
        finally:
            future.release()  # the worker forgets the result (a run's files): its memory stays bounded too
        on_result(i, value if self.form is None else self.form.unpack(self.calls[i], value, self.fetch))

    def resubmit_cancelled(self) -> dict[int, str]:
        """Send again the tasks Dask cancelled while the scheduler is up (a
        large file they needed was lost with the workers holding it); lost:
        those sent :data:`RESUBMITS` times already."""
        lost = {}
        for i in [i for i, future in self.pending.items() if future.status == "cancelled"]:
            del self.pending[i]
            if self.tries[i] > RESUBMITS:
                lost[i] = f"the files shipped with it were lost with their workers {RESUBMITS + 1} times"
            else:
                self._send(i)
        return lost

    def stop(self) -> None:
        """Ctrl-C here: the running runs stop at their next iteration (the
        event they watch), the others are cancelled."""
        from distributed import Event

        with contextlib.suppress(Exception):
            Event(self.stop_event, client=self.client).set()
        self.client.cancel(list(self.pending.values()))


def _wait_for_workers(client: Any, address: str, flag: SignalFlag | None) -> None:
    """A scheduler with no workers yet (a batch system still starting them)
    gets :data:`WAIT_FOR_WORKERS` seconds to have one."""
    deadline = time.monotonic() + WAIT_FOR_WORKERS
    while not client.scheduler_info().get("workers"):
        if flag is not None and flag.signum is not None:
            raise KeyboardInterrupt
        if time.monotonic() > deadline:
            raise RunIOError(
                f"the Dask scheduler at {address} has no workers (waited {WAIT_FOR_WORKERS:g} s): "
                f"start some with  dask worker {address}"
            )
        time.sleep(0.25)


def _close(client: Any, cluster: Any) -> None:
    with contextlib.suppress(Exception):
        client.close(timeout=5)
    with contextlib.suppress(Exception):
        if cluster is not None:
            cluster.close(timeout=5)  # a local worker still in a call is killed after 4 s


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
