"""Runs on machines that share no disk with this one (a Dask cluster).

A task for another machine carries everything its run reads, and its run
directory comes back:

- **Out** (:func:`pack`): the config as data (resolved: every default filled
  in, paths absolute), the bytes of the data files it names and the source
  of every user problem file this process loaded, each by its SHA-256 (the
  executor sends each distinct file once per worker), and the BLAS thread
  setting. The backend is part of the config.
- **On the worker** (:func:`opened`, :func:`recorded`): user problems are
  loaded from the shipped source, never from a path the worker happens to
  have; a data path is read from the shipped bytes; no ``problems/`` folder
  of the worker is looked at. The run is recorded in a private scratch
  folder.
- **Back** (:class:`Returned`, :func:`receive`): the run directory's files.
  Small files come back with the task's result; larger ones are read in
  chunks of :data:`CHUNK_BYTES` from the worker that holds them, so the
  client's memory stays bounded. The client writes them with the same
  atomic writers as a local run into a staging folder beside the run
  directory, renamed into place once every file is there: a run is
  recorded here whole, once, or not at all.

A function that can run this way declares its three parts with
:func:`remote_form` (the sweep's runs, a check's configs);
:class:`optrun.engine.cluster.DaskCluster` uses them. A function without
one is sent as it is (it must read and write nothing of this machine's).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from optrun import __version__
from optrun.config import Config, load_config
from optrun.core.errors import RunIOError
from optrun.core.outputs import write_bytes_atomic

INLINE_BYTES = 4 << 20  # a run's files up to this in all come back with its result
CHUNK_BYTES = 4 << 20  # larger files are read back in pieces of this size
SCRATCH_PREFIX = "optrun-remote-"
STALE_SECONDS = 3600  # a kept scratch folder no client read from for this long is removed

T = TypeVar("T")
Files = dict[str, bytes]  # SHA-256 -> the bytes of a shipped file
Fetch = Callable[..., Any]  # fetch(worker, fn, *args): fn(*args) run on that worker


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Parcel:
    """What a run on another machine needs, its files by digest (the bytes
    travel beside it, once per worker)."""

    config: dict[str, Any]  # Config.resolved(): what the run's config.yaml holds
    source: str  # the config file it came from (named in messages)
    warnings: tuple[str, ...]
    data: tuple[tuple[str, str], ...]  # (path, sha256) of each data file the config names
    problems: tuple[tuple[str, str], ...]  # (path, sha256) of each user problem file loaded here, in order
    blas_threads: int | None
    optrun: str  # the client's optrun version: a worker with another one refuses the run


# ----------------------------------------------------------------- the client
# (path, size, mtime) -> (sha256, bytes): a sweep's runs read each file once (the last few files read are kept)
_READ: OrderedDict[tuple[str, int, int], tuple[str, bytes]] = OrderedDict()
KEEP_READ = 8


def _read_once(path: str, read: Callable[[str], bytes]) -> tuple[str, bytes]:
    try:
        info = os.stat(path)
        key = (path, info.st_size, info.st_mtime_ns)
    except OSError:
        key = None
    if key is not None and key in _READ:
        _READ.move_to_end(key)
        return _READ[key]
    data = read(path)
    found = (digest(data), data)
    if key is not None:
        _READ[key] = found
        if len(_READ) > KEEP_READ:
            _READ.popitem(last=False)
    return found


def pack(config: Config, blas_threads: int | None) -> tuple[Parcel, Files]:
    """A validated config as a parcel for another machine, and the files it carries."""
    from optrun.config.plugins import loaded_files
    from optrun.core.problems.data import data_files, read_data_file

    files: Files = {}

    def ship(paths: list[str], read: Callable[[str], bytes]) -> tuple[tuple[str, str], ...]:
        shipped = []
        for path in paths:
            sha, data = _read_once(path, read)
            files[sha] = data
            shipped.append((path, sha))
        return tuple(shipped)

    parcel = Parcel(
        config.resolved(),
        config.source,
        config.warnings,
        ship(data_files(config.problem.options), read_data_file),
        ship([os.path.abspath(path) for path in loaded_files() if os.path.isfile(path)], _read_problem_file),
        blas_threads,
        __version__,
    )
    return parcel, files


def _read_problem_file(path: str) -> bytes:
    from optrun.config.plugins import MAX_FILE_BYTES
    from optrun.core.safe_yaml import read_at_most

    try:
        with open(path, "rb") as handle:
            return read_at_most(handle.fileno(), MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise RunIOError(f"cannot read the user problem file to ship it: {exc.strerror or exc}", source=path) from None


# ----------------------------------------------------------------- the worker
_LOADING = threading.Lock()  # the registries are the process's: one task at a time changes them (threads of a worker)


@contextlib.contextmanager
def opened(parcel: Parcel, files: Mapping[str, bytes]) -> Iterator[Config]:
    """On the worker: the parcel's user problems loaded from their source
    (and no other task's), its data paths read from the shipped bytes while
    the block runs (in this thread), and its config validated (OptrunError
    as on the client, with why a shipped problem file failed to load)."""
    from optrun.config.plugins import load_problem_sources
    from optrun.core.errors import ConfigError
    from optrun.core.problems.data import shipped_files

    if parcel.optrun != __version__:
        raise RunIOError(f"this worker runs optrun {__version__}, the client optrun {parcel.optrun}: install the same")
    for path, sha in (*parcel.data, *parcel.problems):
        if sha not in files or digest(files[sha]) != sha:
            raise RunIOError(f"the bytes shipped for {path} do not match their SHA-256 {sha[:12]}")
    with shipped_files({path: files[sha] for path, sha in parcel.data}):
        with _LOADING:
            failed = load_problem_sources([(path, files[sha], sha) for path, sha in parcel.problems])
            try:
                config = load_config(parcel.config, shipped=True)
            except ConfigError as exc:
                if not failed:
                    raise
                raise ConfigError(f"{exc.message}; on the worker: {'; '.join(failed)}", path=exc.path) from None
        yield dataclasses.replace(config, source=parcel.source, warnings=(*parcel.warnings, *failed))


@dataclass(frozen=True)
class Returned:
    """A run directory recorded on a worker: each file's bytes, or its size
    for a file read back in chunks from ``folder`` on ``worker``."""

    worker: str  # the worker's address
    folder: str  # the run directory there (removed once nothing is left to fetch)
    files: dict[str, bytes | int]  # name relative to the run directory -> bytes, or size to fetch

    @property
    def size(self) -> int:
        return sum(len(v) if isinstance(v, bytes) else v for v in self.files.values())


def recorded(run: Callable[[Path], T], stop: str | None = None) -> tuple[T, Returned | None]:
    """``run(run_dir)`` with a new run directory in a private scratch folder
    of this worker; its value and its files (None: it made no directory, or
    the client stopped: ``stop`` names the Dask Event the client sets on
    Ctrl-C, which ends the run at its next iteration; nothing of it is kept)."""
    _remove_stale_scratch()
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    keep = False
    try:
        with _watching(stop) as stopped:
            value = run(scratch / "run")
        returned = None if stopped.is_set() else _collect(scratch / "run")
        keep = returned is not None and any(isinstance(v, int) for v in returned.files.values())
        return value, returned
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _watching(stop: str | None) -> Iterator[threading.Event]:
    """While the block runs, a thread waits on the client's stop event: once
    it is set, the run's flag (:data:`optrun.engine.signals.OUTER_FLAG`) says
    SIGTERM, and the run stops at its next iteration as on a signal."""
    stopped, done = threading.Event(), threading.Event()
    if stop is None:
        yield stopped
        return
    from distributed import Event, get_client

    from optrun.core.runner import SignalFlag
    from optrun.engine.signals import OUTER_FLAG

    flag = SignalFlag(armed=False)
    event = Event(stop, client=get_client())

    def watch() -> None:
        with contextlib.suppress(Exception):  # the scheduler gone: nothing to wait for
            while not done.is_set():
                if event.wait(timeout=0.5):
                    flag.signum = signal.SIGTERM
                    stopped.set()
                    return

    watcher = threading.Thread(target=watch, name="optrun-stop-watch", daemon=True)
    token = OUTER_FLAG.set(flag)
    watcher.start()
    try:
        yield stopped
    finally:
        done.set()
        OUTER_FLAG.reset(token)


def _remove_stale_scratch() -> None:
    """Scratch folders no one will fetch from, removed by the next run here:
    those of worker processes that died (killed mid-run: Dask ran their task
    again elsewhere), and those whose files no client read for an hour (the
    client was killed before it fetched them; a chunk read touches the folder)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name[len(SCRATCH_PREFIX) :].split("-")[0]
        try:
            stale = time.time() - folder.stat().st_mtime > STALE_SECONDS
        except OSError:
            continue
        if pid.isdigit() and (stale or not _alive(int(pid))):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _collect(run_dir: Path) -> Returned | None:
    if not run_dir.is_dir():
        return None

    names = sorted(
        str(Path(root, name).relative_to(run_dir))
        for root, _, names in os.walk(run_dir)
        for name in names
        if Path(root, name).is_file()
    )
    files: dict[str, bytes | int] = {}
    inline = 0
    for name in sorted(names, key=lambda n: (run_dir / n).stat().st_size):  # the small ones inline
        size = (run_dir / name).stat().st_size
        if inline + size <= INLINE_BYTES:
            files[name] = (run_dir / name).read_bytes()
            inline += size
        else:
            files[name] = size
    return Returned(_worker_address(), str(run_dir), {name: files[name] for name in names})


def _worker_address() -> str:
    """This Dask worker's address ('' outside a worker: a test, a local call)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return ""


def read_chunk(path: str, offset: int, size: int) -> bytes:
    """(On the worker that recorded it.) ``size`` bytes of ``path`` from ``offset``."""
    os.utime(Path(path).parent.parent)  # its scratch folder is in use: not stale
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(size)


def remove_scratch(run_dir: str) -> None:
    """(On the worker that recorded it.) Its scratch folder, once its files came back."""
    folder = Path(run_dir).parent
    if folder.name.startswith(SCRATCH_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------- back on the client
def receive(returned: Returned, run_dir: Path, fetch: Fetch) -> None:
    """Write a worker's run directory to ``run_dir`` (new, or empty): into a
    staging folder beside it, renamed into place once every file is written.
    Anything that fails (the worker gone, a full disk) leaves nothing here and
    raises RunIOError."""
    staging = run_dir.parent / f".{run_dir.name}.incoming"
    try:
        shutil.rmtree(staging, ignore_errors=True)  # one a killed client left
        free = shutil.disk_usage(run_dir.parent).free
        if returned.size > free:
            raise RunIOError(
                f"its files ({_mb(returned.size)}) do not fit in the {_mb(free)} free here", source=str(run_dir)
            )
        staging.mkdir()
        for name, content in returned.files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, int):
                remote = str(Path(returned.folder) / name)
                chunks = (
                    fetch(returned.worker, read_chunk, remote, offset, CHUNK_BYTES)
                    for offset in range(0, content, CHUNK_BYTES)
                )
                write_bytes_atomic(target, chunks)
            else:
                write_bytes_atomic(target, content)
        os.rename(staging, run_dir)  # replaces an empty run_dir (a check's, made here)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise RunIOError(f"cannot write the run's files here: {exc.strerror or exc}", source=str(run_dir)) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if any(isinstance(v, int) for v in returned.files.values()):
            with contextlib.suppress(Exception):
                fetch(returned.worker, remove_scratch, returned.folder)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


# ------------------------------------------------------------ remote forms
@dataclass(frozen=True)
class RemoteForm:
    """How a function runs on another machine:

    - ``pack(*call) -> (call, files)`` on the client: the call with a
      :class:`Parcel` in place of paths, and the files it carries;
    - ``run(*call, files, stop)`` on the worker: returns a value and what to
      bring back (:func:`recorded`; ``stop`` names the Dask Event the client
      sets to stop the runs);
    - ``unpack(call, value, fetch)`` on the client: the value the function
      would have returned here, its files written here.

    A call that cannot be packed (its config fails to load) runs here
    instead, where it fails as it would anywhere."""

    pack: Callable[..., tuple[tuple[Any, ...], Files]]
    run: Callable[..., Any]
    unpack: Callable[[tuple[Any, ...], Any, Fetch], Any]


REMOTE_FORMS: dict[Callable[..., Any], RemoteForm] = {}


def remote_form(form: RemoteForm) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Declare ``form`` as the decorated function's way of running on another machine."""

    def declare(fn: Callable[..., T]) -> Callable[..., T]:
        REMOTE_FORMS[fn] = form
        return fn

    return declare
