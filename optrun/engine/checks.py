"""Checking configs against their ``expect:`` blocks: the regression test
for converged minima behind ``optrun check``.

Every config with an ``expect:`` block is run and compared field by field
(:mod:`optrun.engine.expect`); configs without one are skipped, never
dropped. The runs go to an executor (:mod:`optrun.engine.executors`): in
this process, a local pool with ``workers > 1``, or a Dask cluster. Their run
directories are made under ``out_dir`` when it is given (``optrun check``
gives its temporary folder or ``--keep-runs DIR``:
:mod:`optrun.engine.check_runs`), else under each config's ``output.dir``.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optrun.core.errors import ConfigError, OptrunError, RunIOError, short
from optrun.core.paths import files_under
from optrun.core.result import Summary
from optrun.core.status import Status
from optrun.core.trace import TRACE_FILES
from optrun.engine import remote
from optrun.engine.executors import choose, run_many
from optrun.engine.expect import Check, check_expect
from optrun.engine.remote import Fetch, Files, Parcel, RemoteForm, Returned, remote_form

PASS, FAIL, SKIP, ERROR = "pass", "fail", "skip", "error"
NO_EXPECT = "no expect: block"
BENCH_SUITE = "a bench suite file (optrun bench runs it), not a run config"
SKIP_REASONS = (NO_EXPECT, BENCH_SUITE)
INTERRUPTED, NOT_RUN = "interrupted", "not run"  # stopped by SIGINT/SIGTERM; not started because of it


@dataclass(frozen=True)
class CheckResult:
    """One config's check: its outcome, the field checks, the run's summary and where it ran."""

    path: str
    outcome: str  # pass | fail | skip | error
    checks: tuple[Check, ...] = ()
    summary: Summary | None = None
    run_dir: str = ""
    seconds: float = 0.0
    error: str = ""  # a config error (exit 2) or why the config was skipped
    changes: tuple[str, ...] = field(default=())
    calibration: Any = None  # the config's expect.calibration record, if calibrated
    recorded_on: str | None = None  # the machine the expectation was recorded on
    machine: str = ""  # the machine this run ran on
    signum: int | None = None  # the signal that interrupted it (or stopped the check before it)

    @property
    def note(self) -> str:
        """Rounding-sensitive configs are checked to their measured spread: say so."""
        record = self.calibration
        if record is None or not record.sensitive:
            return ""
        spread = ", ".join(f"{k} by {v:.2g}" for k, v in record.spread.items() if v)
        margin = f"{record.margin:g}x the largest deviation seen"
        return f"rounding-sensitive: last-bit changes move {spread} (tolerance {margin})"

    @property
    def why(self) -> str:
        """The short form of :attr:`message`, for the one line of --quiet: a
        failed or diverged run's status, else the first field that broke."""
        if self.outcome != FAIL or not self.checks:
            return self.message
        summary = self.summary
        if summary is not None and summary.status.failure and not self.status_expected:
            return f"run {summary.status.value}: {summary.message}"
        first, *more = self.failures
        return f"{first.field}: expected {short(first.expected)}, got {short(first.got)}" + (
            f" (and {len(more)} more)" if more else ""
        )

    def to_json(self) -> dict[str, Any]:
        """The check as ``check --json`` prints it: the table's columns, then every compared field."""
        summary = self.summary
        return {
            "config": self.path,
            "result": self.outcome,
            "status": None if summary is None else summary.status.value,
            "fun": None if summary is None else summary.fun,
            "message": self.message,
            "note": self.note,
            "seconds": self.seconds,
            "run_dir": self.run_dir or None,
            "checks": [
                {"field": c.field, "expected": c.expected, "got": c.got, "ok": c.ok, "detail": c.detail}
                for c in self.checks
            ],
        }

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def status_expected(self) -> bool:
        """The run ended with the status its config expects (an expected infeasible
        run that fails another field is told by that field, not by its status)."""
        return any(c.field == "status" and c.ok for c in self.checks)

    @property
    def message(self) -> str:
        """One line: what broke, or why it was skipped or an error."""
        if self.outcome in (SKIP, ERROR, INTERRUPTED, NOT_RUN) or (self.outcome == FAIL and not self.checks):
            return self.error  # (a failure without checks: its worker died)
        if self.outcome == PASS:
            return ""
        parts = [
            f"{c.field}: expected {short(c.expected)}, got {short(c.got)}" + (f" ({c.detail})" if c.detail else "")
            for c in self.failures
        ]
        if (
            self.summary is not None
            and self.summary.status.failure
            and not any(c.field == "status" for c in self.failures)
            and not self.status_expected
        ):
            parts.insert(0, f"run {self.summary.status.value}: {self.summary.message}")
        if self.recorded_on and self.machine and self.recorded_on != self.machine:
            parts.append(f"expectation recorded on {self.recorded_on}; this run: {self.machine}")
        return "; ".join(parts)


