"""The trace's two file formats, each one entry of :data:`FORMATS`: how a
chunk of rows is written (a *sink*) and how the file is read back
(:func:`read_trace` reads either, :func:`trace_file` finds a run's).

- ``csv`` (``trace.csv``, the default): each chunk of rows is formatted in
  one call by polars (Rust: the fewest digits that read back as the same
  float64, so every value round-trips exactly) and written with whole-row
  ``os.write`` calls. A write that fails or comes back short (a full disk) is
  cut back to the last complete row with ``ftruncate``, so the file never
  ends mid-row and a killed run keeps every row written before it died.
- ``parquet`` (``trace.parquet``): the same columns, one file, typed
  (``iter``, ``nfev``, ``njev`` int64, the rest float64), written by
  pyarrow's ``ParquetWriter`` one row group per :data:`ROW_GROUP_BYTES` of
  rows. Its footer is written when the run closes it (any stop, a signal, a
  failed write); a run killed outright (SIGKILL, power loss) leaves a file
  without footer that no reader can open: CSV is the format for runs that
  may be killed.

Both sinks hold :data:`SUMMARY_ROOM` bytes of the disk for the summary (a
file with no name, which the kernel frees when it is closed or the process
dies) and let go of them when the trace cannot be written, so a run whose
trace filled the disk is still recorded as failed in ``summary.json``.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optrun.core.errors import RunIOError

SUMMARY_ROOM = 64 * 1024  # bytes held for summary.json while the trace is written (a summary is a few kB)
ROW_GROUP_BYTES = 4 * 2**20  # a parquet row group holds about this many bytes of values (memory stays bounded)


class _Room:
    """SUMMARY_ROOM bytes of the trace's disk in a file with no name (Linux's
    O_TMPFILE), best effort: a file system without O_TMPFILE or fallocate, or
    one already full, gives no room and nothing else changes."""

    def __init__(self, folder: Path):
        self._fd = -1
        try:
            fd = os.open(folder, os.O_WRONLY | os.O_TMPFILE, 0o600)
        except (OSError, AttributeError):
            return
        try:
            os.posix_fallocate(fd, 0, SUMMARY_ROOM)
        except OSError:
            os.close(fd)
            return
        self._fd = fd

    def free(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _create(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        raise RunIOError(f"cannot create the trace: {exc.strerror or exc}", source=str(path)) from None


def _failed(path: Path, exc: BaseException) -> RunIOError:
    number = getattr(exc, "errno", None)
    if not number:  # arrow's I/O errors give the OS's error number in their text: "... [errno 28] ..."
        found = re.search(r"\[errno (\d+)\]", str(exc))
        number = int(found.group(1)) if found else None
    reason = os.strerror(number) if number else getattr(exc, "strerror", None) or str(exc).splitlines()[0]
    return RunIOError(f"cannot write the trace: {reason}", source=str(path))


class CsvSink:
    """trace.csv: the header row, then each chunk formatted by polars and written in whole rows."""

    def __init__(self, path: Path, header: Sequence[str], counts: Sequence[bool]):
        self.path = path
        self._counts = counts
        self._fd = _create(path)
        self._room = _Room(path.parent)
        self._good = 0  # bytes on disk that end with a complete row: what a failed write is cut back to
        self.rows = 0  # complete rows in the file
        try:
            self._write(csv_line(header).encode("utf-8"))
        except RunIOError:
            self.close()
            raise

    def write(self, columns: Sequence[np.ndarray]) -> None:
        """One chunk of rows (one array per column, in the header's order)."""
        self.write_text(format_csv(columns), len(columns[0]))

    def write_text(self, text: bytes, rows: int) -> None:
        """``rows`` complete rows, formatted (:func:`format_csv`)."""
        self._write(text)
        self.rows += rows

    def _write(self, data: bytes) -> None:
        """Write whole rows; on any failure, also after a short write, cut the
        file back to the last complete row and free the summary's room."""
        size = len(data)
        try:
            while data:  # one write per chunk; loop only on a short write
                written = os.write(self._fd, data)
                if written <= 0:
                    raise OSError(28, os.strerror(28))  # ENOSPC: nothing more fits
                data = data[written:]
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self._good)
                os.lseek(self._fd, self._good, os.SEEK_SET)
            except OSError:
                pass  # (readers drop a torn last line too)
            self._room.free()  # the summary that says so must fit
            raise _failed(self.path, exc) from None
        self._good += size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._room.free()


