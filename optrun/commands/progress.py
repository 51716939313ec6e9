"""The progress bar of a command that works through many items (check's
configs, calibration runs, a sweep's runs, validating a sweep): transient,
on stderr, and only on a terminal. A single run's bar, with f and the
gradient norm, is :class:`optrun.commands.terminal.ProgressBar`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


class _NoBar:
    """Not a terminal: nothing is shown."""

    def advance(self, *done: Any) -> None:
        pass

    def update(self, done: int, total: int | None) -> None:
        pass


class _Bar:
    def __init__(self, progress: Any, task: Any):
        self._progress, self._task = progress, task

    def advance(self, *done: Any) -> None:
        """One more item done (whatever is passed: a result, a row, ...)."""
        self._progress.advance(self._task)

    def update(self, done: int, total: int | None) -> None:
        """``done`` of ``total`` items."""
        self._progress.update(self._task, completed=done, total=total)


@contextlib.contextmanager
def progress(label: str, total: int | None, elapsed: bool = True, hidden: bool = False) -> Iterator[_Bar | _NoBar]:
    """A bar labelled ``label`` for ``total`` items (None: not known yet),
    with the time elapsed unless ``elapsed`` is False, none when ``hidden``
    (--quiet); yields an object with ``advance(*ignored)`` and ``update(done, total)``."""
    from optrun.commands.common import err

    if hidden or not err.is_terminal:
        yield _NoBar()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        *([TimeElapsedColumn()] if elapsed else []),
    ]
    with Progress(*columns, console=err, transient=True) as bar:
        yield _Bar(bar, bar.add_task(label, total=total))