def find_configs(paths: Sequence[str | Path]) -> list[Path]:
    """The YAML configs in ``paths`` (files, or folders searched recursively;
    run directories and hidden folders skipped)."""
    import os

    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = files_under(path, lambda name: Path(name).suffix in (".yaml", ".yml"))
            found.extend(sorted(p for p in files if not _in_run_or_hidden(p, path)))
        elif path.is_file():
            found.append(path)
        elif path.is_symlink() and not path.exists():
            raise ConfigError(f"a symbolic link to {os.readlink(path)}, which does not exist", source=str(path))
        elif path.exists():
            raise ConfigError("not a config file or folder (a device, pipe or socket)", source=str(path))
        else:
            raise ConfigError("no such file or folder", source=str(path))
    if not found:
        raise ConfigError(f"no YAML configs found in {', '.join(map(str, paths))}")
    return found


def _in_run_or_hidden(file: Path, root: Path) -> bool:
    """Run directories hold a resolved config.yaml: those are results, not configs."""
    if any((file.parent / name).exists() for name in TRACE_FILES):
        return True
    return any(part.startswith(".") for part in file.relative_to(root).parts[:-1])


def _load(path: str, overrides: Sequence[str], start: float) -> Any:
    """The config to run, or the CheckResult of one that is not run: a bench
    suite or no expect: block (skipped), a config error."""
    from optrun.config import load_config
    from optrun.config.bench import is_bench_suite

    if is_bench_suite(path):
        return CheckResult(path, SKIP, error=BENCH_SUITE, seconds=time.perf_counter() - start)
    try:
        config = load_config(path, overrides)
    except OptrunError as exc:
        return CheckResult(path, ERROR, error=str(exc), seconds=time.perf_counter() - start)
    if config.expect is None:
        return CheckResult(path, SKIP, error=NO_EXPECT, seconds=time.perf_counter() - start)
    return config


def _into(config: Any, out_dir: str | None) -> Any:
    """A loaded config whose run directory is made under ``out_dir`` instead
    of its ``output.dir`` (None: as it is; a CheckResult passes through)."""
    if out_dir is None or isinstance(config, CheckResult):
        return config
    return dataclasses.replace(config, output=config.output.model_copy(update={"dir": out_dir}))


def not_run(path: str, overrides: Sequence[str] = ()) -> CheckResult | None:
    """The result of a config that needs no run (skipped, or a config error), else None."""
    found = _load(path, overrides, time.perf_counter())
    return found if isinstance(found, CheckResult) else None


def _pack_check(
    path: str,
    overrides: Sequence[str] = (),
    problems: str | None = None,
    blas_threads: int | None = None,
    out_dir: str | None = None,
) -> tuple[tuple[Any, ...], Files]:
    """(On the client.) A config as a task for another machine, with the files it
    reads (its output.dir: ``out_dir``, where the client makes its run directory)."""
    from optrun.config.plugins import load_user_problems

    load_user_problems(problems)
    config = _into(_load(path, overrides, time.perf_counter()), out_dir)
    if isinstance(config, CheckResult):  # skipped or a config error: run_checks keeps these here
        raise ConfigError(config.message, source=path)
    parcel, files = remote.pack(config, blas_threads)
    return (path, parcel), files


def _check_shipped(
    path: str, parcel: Parcel, files: Files, stop: str | None = None
) -> tuple[CheckResult, Returned | None, str, str]:
    """(On a worker.) The check, its run recorded in a scratch folder; with the
    output folder and name the client makes its run directory from."""

    def check(run_dir: Path) -> CheckResult:
        start = time.perf_counter()
        try:
            with remote.opened(parcel, files) as config:
                return _run_check(path, config, start, run_dir, parcel.blas_threads)
        except OptrunError as exc:
            return CheckResult(path, ERROR if isinstance(exc, ConfigError) else FAIL, error=str(exc))

    result, returned = remote.recorded(check, stop)
    return result, returned, parcel.config["output"]["dir"], parcel.config["name"]


def _unpack_check(
    call: tuple[Any, ...], value: tuple[CheckResult, Returned | None, str, str], fetch: Fetch
) -> CheckResult:
    """(On the client.) The run's files in a new run directory under the config's output.dir here."""
    from optrun.core.outputs import make_run_dir

    result, returned, output_dir, name = value
    if returned is None:  # it made no run directory, or the stop cut it: nothing of it is here
        return dataclasses.replace(result, run_dir="")
    try:
        run_dir = make_run_dir(output_dir, name)
        try:
            remote.receive(returned, run_dir, fetch)
        except RunIOError:
            run_dir.rmdir()
            raise
    except RunIOError as exc:
        return CheckResult(result.path, FAIL, error=f"the run's files did not come back: {exc}", seconds=result.seconds)
    return dataclasses.replace(result, run_dir=str(run_dir.resolve()))