class ParquetSink:
    """trace.parquet: chunks gathered into row groups of about ROW_GROUP_BYTES,
    the footer written at close. When a row group cannot be written (a full
    disk), the footer is tried in the summary's room: the file is kept if it
    then reads back whole (``rows``: what it holds), else removed (a parquet
    file cannot be cut back to its complete rows as a CSV is)."""

    def __init__(self, path: Path, header: Sequence[str], counts: Sequence[bool]):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = path
        self._schema = pa.schema([(name, pa.int64() if count else pa.float64()) for name, count in zip(header, counts)])
        self._group_rows = max(1, ROW_GROUP_BYTES // (8 * max(1, len(header))))
        self._pending: list[Sequence[np.ndarray]] = []
        self._pending_rows = 0
        self.rows = 0  # rows in the row groups written (readable once the footer is)
        os.close(_create(path))  # (created here, so that an existing file is refused as a CSV trace's is)
        self._room = _Room(path.parent)
        self._writer: Any = None
        try:  # arrow's own file (C++): every write reaches the file or raises
            self._writer = pq.ParquetWriter(pa.OSFile(str(path), "wb"), self._schema)
        except (OSError, pa.ArrowException) as exc:
            self._abandon()
            raise _failed(path, exc) from None

    def write(self, columns: Sequence[np.ndarray]) -> None:
        self._pending.append(columns)
        self._pending_rows += len(columns[0])
        if self._pending_rows >= self._group_rows:
            self._write_group()

    def _write_group(self) -> None:
        import pyarrow as pa

        if not self._pending:
            return
        columns = [np.concatenate(parts) for parts in zip(*self._pending)]
        self._pending, self._pending_rows = [], 0
        try:
            self._writer.write_table(pa.Table.from_arrays(columns, schema=self._schema))
            self.rows += len(columns[0])
        except (OSError, pa.ArrowException) as exc:
            self._room.free()  # the footer, then the summary, may fit in the room given back
            self._finish(check=True)
            raise _failed(self.path, exc) from None

    def close(self) -> None:
        if self._writer is not None:
            try:
                self._write_group()
            finally:
                self._finish()

    def _finish(self, check: bool = False) -> None:
        """Write the footer and close. ``check`` (after a failed write): keep
        the file only if it reads back whole; a file that cannot be finished
        is unreadable: it is removed."""
        import pyarrow.parquet as pq

        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                writer.close()
            if check:
                self.rows = pq.read_table(self.path).num_rows
        except Exception:
            self._abandon()
        self._room.free()

    def _abandon(self) -> None:
        self.rows = 0
        self.path.unlink(missing_ok=True)
        self._room.free()


def format_csv(columns: Sequence[np.ndarray]) -> bytes:
    """Rows as CSV text, one array per column, formatted by polars: integers as
    integers, floats with the fewest digits that read back as the same float64."""
    import polars as pl

    buffer = io.BytesIO()
    # positional names: polars wants them unique, and a parameter may be called "f" (the header is ours)
    pl.DataFrame({f"c{i}": column for i, column in enumerate(columns)}).write_csv(buffer, include_header=False)
    return buffer.getvalue()


def format_csv_many(chunks: Sequence[Sequence[np.ndarray]]) -> list[bytes]:
    """Several chunks of the same columns formatted in one call, then cut
    apart at their rows' ends (numbers never hold a newline)."""
    text = format_csv([np.concatenate(parts) for parts in zip(*chunks)])
    ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 10) + 1
    cuts = [0, *ends[np.cumsum([len(chunk[0]) for chunk in chunks]) - 1].tolist()]
    return [text[a:b] for a, b in itertools.pairwise(cuts)]


def csv_line(fields: Sequence[str]) -> str:
    """One CSV row, quoted where needed (a parameter name may hold , or ")."""
    import csv

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def read_csv(path: Path, warn: Callable[[str], None]) -> tuple[list[str], np.ndarray]:
    """trace.csv's header and rows (float64, one column per name); a torn
    last line (no newline) is left out and ``warn`` is told."""
    import csv

    import polars as pl

    data = Path(path).read_bytes()
    if not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            raise ValueError("trace.csv has no complete header row" if data else "trace.csv is empty (no header row)")
        data = data[:cut]
        warn(f"{path}: the last line was incomplete (a torn write) and is left out")
    end = data.find(b"\n") + 1
    while data[:end].count(b'"') % 2 and data.find(b"\n", end) >= 0:  # a quoted parameter name spans lines
        end = data.find(b"\n", end) + 1
    try:
        header = next(csv.reader(io.StringIO(data[:end].decode("utf-8"))), None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"trace.csv header: {exc}") from None
    if not header:
        raise ValueError("trace.csv is empty (no header row)")
    rest = data[end:]
    if not rest.strip():
        return header, np.empty((0, len(header)))
    schema = {f"c{i}": pl.Float64 for i in range(len(header))}
    try:
        frame = pl.read_csv(rest, has_header=False, schema=schema)
        if not any(frame.null_count().row(0)):
            return header, frame.to_numpy()
    except pl.exceptions.PolarsError:
        pass
    raise ValueError(_bad_row(rest.decode("utf-8", errors="replace"), len(header)))


