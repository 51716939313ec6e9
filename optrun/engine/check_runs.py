"""Where ``optrun check`` records its runs, and which of them it keeps.

A check's runs are evidence for the moment, not results to collect, so they
never go to the configs' ``output.dir`` (``./outputs``):

- By default they go to a new temporary folder, named ``optrun-check-``
  and eight random characters (``tempfile.mkdtemp``), in the system's
  temporary directory (``$TMPDIR``, else ``/tmp``), laid out as
  ``output.dir`` is: ``<folder>/<config name>/<timestamp>``. A config that
  passes (or was interrupted) has its run directory removed as soon as it is
  back; the run directories of the configs that failed (a failed
  expectation, a failed or diverged run, an error) are kept and the check
  names each one. Whatever else is in the folder (a run cut short by a
  worker that died) is removed at the end, and so is the folder when it
  keeps nothing, whichever way the command ends (a signal, an error).
- With ``--keep-runs DIR`` every run directory is kept, in the same layout:
  ``DIR/<config name>/<timestamp>`` (``optrun show`` and ``compare`` read
  them); nothing in ``DIR`` is ever removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from optrun.core.errors import ConfigError, RunIOError
from optrun.engine.checks import ERROR, FAIL, CheckResult

PREFIX = "optrun-check-"
KEPT = (FAIL, ERROR)  # the outcomes whose run directory a check keeps without --keep-runs


@dataclass
class CheckRuns:
    """The folder a check's runs are made in: temporary (``keep_all`` False),
    or the ``--keep-runs`` folder."""

    folder: Path
    keep_all: bool
    kept: list[Path] = field(default_factory=list)  # the run directories kept in a temporary folder

    def done(self, result: CheckResult) -> None:
        """A config's check is back: in a temporary folder, its run directory
        goes at once unless it failed (so the folder never holds more than the
        failures and the runs in progress)."""
        if not self.keep_all and result.run_dir and result.outcome not in KEPT:
            self._remove(Path(result.run_dir))

    def settle(self, results: Sequence[CheckResult]) -> list[CheckResult]:
        """The results, each naming its run directory only if it is kept (the
        others' are removed, with anything else in a temporary folder)."""
        if self.keep_all:
            return list(results)
        keep = {id(r) for r in results if r.outcome in KEPT and r.run_dir and self._inside(Path(r.run_dir))}
        self.kept = [Path(r.run_dir).absolute() for r in results if id(r) in keep]
        wanted = {path.resolve() for path in self.kept}
        for name_dir in self._entries(self.folder):
            for run in self._entries(name_dir) if name_dir.is_dir() and not name_dir.is_symlink() else []:
                if run.resolve() not in wanted:
                    self._remove(run)
            if name_dir.resolve() not in {path.parent for path in wanted}:
                self._remove(name_dir)
        if not self.kept:
            self._remove(self.folder)
        return [r if id(r) in keep or not r.run_dir else dataclasses.replace(r, run_dir="") for r in results]

    def _inside(self, path: Path) -> bool:
        return self.folder.resolve() in path.resolve().parents

    def _remove(self, path: Path) -> None:
        if path == self.folder or self._inside(path):  # never anything outside the temporary folder
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()

    @staticmethod
    def _entries(folder: Path) -> list[Path]:
        try:
            return sorted(folder.iterdir())
        except OSError:
            return []


@contextlib.contextmanager
def check_runs(keep_runs: Path | None) -> Iterator[CheckRuns]:
    """The folder for a check's runs while the block runs: ``keep_runs``
    (made if needed), else a new temporary folder, removed on the way out
    unless :meth:`CheckRuns.settle` kept runs in it."""
    if keep_runs is not None:
        yield CheckRuns(_made(keep_runs), keep_all=True)
        return
    try:
        folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    except OSError as exc:
        raise RunIOError(
            f"cannot create a temporary folder for the check's runs: {exc.strerror or exc} "
            "(set TMPDIR to a folder with room, or give --keep-runs DIR)",
            source=tempfile.gettempdir(),
        ) from None
    runs = CheckRuns(folder, keep_all=False)
    try:
        yield runs
    finally:
        if not runs.kept:
            shutil.rmtree(folder, ignore_errors=True)


def _made(folder: Path) -> Path:
    """The ``--keep-runs`` folder, made if it does not exist yet."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError("--keep-runs: not a folder", source=str(folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = exc.strerror or str(exc)
        if folder.is_symlink() and not folder.exists():
            why = "a symbolic link to a folder that does not exist"
        raise RunIOError(f"--keep-runs: cannot create the folder: {why}", source=str(folder)) from None
    return folder
