"""Reading a user's CSV file for the data-driven problems.

``data: {path: file.csv, target: y, features: [x1, x2]}`` (features default:
every other column) or, for one-column problems, ``data: {path, column}``.
A relative path is found from the config file's folder (see
:mod:`optrun.core.paths`); the config loader makes it absolute. Every problem
with the file is a one-line ConfigError naming the file, the line and the
column: a missing file, a missing header or column, a non-numeric cell, an
empty file, rows of the wrong length. Only regular files of at most 100 MB
are read (a FIFO or a device such as /dev/zero is refused without blocking).
"""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

import numpy as np
from pydantic import Field

from optrun.core.safe_yaml import read_at_most
from optrun.core.errors import ConfigError
from optrun.core.options import Options
from optrun.core.paths import ConfigPath
from optrun.core.registry import suggest


MAX_DATA_BYTES = 100_000_000  # a data file is at most 100 MB (it is parsed in memory)


class TableData(Options):
    path: ConfigPath = Field(min_length=1)
    target: str = Field(min_length=1)
    features: list[str] | None = Field(None, min_length=1)


class ColumnData(Options):
    path: ConfigPath = Field(min_length=1)
    column: str = Field(min_length=1)


def read_columns(path: str, where: str = "problem.data") -> dict[str, np.ndarray]:
    """The CSV at ``path`` as column name -> float array (header row required)."""
    file = Path(path)
    if "\x00" in path:
        raise ConfigError("a data path cannot contain a NUL character (\\0)", path=f"{where}.path")
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
        try:
            mode, size = os.fstat(fd).st_mode, os.fstat(fd).st_size
            if stat.S_ISDIR(mode):
                raise IsADirectoryError
            if not stat.S_ISREG(mode):  # a FIFO blocks forever, /dev/zero never ends
                raise ConfigError(f"data path is not a regular file (a FIFO, device or socket): {path}", path=f"{where}.path")
            if size > MAX_DATA_BYTES:
                raise ConfigError(f"data file {path} is larger than {MAX_DATA_BYTES // 1_000_000} MB (the limit for data files)",
                                  path=f"{where}.path")
            data = read_at_most(fd, MAX_DATA_BYTES + 1)
        finally:
            os.close(fd)
        if len(data) > MAX_DATA_BYTES:  # it grew while being read (or stat did not know its size)
            raise ConfigError(f"data file {path} is larger than {MAX_DATA_BYTES // 1_000_000} MB (the limit for data files)",
                              path=f"{where}.path")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    except FileNotFoundError:
        raise ConfigError(f"data file not found: {path}", path=f"{where}.path") from None
    except IsADirectoryError:
        raise ConfigError(f"data path is a directory, expected a CSV file: {path}", path=f"{where}.path") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read data file {path}: {getattr(exc, 'strerror', None) or exc}", path=f"{where}.path") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise ConfigError(f"data file {path} is empty (a header row and data rows are needed)", path=f"{where}.path")
    header = [name.strip() for name in rows[0]]
    if len(set(header)) != len(header) or any(not name for name in header):
        raise ConfigError(f"data file {path}: the header row needs distinct, non-empty column names, got {header}", path=f"{where}.path")
    body = rows[1:]
    if not body:
        raise ConfigError(f"data file {path} has a header but no data rows", path=f"{where}.path")
    values = np.empty((len(body), len(header)))
    for i, row in enumerate(body):
        line = i + 2
        if len(row) != len(header):
            raise ConfigError(f"data file {path} line {line} has {len(row)} fields, the header has {len(header)}", path=f"{where}.path")
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise ConfigError(
                    f"data file {path} line {line}, column '{header[j]}': {cell.strip()!r} is not a number", path=f"{where}.path"
                ) from None
            if not np.isfinite(values[i, j]):
                raise ConfigError(f"data file {path} line {line}, column '{header[j]}': {cell.strip()!r} is not finite", path=f"{where}.path")
    return {name: values[:, j] for j, name in enumerate(header)}


def _column(columns: dict[str, np.ndarray], name: str, path: str, key: str) -> np.ndarray:
    if name not in columns:
        raise ConfigError(
            f"column '{name}' is not in {path}{suggest(name, list(columns))} (columns: {', '.join(columns)})",
            path=f"problem.data.{key}",
        )
    return columns[name]


def load_table(data: TableData) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X of shape (n, d), y of shape (n,), feature names) from a TableData spec."""
    columns = read_columns(data.path)
    y = _column(columns, data.target, data.path, "target")
    names = list(data.features) if data.features is not None else [c for c in columns if c != data.target]
    if not names:
        raise ConfigError(f"{data.path} has no feature columns besides the target '{data.target}'", path="problem.data.features")
    if data.target in names:
        raise ConfigError(f"the target '{data.target}' cannot also be a feature", path="problem.data.features")
    X = np.column_stack([_column(columns, name, data.path, "features") for name in names])
    return X, y, names


def load_column(data: ColumnData) -> np.ndarray:
    columns = read_columns(data.path)
    return _column(columns, data.column, data.path, "column")