def _bad_row(rows: str, columns: int) -> str:
    """What polars refused in trace.csv's rows (or read as missing), said in one line."""
    for number, line in enumerate(rows.splitlines(), start=2):
        fields = line.split(",")
        if len(fields) != columns:
            return f"trace.csv rows have {len(fields)} fields but the header names {columns} columns (line {number})"
        for field in fields:
            try:
                float(field)
            except ValueError:
                return f"trace.csv line {number}: {field!r} is not a number"
    return "trace.csv rows are not numbers"


def read_parquet(path: Path, warn: Callable[[str], None]) -> tuple[list[str], np.ndarray]:
    """trace.parquet's columns and rows (float64)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(
            f"trace.parquet cannot be read ({str(exc).splitlines()[0]}): a parquet trace is complete only once "
            "its run has closed it (a run killed outright leaves it without its footer)"
        ) from None
    columns = []
    for name, column in zip(table.column_names, table.columns):
        try:
            columns.append(np.asarray(column.to_numpy(), dtype=float))
        except (TypeError, ValueError, pa.ArrowException):
            raise ValueError(f"trace.parquet column {name!r} holds {column.type}, not numbers") from None
    data = np.column_stack(columns) if columns else np.empty((0, 0))
    return list(table.column_names), data.reshape(table.num_rows, len(columns))


@dataclass(frozen=True)
class TraceFormat:
    """One trace file format: its file name, its sink and its reader."""

    name: str
    file: str
    sink: Callable[[Path, Sequence[str], Sequence[bool]], Any]
    read: Callable[[Path, Callable[[str], None]], tuple[list[str], np.ndarray]]


FORMATS = {
    "csv": TraceFormat("csv", "trace.csv", CsvSink, read_csv),
    "parquet": TraceFormat("parquet", "trace.parquet", ParquetSink, read_parquet),
}
TRACE_FILES = tuple(fmt.file for fmt in FORMATS.values())


class TraceWarning(UserWarning):
    """trace.csv ended with a partial row (a torn write); it was left out."""


def has_trace(run_dir: Path) -> bool:
    """Whether the folder holds a trace file (of either format)."""
    return any((Path(run_dir) / name).is_file() for name in TRACE_FILES)


def trace_file(run_dir: Path) -> Path | None:
    """The run directory's trace (trace.csv or trace.parquet), or None. A
    folder that holds both is not one run's: ValueError, naming both."""
    found = [Path(run_dir) / name for name in TRACE_FILES if (Path(run_dir) / name).is_file()]
    if len(found) > 1:
        raise ValueError(f"holds both {' and '.join(TRACE_FILES)}: a run writes one (remove the other)")
    return found[0] if found else None


def read_trace(path: Path, warn: list[str] | None = None) -> dict[str, np.ndarray]:
    """A trace file (trace.csv or trace.parquet; a run directory: its trace)
    as column name -> float array.

    A CSV's last line without its newline is a torn write (a full disk, a
    crash): it is left out, and a warning is appended to ``warn`` (or issued
    as a :class:`TraceWarning` when no list is given). Anything else
    malformed raises ``ValueError`` (or ``OSError`` when the file cannot be read)."""
    path = Path(path)
    if path.is_dir():
        found = trace_file(path)
        if found is None:
            raise ValueError(f"no trace file ({' or '.join(TRACE_FILES)})")
        path = found

    def told(message: str) -> None:
        if warn is None:
            warnings.warn(message, TraceWarning, stacklevel=3)
        else:
            warn.append(message)

    fmt = next((f for f in FORMATS.values() if path.name.endswith("." + f.name)), FORMATS["csv"])
    header, data = fmt.read(path, told)
    if data.shape[1] != len(header):
        raise ValueError(f"trace rows have {data.shape[1]} fields but the header names {len(header)} columns")
    return {name: data[:, i] for i, name in enumerate(header)}