@remote_form(RemoteForm(_pack_check, _check_shipped, _unpack_check))
def check_one(
    path: str,
    overrides: Sequence[str] = (),
    problems: str | None = None,
    blas_threads: int | None = None,
    out_dir: str | None = None,
) -> CheckResult:
    """Run one config and compare it with its expect: block (picklable, for
    worker processes); its run directory under ``out_dir`` (None: its output.dir)."""
    from optrun.config.plugins import load_user_problems

    start = time.perf_counter()
    load_user_problems(problems)
    config = _into(_load(path, overrides, start), out_dir)
    if isinstance(config, CheckResult):
        return config
    return _run_check(path, config, start, None, blas_threads)


def _run_check(path: str, config: Any, start: float, run_dir: Path | None, blas_threads: int | None) -> CheckResult:
    """Run a loaded config (in a new run directory, or ``run_dir``) and compare it with its expect: block."""
    from optrun.engine.record import execute

    try:
        result = execute(config, run_dir=run_dir, blas_threads=blas_threads)
    except OptrunError as exc:
        outcome = ERROR if isinstance(exc, ConfigError) else FAIL
        return CheckResult(path, outcome, error=str(exc), seconds=time.perf_counter() - start)
    except SystemExit as exc:  # user code outside the run's loop (which records its own): this check fails alone
        from optrun.core.runner import user_exit

        return CheckResult(path, FAIL, error=f"user code {user_exit(exc)}", seconds=time.perf_counter() - start)
    from optrun.core.machine import describe

    if result.status is Status.INTERRUPTED:
        return CheckResult(
            path,
            INTERRUPTED,
            (),
            result.summary,
            str(result.run_dir),
            time.perf_counter() - start,
            error=result.message,
            machine=describe(result.summary.machine),
            signum=result.signum,
        )
    checks = tuple(check_expect(config.expect, result.summary))
    # a failure status fails the check, unless the config expects it (infeasible: expect.status takes no other)
    expected = config.expect.status == result.status.value and result.status.expectable
    ok = all(c.ok for c in checks) and (not result.status.failure or expected)
    return CheckResult(
        path,
        PASS if ok else FAIL,
        checks,
        result.summary,
        str(result.run_dir),
        time.perf_counter() - start,
        calibration=config.expect.calibration,
        recorded_on=config.expect.recorded_on,
        machine=describe(result.summary.machine),
    )


def run_checks(
    paths: Sequence[Path],
    overrides: Sequence[str] = (),
    workers: int = 1,
    problems: str | None = None,
    on_done: Callable[[CheckResult], None] | None = None,
    dask: str | None = None,
    out_dir: str | Path | None = None,
) -> list[CheckResult]:
    """Check every config, in order; ``on_done(result)`` is called as each finishes.
    Each run directory is made under ``out_dir`` (here, also for runs on a Dask
    cluster), or under its config's output.dir when None.

    With ``workers`` > 1, the configs that run (those with an expect: block
    and no config error) go to a local pool when there are two or more of
    them; with ``dask`` (a scheduler address, or local:N), to a Dask cluster;
    otherwise everything runs in this process.

    SIGINT/SIGTERM stops the check: the configs running are reported as
    ``interrupted``, the others as ``not run`` (nothing more starts; worker
    processes are stopped)."""
    from optrun.config.plugins import load_user_problems
    from optrun.core.machine import blas_threads

    names = [str(p) for p in paths]
    done = on_done or (lambda result: None)
    results: list[CheckResult | None] = [None] * len(names)
    runs = list(range(len(names)))
    remote = dask is not None or (workers > 1 and len(names) > 1)
    if remote:  # send only the configs that run: skips and errors are known here
        load_user_problems(problems)
        for i, name in enumerate(names):
            results[i] = skipped = not_run(name, overrides)
            if skipped is not None:
                done(skipped)
        runs = [i for i in runs if results[i] is None]

    def finished(k: int, result: CheckResult) -> None:
        results[runs[k]] = result
        done(result)

    threads = blas_threads()
    where = None if out_dir is None else str(Path(out_dir).absolute())
    calls = [(names[i], tuple(overrides), problems, threads, where) for i in runs]
    ended = run_many(choose(workers if len(runs) > 1 else 1, dask), check_one, calls, finished)
    signum = ended.signum or next((r.signum for r in results if r is not None and r.outcome == INTERRUPTED), None)
    for k, why in ended.lost.items():
        i = runs[k]
        if signum is not None:  # stopped by the signal
            stop = signal.Signals(signum).name
            results[i] = CheckResult(
                names[i],
                INTERRUPTED,
                signum=signum,
                error=f"interrupted by {stop}: its worker was stopped before it finished",
            )
        else:  # its worker died by itself (killed, out of memory): a failure, not a stop
            results[i] = CheckResult(names[i], FAIL, error=f"not checked: {why} before the run finished")
    if signum is not None:
        for i, name in enumerate(names):
            results[i] = results[i] or CheckResult(
                name,
                NOT_RUN,
                error=f"not started: the check was stopped by {signal.Signals(signum).name}",
                signum=signum,
            )
    return [r for r in results if r is not None]
