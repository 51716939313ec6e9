"""Reading a user's CSV file for the data-driven problems.

``data: {path: file.csv, target: y, features: [x1, x2]}`` (features default:
every other column) or, for one-column problems, ``data: {path, column}``.
A relative path is found from the config file's folder (see
:mod:`optrun.core.paths`); the config loader makes it absolute. Every problem
with the file is a one-line ConfigError naming the file, the line and the
column: a missing file, a missing header or column (with the columns that
exist), a non-numeric cell of a used column, an empty file, rows of the wrong
length. Only the columns a problem uses are converted to numbers, so a file
may carry text columns (names, labels) beside them. Only regular files of at most 100 MB
are read (a FIFO or a device such as /dev/zero is refused without blocking).
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import io
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from optrun.core.errors import ConfigError
from optrun.core.options import Options
from optrun.core.paths import ConfigPath
from optrun.core.registry import suggest
from optrun.core.safe_yaml import read_at_most

MAX_DATA_BYTES = 100_000_000  # a data file is at most 100 MB (it is parsed in memory)
PATH_TEXT = "the CSV file, a header row first; a relative path is found from the config file's folder"


class TableData(Options):
    """a CSV table"""

    path: ConfigPath = Field(min_length=1, description=PATH_TEXT)
    target: str = Field(min_length=1, description="the column the model predicts (y)")
    features: list[str] | None = Field(
        None,
        min_length=1,
        description="the input columns (X), in this order; null: every column but the target, skipping text-only ones",
    )


class ColumnData(Options):
    """a CSV column"""

    path: ConfigPath = Field(min_length=1, description=PATH_TEXT)
    column: str = Field(min_length=1, description="the column that holds the samples")


def data_files(value: Any) -> list[str]:
    """The data files (CSV tables and columns) that options name, at any depth, in order."""
    from optrun.core.options import Options

    if isinstance(value, (TableData, ColumnData)):
        return [value.path]
    if isinstance(value, Options):
        return [path for name in type(value).model_fields for path in data_files(getattr(value, name))]
    if isinstance(value, (list, tuple)):
        return [path for v in value for path in data_files(v)]
    return []


# path -> the bytes another machine read there (a Dask task carries them); one mapping per thread (context),
# so two tasks in the threads of one worker never see each other's
_SHIPPED: contextvars.ContextVar[Mapping[str, bytes] | None] = contextvars.ContextVar("optrun_shipped", default=None)


@contextlib.contextmanager
def shipped_files(files: Mapping[str, bytes]) -> Iterator[None]:
    """While this block runs (in this thread), a data path in ``files`` is
    read from the bytes given for it, not from this machine's disk
    (:mod:`optrun.engine.remote`)."""
    token = _SHIPPED.set(dict(files))
    try:
        yield
    finally:
        _SHIPPED.reset(token)


def _rows(path: str, where: str) -> tuple[list[str], list[list[str]]]:
    """The header (names stripped) and the data rows of the CSV at ``path``."""
    if "\x00" in path:
        raise ConfigError("a data path cannot contain a NUL character (\\0)", path=f"{where}.path")
    shipped = _SHIPPED.get() or {}
    data = shipped[path] if path in shipped else read_data_file(path, where)
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read data file {path}: {exc}", path=f"{where}.path") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise ConfigError(f"data file {path} is empty (a header row and data rows are needed)", path=f"{where}.path")
    header = [name.strip() for name in rows[0]]
    if len(set(header)) != len(header) or any(not name for name in header):
        raise ConfigError(
            f"data file {path}: the header row needs distinct, non-empty column names, got {header}",
            path=f"{where}.path",
        )
    body = rows[1:]
    if not body:
        raise ConfigError(f"data file {path} has a header but no data rows", path=f"{where}.path")
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise ConfigError(
                f"data file {path} line {i + 2} has {len(row)} fields, the header has {len(header)}",
                path=f"{where}.path",
            )
    return header, body


def read_data_file(path: str, where: str = "problem.data") -> bytes:
    """The bytes of the data file at ``path`` (a regular file of at most MAX_DATA_BYTES)."""
    file = Path(path)
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
        try:
            mode, size = os.fstat(fd).st_mode, os.fstat(fd).st_size
            if stat.S_ISDIR(mode):
                raise IsADirectoryError
            if not stat.S_ISREG(mode):  # a FIFO blocks forever, /dev/zero never ends
                raise ConfigError(
                    f"data path is not a regular file (a FIFO, device or socket): {path}", path=f"{where}.path"
                )
            if size > MAX_DATA_BYTES:
                raise ConfigError(
                    f"data file {path} is larger than {MAX_DATA_BYTES // 1_000_000} MB (the limit for data files)",
                    path=f"{where}.path",
                )
            data = read_at_most(fd, MAX_DATA_BYTES + 1)
        finally:
            os.close(fd)
        if len(data) > MAX_DATA_BYTES:  # it grew while being read (or stat did not know its size)
            raise ConfigError(
                f"data file {path} is larger than {MAX_DATA_BYTES // 1_000_000} MB (the limit for data files)",
                path=f"{where}.path",
            )
    except FileNotFoundError:
        raise ConfigError(f"data file not found: {path}", path=f"{where}.path") from None
    except IsADirectoryError:
        raise ConfigError(f"data path is a directory, expected a CSV file: {path}", path=f"{where}.path") from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read data file {path}: {getattr(exc, 'strerror', None) or exc}", path=f"{where}.path"
        ) from None
    return data


def _check_present(header: list[str], name: str, path: str, where: str) -> None:
    if name not in header:
        raise ConfigError(
            f"column '{name}' is not in {path}{suggest(name, header)} (columns: {', '.join(header)})", path=where
        )


def _numbers(header: list[str], body: list[list[str]], name: str, path: str, where: str) -> np.ndarray:
    """One column as floats; a cell that is not a finite number is an error
    naming the file, the line, the column and the cell."""
    j = header.index(name)
    values = np.empty(len(body))
    for i, row in enumerate(body):
        cell = row[j]
        try:
            values[i] = float(cell)
        except ValueError:
            raise ConfigError(
                f"data file {path} line {i + 2}, column '{name}': {cell.strip()!r} is not a number", path=where
            ) from None
        if not np.isfinite(values[i]):
            raise ConfigError(
                f"data file {path} line {i + 2}, column '{name}': {cell.strip()!r} is not finite", path=where
            )
    return values


def _is_text(body: list[list[str]], j: int) -> bool:
    """A column none of whose cells is a number (names, labels): skipped
    when the features default to every other column."""
    for row in body:
        try:
            float(row[j])
            return False
        except ValueError:
            pass
    return True


def read_columns(path: str, names: list[str] | None = None, where: str = "problem.data") -> dict[str, np.ndarray]:
    """Columns of the CSV at ``path`` (header row required) as name -> float
    array: only ``names`` (every column when None) are converted to numbers,
    so other columns may hold text."""
    header, body = _rows(path, where)
    names = header if names is None else names
    for name in names:
        _check_present(header, name, path, where)
    return {name: _numbers(header, body, name, path, where) for name in names}


def load_table(data: TableData) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X of shape (n, d), y of shape (n,), feature names) from a TableData
    spec. Only the target and feature columns are read as numbers; when the
    features are not given they are every other column except text ones."""
    header, body = _rows(data.path, "problem.data")
    _check_present(header, data.target, data.path, "problem.data.target")
    if data.features is not None:
        names = list(data.features)
        for name in names:
            _check_present(header, name, data.path, "problem.data.features")
    else:
        names = [c for j, c in enumerate(header) if c != data.target and not _is_text(body, j)]
    if not names:
        raise ConfigError(
            f"{data.path} has no feature columns besides the target '{data.target}' (text columns are skipped)",
            path="problem.data.features",
        )
    if data.target in names:
        raise ConfigError(f"the target '{data.target}' cannot also be a feature", path="problem.data.features")
    y = _numbers(header, body, data.target, data.path, "problem.data.target")
    X = np.column_stack([_numbers(header, body, name, data.path, "problem.data.features") for name in names])
    return X, y, names


def load_column(data: ColumnData) -> np.ndarray:
    """One column as numbers; the file's other columns may hold anything."""
    header, body = _rows(data.path, "problem.data")
    _check_present(header, data.column, data.path, "problem.data.column")
    return _numbers(header, body, data.column, data.path, "problem.data.column")
