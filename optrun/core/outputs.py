"""Run directories and the files written into them whole (README: "Runs,
statuses and exit codes").

- :func:`make_run_dir` creates ``<dir>/<name>/<YYYYMMDD-HHMMSS>[-N]/`` with an
  atomic ``mkdir``, so runs started in the same second (also from several
  processes) never share or overwrite a directory.
- :func:`write_json_atomic` (and the text, bytes and YAML writers) write to a
  temporary file and rename it, so a ``summary.json`` is either complete or
  absent.

``trace.csv``, written row by row while a run goes, is :mod:`optrun.core.trace`'s
job; its names are also importable from here, where they used to live.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from optrun.core.errors import RunIOError
from optrun.core.params import finite_or_none


def make_run_dir(base: str | Path, name: str, now: float | None = None, prefix: str = "") -> Path:
    """A new ``<base>/<name>/<prefix><YYYYMMDD-HHMMSS>[-N]`` folder, made atomically."""
    parent = Path(base) / name
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        dangling = _dangling_link(parent)
        why = (
            f"{dangling} is a symbolic link to {os.readlink(dangling)}, which does not exist"
            if dangling
            else exc.strerror or exc
        )
        raise RunIOError(f"cannot create the output folder: {why}", source=str(parent)) from None
    stamp = prefix + time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    for n in range(10_000):
        path = parent / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunIOError(f"cannot create the run directory: {exc.strerror or exc}", source=str(path)) from None
    raise RunIOError("too many runs started in the same second", source=str(parent))


def _dangling_link(path: Path) -> Path | None:
    """The first component of ``path`` that is a symbolic link to nothing."""
    for part in [*reversed(path.parents), path]:
        if part.is_symlink() and not part.exists():
            return part
    return None


def remove_run_dir(path: Path) -> None:
    """Remove a run directory this process has just made (setup failed)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)  # rmtree never follows symbolic links


def make_given_dir(path: Path) -> Path:
    """Create exactly ``path`` (a sweep's run folder); it must not exist yet."""
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        raise RunIOError("the run directory exists already", source=str(path)) from None
    except OSError as exc:
        raise RunIOError(f"cannot create the run directory: {exc.strerror or exc}", source=str(path)) from None
    return path


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()  # what open() would give, e.g. 0644 under umask 022


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it: the file is complete or absent."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write ``data`` (bytes, or chunks of them) to a temporary file beside
    ``path`` and rename it over ``path``:
    the file is complete or untouched (a symbolic link is replaced, never
    followed), and a failure (full disk, no inodes, read-only) leaves no
    temporary file behind and raises :class:`RunIOError`."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, FILE_MODE)
            for chunk in [data] if isinstance(data, bytes) else data:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise RunIOError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as JSON (non-finite numbers as null), written atomically."""
    write_text_atomic(path, json.dumps(json_safe(data), indent=2) + "\n")


def write_yaml(path: Path, data: Any) -> None:
    """``data`` as YAML, written atomically. With libyaml's emitter when PyYAML
    has it (5x faster than the pure-Python one, the same text: a sweep writes
    one config.yaml per run)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    write_text_atomic(path, yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=None))


def json_safe(value: Any) -> Any:
    """JSON has no NaN or inf: non-finite numbers are written as null (the
    rule of :func:`optrun.core.params.finite_or_none`, applied to any JSON data)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return finite_or_none(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    return value
