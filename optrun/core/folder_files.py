"""The bounded reader for the JSON and CSV files of a folder optrun wrote
and reads back (bench.json, bench.csv, sweep.json, summary.json): such a
folder may come from anyone (copied, unpacked, tampered with), so a file
is read only if it is a regular file (a FIFO or a device is refused before
anything blocks or grows), of at most ``MAX_FOLDER_FILE_BYTES``, UTF-8, its
JSON nested at most ``MAX_JSON_DEPTH`` levels (checked before parsing) with
finite numbers only (no ``NaN``, ``Infinity``, ``1e999`` or 5000-digit
integers), and its CSV rows no longer than its header. Anything else is one
:class:`ConfigError` naming the file and what is wrong; a file that cannot
be read is a :class:`RunIOError`. What the data must hold (the schema of
what optrun wrote) is checked by the caller.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

from optrun.core.errors import ConfigError, RunIOError
from optrun.core.safe_yaml import _file_kind, read_at_most

MAX_FOLDER_FILE_BYTES = 100_000_000  # a 10,000-run plan with 100-parameter starts is ~20 MB
MAX_JSON_DEPTH = 100  # sweep.json nests a config (at most 50 levels of YAML) in a few levels of its own
MAX_NUMBER_CHARS = 40  # a number optrun writes is at most ~25 characters (repr of a float)

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def read_folder_bytes(path: Path, source: str | None = None, prefix: str | None = None) -> bytes:
    """A file of a received folder, checked to be a regular file of at most MAX_FOLDER_FILE_BYTES.
    Errors read ``<prefix>: <what is wrong>``, by default ``cannot read <name>: ...``;
    a missing file is FileNotFoundError (the caller says what that means)."""
    source = str(path.parent) if source is None else source
    prefix = f"cannot read {path.name}" if prefix is None else prefix
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RunIOError(f"cannot read {path.name}: {exc.strerror or exc}", source=source) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else _file_kind(info.st_mode)
            raise ConfigError(f"{prefix}: not a regular file ({kind}), as optrun writes it", source=source)
        if info.st_size > MAX_FOLDER_FILE_BYTES:
            raise ConfigError(f"{prefix}: larger than {MAX_FOLDER_FILE_BYTES // 1_000_000} MB", source=source)
        data = read_at_most(fd, MAX_FOLDER_FILE_BYTES + 1)
    except OSError as exc:
        raise RunIOError(f"cannot read {path.name}: {exc.strerror or exc}", source=source) from None
    finally:
        os.close(fd)
    if len(data) > MAX_FOLDER_FILE_BYTES:  # it grew while being read
        raise ConfigError(f"{prefix}: larger than {MAX_FOLDER_FILE_BYTES // 1_000_000} MB", source=source)
    return data


def _text(data: bytes, source: str, prefix: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{prefix}: not UTF-8 text ({exc.reason} at byte {exc.start})", source=source) from None


def json_depth(data: bytes) -> int:
    """How deeply the JSON text nests its arrays and objects (strings left out), without parsing it."""
    bare = np.frombuffer(_STRINGS.sub(b'""', data), dtype=np.uint8)
    if not bare.size:
        return 0
    step = np.isin(bare, (ord("["), ord("{"))).astype(np.int64) - np.isin(bare, (ord("]"), ord("}")))
    return int(np.cumsum(step).max(initial=0))


def read_folder_json(path: Path, source: str | None = None, prefix: str | None = None) -> Any:
    """The JSON document in a received folder's file, bounded (see the module); errors as
    :func:`read_folder_bytes` words them."""
    source = str(path.parent) if source is None else source
    prefix = f"cannot read {path.name}" if prefix is None else prefix
    data = read_folder_bytes(path, source, prefix)
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise ConfigError(
            f"{prefix}: not JSON optrun writes (nested {depth} levels deep; the limit is {MAX_JSON_DEPTH})",
            source=source,
        )

    def refuse(what: str) -> Any:
        raise ValueError(f"{what} is not a finite number")

    def number(text: str) -> float:
        value = float(text)
        if len(text) > MAX_NUMBER_CHARS or not math.isfinite(value):
            refuse(text[:20] + ("..." if len(text) > 20 else ""))
        return value

    try:
        return json.loads(_text(data, source, prefix), parse_constant=refuse, parse_float=number)
    except (ValueError, RecursionError) as exc:  # (a 4300-digit integer is a ValueError)
        raise ConfigError(f"{prefix}: not JSON ({' '.join(str(exc).split())[:120]})", source=source) from None


def read_folder_csv(path: Path, source: str | None = None) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows (column -> text) of a CSV file in a received folder, bounded (see the module).
    A row with more cells than the header has, a duplicate or empty column name is an error."""
    source = str(path.parent) if source is None else source
    prefix = f"cannot read {path.name}"
    text = _text(read_folder_bytes(path, source, prefix), source, prefix)
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ConfigError(f"{path.name} is not valid CSV: {exc}", source=source) from None
    if not lines:
        raise ConfigError(f"{path.name} is empty (no header row)", source=source)
    header = lines[0]
    if len(set(header)) != len(header) or not all(header):
        raise ConfigError(f"{path.name}: its header has an empty or repeated column name", source=source)
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        if not cells:
            continue
        if len(cells) > len(header):
            raise ConfigError(
                f"{path.name}: line {number} has {len(cells)} cells, the header {len(header)}", source=source
            )
        rows.append(dict(zip(header, cells + [""] * (len(header) - len(cells)))))
    return header, rows


def csv_number(path: Path, line: int, column: str, text: str, *, whole: bool = False, finite: bool = True) -> float:
    """A CSV cell as a number: at most MAX_NUMBER_CHARS characters, finite unless ``finite`` is False
    (f and f - f* of a diverged run are written as inf or nan), a whole number >= 0 with ``whole``."""
    try:
        value = float(text) if len(text) <= MAX_NUMBER_CHARS else None
    except ValueError:
        value = None
    if value is None:
        ok = False
    elif not math.isfinite(value):
        ok = not finite and not whole
    else:
        ok = not whole or (value >= 0 and value == int(value))
    if not ok:
        what = "a whole number >= 0" if whole else "a finite number" if finite else "a number"
        shown = text[:20] + ("..." if len(text) > 20 else "")
        raise ConfigError(
            f"{path.name}: line {line}, column '{column}' holds {shown!r}, not {what}", source=str(path.parent)
        )
    return float(value) if value is not None else math.nan
