"""User problems: Python files that register problems (and optimizers,
initializers or schedules) with the same ``register_*`` calls the built-ins use.

They come from these places only: a ``problems/`` folder in the config
file's folder or a parent up to the project root (:mod:`optrun.core.paths`), the
working folder's ``problems/``, the folder named with ``--problems``, and
modules exposed through the entry-point groups ``optrun.problems``,
``optrun.optimizers``, ``optrun.initializers`` and ``optrun.schedules`` of
installed packages; on a Dask worker, from the source the client shipped
(:func:`load_problem_sources`). An entry whose name is taken (by a built-in or another
file) is a one-line error naming the file: optrun never runs the built-in in
its place. These files are
code and run as code, with the user's rights: only load files you trust.

A file that fails to load is reported (its path and the error, one line) and
skipped; the built-ins and the other files keep working. That includes a file
that calls ``sys.exit()`` or raises ``KeyboardInterrupt`` at import: user code
never ends optrun with its own exit status (only a real Ctrl-C while loading
stops optrun). Only regular files of at most 1 MB are loaded (a FIFO named
``*.py`` would block the import).
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import signal
import stat
import sys
import threading
import types
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from optrun.core.errors import ConfigError, short_repr
from optrun.core.registry import DuplicateName, Registry

# installed packages extend optrun through these entry-point groups
ENTRY_POINT_GROUPS = ("optrun.problems", "optrun.optimizers", "optrun.initializers", "optrun.schedules")
DEFAULT_DIR = "problems"
_loaded: set[str] = set()  # files and entry points already loaded in this process
_shipped: dict[str, str] = {}  # "path#sha256" of each shipped user file loaded (on a worker) -> its path
_files: dict[str, bool] = {}  # the user files loaded in this process, in order -> whether they registered anything
# (kind, name) -> the file or entry point that registered it; absent: built-in
_origins: dict[tuple[str, str], str] = {}


def _registries() -> tuple[Registry, ...]:
    from optrun.core.initializers import INITIALIZERS
    from optrun.core.optimizers import OPTIMIZERS
    from optrun.core.optimizers.schedules import SCHEDULES
    from optrun.core.problems import PROBLEMS, SUITES

    return PROBLEMS, OPTIMIZERS, INITIALIZERS, SCHEDULES, SUITES


def origin(kind: str, name: str) -> str:
    """Where the ``kind`` entry ``name`` was defined: a user file, an entry point, or "built-in"."""
    return _origins.get((kind, name), "built-in")


@contextlib.contextmanager
def _recording_origin(source: str):
    """Whatever registers while this block runs is recorded as defined in ``source``
    (the registries themselves know nothing of files)."""
    before = {registry.kind: set(registry) for registry in _registries()}
    try:
        yield
    finally:
        for registry in _registries():
            for name in set(registry) - before[registry.kind]:
                _origins[(registry.kind, name)] = source


MAX_FILE_BYTES = 1_000_000  # a problem file is at most 1 MB


class _CtrlC(KeyboardInterrupt):
    """A real SIGINT/SIGTERM while user files load (not a `raise KeyboardInterrupt` in them)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _real_interrupts_marked():
    """While user code runs at import, a real SIGINT or SIGTERM raises _CtrlC
    (so it is told from a file that raises KeyboardInterrupt itself, and a
    file that blocks cannot hold optrun); the handlers before are put back
    after. Main thread only; not where signals are ignored (idle pool workers)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield
        return

    def handler(signum, frame):
        raise _CtrlC(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    if isinstance(exc, (SystemExit, KeyboardInterrupt, GeneratorExit)):
        what = f"{type(exc).__name__}({short_repr(exc.code) if isinstance(exc, SystemExit) else ''})"
        return f"{what} raised while loading{_user_line(exc)}; a problem file must not exit (optrun goes on without it)"
    return f"{type(exc).__name__}: {short_repr(str(exc), 300)[1:-1]}{_user_line(exc)}"


def _user_line(exc: BaseException) -> str:
    tb = exc.__traceback__
    line = None
    while tb is not None:  # the deepest frame in the user's file, if any
        if tb.tb_frame.f_code.co_filename == getattr(exc, "_optrun_file", None):
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" (line {line})" if line else ""


def _regular_file_problem(file: Path) -> str:
    """Why a *.py path cannot be loaded without blocking or eating memory, or ''."""
    try:
        info = file.stat()
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a FIFO, device or socket named *.py)"
    if info.st_size > MAX_FILE_BYTES:
        return f"larger than {MAX_FILE_BYTES // 1_000_000} MB (the limit for a problem file)"
    return ""


def load_problem_files(folder: str | Path | None = None) -> list[str]:
    """Load every ``*.py`` file (not starting with ``_``) in ``folder``.

    ``folder`` None means ``./problems`` if it exists. Returns one warning
    line per file that failed to load.
    """
    explicit = folder is not None
    path = Path(folder) if folder is not None else Path(DEFAULT_DIR)
    if not path.is_dir():
        return [f"{path}: --problems folder not found"] if explicit else []
    warnings = []
    for file in sorted(path.glob("*.py")):
        if file.name.startswith("_"):
            continue
        key = str(file.resolve())
        if key in _loaded:
            continue
        _loaded.add(key)
        problem = _regular_file_problem(file)
        if problem:
            warnings.append(f"{file}: not loaded: {problem}")
            continue
        spec = importlib.util.spec_from_file_location(f"optrun_user_problems.{file.stem}", file)
        if spec is None or spec.loader is None:
            warnings.append(f"{file}: not loaded: not a loadable Python file")
            continue
        warning = _run_user_module(key, str(file), spec, spec.loader.exec_module)
        if warning:
            warnings.append(warning)
    return warnings


def loaded_files() -> list[str]:
    """The user problem files this process loaded and still uses, in the
    order it loaded them (what a task for another machine carries:
    :mod:`optrun.engine.remote`): each that registered nothing, or still owns
    a registered entry (not one whose entries were all unregistered or
    registered again by another file)."""
    registries = {registry.kind: registry for registry in _registries()}
    live = {source for (kind, name), source in _origins.items() if name in registries[kind]}
    return [path for path, registered in _files.items() if not registered or path in live]


def load_problem_sources(sources: Sequence[tuple[str, bytes, str]]) -> list[str]:
    """On a worker: exactly these user problem files, each (the path the
    client read it at, its source, its SHA-256), shipped by the client (a
    Dask worker never imports a user problem from a path it happens to
    have). Entries that an earlier task's shipped files registered (another
    client's project, another version of a file) are removed first, so the
    registries hold the built-ins, the worker's entry points and this task's
    files. A file already loaded with the same source is not run again.
    Returns warnings, as :func:`load_problem_files`."""
    wanted = {f"{path}#{digest}" for path, _, digest in sources}
    for key in [key for key in _shipped if key not in wanted]:
        _forget(_shipped.pop(key))
        _loaded.discard(key)
    warnings = []
    for path, source, digest in sources:
        key = f"{path}#{digest}"
        if key in _loaded:
            continue
        _loaded.add(key)
        _shipped[key] = path
        spec = importlib.util.spec_from_loader(f"optrun_user_problems.{Path(path).stem}", loader=None, origin=path)
        assert spec is not None  # (spec_from_loader returns None only for a loader that says so)

        def run(module: types.ModuleType, source: bytes = source, path: str = path) -> None:
            module.__file__ = path
            exec(compile(source, path, "exec"), module.__dict__)

        warning = _run_user_module(key, path, spec, run)
        if warning:
            warnings.append(warning)
    return warnings


def _forget(path: str) -> None:
    """Unregister what the user file ``path`` registered."""
    for registry in _registries():
        for name in [n for n in registry if _origins.get((registry.kind, n)) == path]:
            registry.unregister(name)
            _origins.pop((registry.kind, name), None)
    _files.pop(path, None)


def _run_user_module(
    key: str, path: str, spec: importlib.machinery.ModuleSpec, execute: Callable[[types.ModuleType], None]
) -> str:
    """Run a user file as module ``spec.name``, recording ``path`` as the
    origin of what it registers; returns a warning line if it failed to load
    ('' if it loaded). A name it takes twice is a ConfigError; a real Ctrl-C
    stops optrun."""
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        try:
            with _real_interrupts_marked(), _recording_origin(path):
                execute(module)
        except BaseException as exc:
            exc._optrun_file = spec.origin  # type: ignore[attr-defined]  # the file name its code runs under
            raise
    except _CtrlC as exc:
        sys.modules.pop(spec.name, None)
        _loaded.discard(key)
        raise exc from None  # the user pressed Ctrl-C (or sent SIGTERM): stop, as anywhere else
    except DuplicateName as exc:  # never run the built-in in place of the user's entry
        sys.modules.pop(spec.name, None)
        _loaded.discard(key)  # and say so again on the next attempt
        raise _clash(path, exc) from None
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from user code too: a load failure
        sys.modules.pop(spec.name, None)
        return f"{path}: not loaded: {_describe(exc)}"
    _files[path] = path in _origins.values()
    return ""


def _clash(source: str, exc: DuplicateName) -> ConfigError:
    return ConfigError(
        f"registers the {exc.kind} '{exc.name}', a name that is already taken (a built-in or another user file): "
        "give it another name",
        source=source,
    )


def load_entry_points() -> list[str]:
    """Load every installed package's entry points in the optrun groups."""
    warnings = []
    installed = metadata.entry_points()  # one scan of the installed distributions, not one per group
    for ep in (ep for group in ENTRY_POINT_GROUPS for ep in installed.select(group=group)):
        key = f"entry point {ep.name} = {ep.value}"
        if key in _loaded:
            continue
        _loaded.add(key)
        try:
            with _real_interrupts_marked(), _recording_origin(key):
                loaded = ep.load()
                if callable(loaded) and not isinstance(loaded, type(sys)):
                    loaded()  # an entry point may name a function that registers problems
        except _CtrlC as exc:
            _loaded.discard(key)
            raise exc from None
        except DuplicateName as exc:
            _loaded.discard(key)
            raise _clash(key, exc) from None
        except BaseException as exc:  # SystemExit and KeyboardInterrupt from user code too: a load failure
            warnings.append(f"{key}: not loaded: {_describe(exc)}")
    return warnings


def load_problem_folders(dirs: list[Path]) -> tuple[list[Path], list[str]]:
    """Load the ``problems/`` folder of each of ``dirs`` that has one (a
    config's folder and its parents up to the project root, see
    :mod:`optrun.core.paths`). Returns (the folders found, warnings)."""
    found, warnings = [], []
    for folder in dirs:
        candidate = folder / DEFAULT_DIR
        if candidate.is_dir():
            found.append(candidate)
            warnings.extend(load_problem_files(candidate))
    return found, warnings


def load_user_problems(folder: str | Path | None = None) -> list[str]:
    """Entry points, then the problem folder; returns warnings."""
    return load_entry_points() + load_problem_files(folder)
