"""``optrun check``: run configs and compare them with their ``expect:`` blocks.

The regression test for converged minima: every config with an ``expect:``
block is run (in parallel processes with ``workers > 1``) and compared field
by field (see :mod:`optrun.commands.expect`). Configs without one are reported as
skipped, never dropped. Results can be written as JUnit XML, and
``update_expectations`` rewrites the expected values in place after an
intended change, keeping the files' comments and key order (ruamel.yaml's
round-trip mode).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optrun.commands.expect import Check, check_expect
from optrun.config import plain_data
from optrun.core.errors import ConfigError, OptrunError, short
from optrun.core.result import Summary
from optrun.core.status import Status

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
        return f"rounding-sensitive: last-bit changes move {spread} (tolerance {record.margin:g}x that)"

    @property
    def why(self) -> str:
        """The short form of :attr:`message`, for the one line of --quiet: a
        failed or diverged run's status, else the first field that broke."""
        if self.outcome != FAIL or not self.checks:
            return self.message
        if self.summary is not None and self.summary.status.failure:
            return f"run {self.summary.status.value}: {self.summary.message}"
        first, *more = self.failures
        return f"{first.field}: expected {short(first.expected)}, got {short(first.got)}" + (
            f" (and {len(more)} more)" if more else ""
        )

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

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
        ):
            parts.insert(0, f"run {self.summary.status.value}: {self.summary.message}")
        if self.recorded_on and self.machine and self.recorded_on != self.machine:
            parts.append(f"expectation recorded on {self.recorded_on}; this run: {self.machine}")
        return "; ".join(parts)


def find_configs(paths: Sequence[str | Path]) -> list[Path]:
    """The YAML configs in ``paths`` (files, or folders searched recursively; run directories and hidden folders skipped)."""
    import os

    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix in (".yaml", ".yml") and p.is_file() and not _in_run_or_hidden(p, path)
                )
            )
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
    if (file.parent / "trace.csv").exists():
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


def not_run(path: str, overrides: Sequence[str] = ()) -> CheckResult | None:
    """The result of a config that needs no run (skipped, or a config error), else None."""
    found = _load(path, overrides, time.perf_counter())
    return found if isinstance(found, CheckResult) else None


def check_one(
    path: str, overrides: Sequence[str] = (), problems: str | None = None, blas_threads: int | None = None
) -> CheckResult:
    """Run one config and compare it with its expect: block (picklable, for worker processes)."""
    from optrun.engine.record import execute
    from optrun.config.plugins import load_user_problems

    start = time.perf_counter()
    load_user_problems(problems)
    config = _load(path, overrides, start)
    if isinstance(config, CheckResult):
        return config
    try:
        result = execute(config, blas_threads=blas_threads)
    except OptrunError as exc:
        outcome = ERROR if isinstance(exc, ConfigError) else FAIL
        return CheckResult(path, outcome, error=str(exc), seconds=time.perf_counter() - start)
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
    ok = all(c.ok for c in checks) and not result.status.failure
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
    on_done: Any = None,
) -> list[CheckResult]:
    """Check every config, in order; ``on_done(result)`` is called as each finishes.

    With ``workers`` > 1, the configs that run (those with an expect: block
    and no config error) go to a pool of spawned worker processes when there
    are two or more of them; otherwise everything runs in this process.

    SIGINT/SIGTERM stops the check: the configs running are reported as
    ``interrupted``, the others as ``not run`` (nothing more starts; worker
    processes are stopped)."""
    import signal

    from optrun.engine.signals import run_signals

    names = [str(p) for p in paths]
    done = on_done or (lambda result: None)
    results: list[CheckResult | None] = [None] * len(names)

    def stopped(i: int, signum: int) -> CheckResult:
        return CheckResult(
            names[i],
            NOT_RUN,
            error=f"not started: the check was stopped by {signal.Signals(signum).name}",
            signum=signum,
        )

    with run_signals() as flag:  # the command's handler if it has one: a signal is only recorded
        if (
            workers > 1 and len(names) > 1
        ):  # spawn workers only for the configs that run: skips and errors are known here
            from optrun.config.plugins import load_user_problems

            load_user_problems(problems)
            known = [not_run(name, overrides) for name in names]
            if sum(r is None for r in known) <= 1:
                workers = 1
        if workers <= 1 or len(names) <= 1:
            for i, name in enumerate(names):
                signum = flag.signum if flag is not None else None
                if signum is None:
                    try:
                        results[i] = check_one(name, overrides, problems)
                    except KeyboardInterrupt as exc:  # refused to start: the signal came just before it
                        signum = getattr(exc, "signum", signal.SIGINT)
                    else:
                        done(results[i])
                        signum = (results[i].signum or signal.SIGINT) if results[i].outcome == INTERRUPTED else None
                if signum is not None:
                    for j in range(i, len(names)):
                        results[j] = results[j] or stopped(j, signum)
                    break
            return [r for r in results if r is not None]

        from optrun.engine.pool import run_calls
        from optrun.core.machine import blas_threads

        threads = blas_threads()

        runs = [i for i, result in enumerate(known) if result is None]  # the others are known already
        for i, result in enumerate(known):
            if result is not None:
                results[i] = result
                done(result)

        def finished(k: int, result: CheckResult) -> None:
            results[runs[k]] = result
            done(result)

        calls = [(names[i], tuple(overrides), problems, threads) for i in runs]
        signum, _, lost = run_calls(check_one, calls, workers, finished, flag)
        signum = signum or next((r.signum for r in results if r is not None and r.outcome == INTERRUPTED), None)
        for k, why in lost.items():
            i = runs[k]
            if signum is not None:  # stopped by the signal
                results[i] = CheckResult(
                    names[i],
                    INTERRUPTED,
                    signum=signum,
                    error=f"interrupted by {signal.Signals(signum).name}: its worker was stopped before it finished",
                )
            else:  # its worker died by itself (killed, out of memory): a failure, not a stop
                results[i] = CheckResult(names[i], FAIL, error=f"not checked: {why} before the run finished")
        if signum is not None:
            for i in range(len(names)):
                results[i] = results[i] or stopped(i, signum)
    return [r for r in results if r is not None]


def exit_code(results: Sequence[CheckResult]) -> int:
    """128 + the signal when the check was stopped, else 2 for a config
    error, 1 for a failure, 0."""
    stopped = next((r.signum or 2 for r in results if r.outcome in (INTERRUPTED, NOT_RUN)), None)
    if stopped is not None:
        return 128 + stopped
    if any(r.outcome == ERROR for r in results):
        return 2
    if any(r.outcome == FAIL for r in results):
        return 1
    return 0


def totals(results: Sequence[CheckResult]) -> str:
    counts = {k: sum(r.outcome == k for r in results) for k in (PASS, FAIL, ERROR, SKIP)}
    seconds = sum(r.seconds for r in results)
    sensitive = sum(bool(r.note) for r in results)
    extra = f"; {sensitive} rounding-sensitive, checked to their calibrated spread" if sensitive else ""
    stopped = sum(r.outcome == INTERRUPTED for r in results), sum(r.outcome == NOT_RUN for r in results)
    cut = f", {stopped[0]} interrupted, {stopped[1]} not run" if any(stopped) else ""
    return (
        f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[ERROR]} errors, {counts[SKIP]} skipped{cut} "
        f"({len(results)} configs, {seconds:.1f} s of runs{extra})"
    )


# ----------------------------------------------------------------- reports
def results_table(results: Sequence[CheckResult]):
    from rich.table import Table
    from rich.text import Text

    style = {
        PASS: "bold green",
        FAIL: "bold red",
        ERROR: "bold red",
        SKIP: "yellow",
        INTERRUPTED: "magenta",
        NOT_RUN: "magenta",
    }
    table = Table(title="optrun check", title_justify="left")
    for column in ("config", "result", "status", "f", "expected f", "time (s)", "what broke / notes"):
        table.add_column(
            column, overflow="fold", justify="right" if column in ("f", "expected f", "time (s)") else "left"
        )
    for r in results:
        expected_f = next((c.expected for c in r.checks if c.field == "fun"), None)
        table.add_row(  # paths and messages are user text: literal, never markup
            Text(r.path),
            f"[{style[r.outcome]}]{r.outcome.upper()}[/]",
            Text(r.summary.status.value) if r.summary is not None else "-",
            short(r.summary.fun) if r.summary is not None and r.summary.fun is not None else "-",
            short(expected_f) if expected_f is not None else "-",
            f"{r.seconds:.2f}",
            Text("; ".join(part for part in (r.message, r.note) if part) or "-"),
        )
    return table


def write_junit(results: Sequence[CheckResult], path: Path) -> None:
    import io
    import xml.etree.ElementTree as ET

    from optrun.core.errors import RunIOError
    from optrun.core.outputs import write_bytes_atomic

    counts = {k: sum(r.outcome == k for r in results) for k in (FAIL, ERROR, SKIP)}
    counts[ERROR] += sum(r.outcome == INTERRUPTED for r in results)
    counts[SKIP] += sum(r.outcome == NOT_RUN for r in results)
    suites = ET.Element("testsuites", name="optrun check")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="optrun check",
        tests=str(len(results)),
        failures=str(counts[FAIL]),
        errors=str(counts[ERROR]),
        skipped=str(counts[SKIP]),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname="optrun.commands.check", name=r.path, time=f"{r.seconds:.3f}")
        if r.outcome == FAIL:
            failure = ET.SubElement(case, "failure", message=r.message, type="ExpectationFailed")
            failure.text = (
                "\n".join(f"{c.field}: expected {c.expected!r}, got {c.got!r} {c.detail}".rstrip() for c in r.failures)
                or r.message
            )
        elif r.outcome == ERROR:
            ET.SubElement(case, "error", message=r.error, type="ConfigError")
        elif r.outcome == SKIP:
            ET.SubElement(case, "skipped", message=r.error)
        elif r.outcome == INTERRUPTED:  # not a pass: CI must not show a cut check as green
            ET.SubElement(case, "error", message=r.error, type="Interrupted")
        elif r.outcome == NOT_RUN:
            ET.SubElement(case, "skipped", message=r.error)
        if r.run_dir:
            ET.SubElement(case, "system-out").text = f"run directory: {r.run_dir}"
    tree = ET.ElementTree(suites)
    ET.indent(tree)
    buffer = io.BytesIO()
    tree.write(buffer, encoding="utf-8", xml_declaration=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, buffer.getvalue())  # complete or absent, even on a full disk
    except OSError as exc:
        raise RunIOError(f"cannot write the JUnit report: {exc.strerror or exc}", source=str(path)) from None
    except RunIOError as exc:
        raise RunIOError(
            f"cannot write the JUnit report: {exc.message.removeprefix('cannot write: ')}", source=str(path)
        ) from None


# ------------------------------------------------------------------ update
def update_expectations(result: CheckResult) -> tuple[list[str], list[str]]:
    """Rewrite the expected values that failed with what the run got; keeps
    comments, key order and flow style, and every value that still passes.
    Returns ('expect.key: old -> new' lines, failures it could not rewrite):
    ``known`` stays ``known``, values given with --set are not in the file,
    and a run that failed or diverged is left alone."""
    if result.outcome != FAIL:
        return [], []
    if result.summary is None or result.summary.status.failure:
        return [], [result.message]
    yaml = _round_trip_yaml()
    path = Path(result.path)
    data = yaml.load(path.read_text(encoding="utf-8"))
    expect = data.get("expect") if isinstance(data, dict) else None
    summary = result.summary
    changes: list[str] = []
    left: list[str] = []
    for check in result.failures:
        key = check.field
        top = key.split(".")[0]
        if not isinstance(expect, dict) or top not in expect:
            left.append(f"expect.{key} is not in the file (given with --set?): not rewritten")
        elif top in ("fun", "params") and expect[top] == "known":
            left.append(f"expect.{key}: known (the problem's reference) is not rewritten: {check.detail}")
        elif key == "status":
            new = summary.status.value
            changes.append(f"expect.status: {expect['status']} -> {new}")
            expect["status"] = new
        elif key == "fun" and summary.fun is not None:
            changes.append(f"expect.fun: {short(expect['fun'])} -> {short(summary.fun)}")
            expect["fun"] = summary.fun
        elif (
            key.startswith("params.")
            and isinstance(expect.get("params"), dict)
            and key.split(".", 1)[1] in expect["params"]
        ):
            name = key.split(".", 1)[1]
            new = summary.params[name]
            changes.append(f"expect.{key}: {short(plain_data(expect['params'][name]))} -> {short(new)}")
            _assign(expect["params"], name, new)
        elif key == "max_nit":
            changes.append(f"expect.max_nit: {expect['max_nit']} -> {summary.nit}")
            expect["max_nit"] = summary.nit
        else:
            left.append(f"expect.{key}: not rewritten ({check.detail})")
    if changes:
        _write_round_trip(yaml, data, Path(path))
    return changes, left


def update_all(results: Sequence[CheckResult]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``update_expectations`` for every result: ([(path, change)], [(path, failure left)])."""
    changed: list[tuple[str, str]] = []
    left: list[tuple[str, str]] = []
    for r in results:
        done, not_done = update_expectations(r)
        changed += [(r.path, c) for c in done]
        left += [(r.path, c) for c in not_done]
    return changed, left


def _round_trip_yaml():
    """ruamel.yaml in round-trip mode: comments, key order and flow style kept."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.representer.add_representer(type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null"))
    yaml.representer.add_representer(
        float, lambda rep, value: rep.represent_scalar("tag:yaml.org,2002:float", _float_text(value))
    )
    return yaml


def _float_text(value: float) -> str:
    """repr, with a '.' in the mantissa (2.0e-12, not 2e-12: YAML 1.1 readers take 2e-12 for a string)."""
    text = repr(float(value))
    if text in ("inf", "-inf", "nan"):
        return {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}[text]
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        return f"{mantissa}.0e{exponent}"
    return text


def _assign(mapping: Any, key: str, new: Any) -> None:
    """Set mapping[key] = new, keeping an existing sequence's style by editing it in place."""
    old = mapping[key]
    if (
        isinstance(old, list)
        and isinstance(new, list)
        and len(old) == len(new)
        and not any(isinstance(v, (list, dict)) for v in new)
    ):
        for i, value in enumerate(new):
            old[i] = value
    else:
        mapping[key] = new


# -------------------------------------------------------------- calibrate
@dataclass(frozen=True)
class CalibrationResult:
    """One config's calibration, or why it could not be calibrated."""

    path: str
    calibration: Any = None  # optrun.commands.calibrate.Calibration, when the config could be calibrated
    error: str = ""  # a config error, or why there was nothing to calibrate
    written: bool = False

    @property
    def outcome(self) -> str:
        if self.error:
            return SKIP if self.error in SKIP_REASONS else ERROR
        return PASS if self.calibration.ok else FAIL


def calibrate_configs(
    paths: Sequence[Path],
    overrides: Sequence[str] = (),
    workers: int = 1,
    problems: str | None = None,
    margin: float | None = None,
    write: bool = True,
    on_sample: Any = None,
) -> tuple[list[CalibrationResult], str]:
    """Re-run every config with an expect: block under perturbations that
    stand in for another machine, and write the tolerances that cover them
    (see :mod:`optrun.commands.calibrate`). Returns the results and a note on the
    variants that could not be run here."""
    from optrun.commands import calibrate
    from optrun.config import load_config
    from optrun.config.plugins import load_user_problems

    margin = calibrate.MARGIN if margin is None else margin
    load_user_problems(problems)
    expects: dict[str, Any] = {}
    results: dict[str, CalibrationResult] = {}
    from optrun.config.bench import is_bench_suite

    for path in map(str, paths):
        if is_bench_suite(path):
            results[path] = CalibrationResult(path, error=BENCH_SUITE)
            continue
        try:
            config = load_config(path, overrides)
        except OptrunError as exc:
            results[path] = CalibrationResult(path, error=str(exc))
            continue
        if config.expect is None:
            results[path] = CalibrationResult(path, error=NO_EXPECT)
        else:
            expects[path] = config.expect
    samples, errors, note = calibrate.collect(
        list(expects), overrides, problems, workers, on_sample=on_sample or (lambda path, sample: None)
    )
    for path, expect in expects.items():
        if path in errors:
            results[path] = CalibrationResult(path, error=errors[path])
            continue
        found = calibrate.calibrate_samples(path, expect, samples[path], margin)
        written = False
        if write and found.ok:
            write_calibration(Path(path), found, margin)
            written = True
        results[path] = CalibrationResult(path, found, written=written)
    return [results[str(p)] for p in paths], note


def write_calibration(path: Path, found: Any, margin: float) -> None:
    """Write the calibrated tolerances, recorded_on and the calibration record
    into the config's expect: block (comments and the other keys kept)."""
    from ruamel.yaml.comments import CommentedMap

    from optrun.commands.calibrate import round_up

    yaml = _round_trip_yaml()
    data = yaml.load(path.read_text(encoding="utf-8"))
    expect = data["expect"]
    if expect.fa.flow_style():
        expect.fa.set_block_style()

    def flow(mapping: dict[str, Any]) -> CommentedMap:
        node = CommentedMap(mapping)
        node.fa.set_flow_style()
        return node

    expect["atol"] = flow({f.field: f.tolerance for f in found.fields}) if found.fields else 0.0
    expect["rtol"] = 0.0
    expect["recorded_on"] = found.machine
    expect["calibration"] = flow(
        {
            "margin": margin,
            "samples": len(found.samples),
            "sensitive": found.sensitive,
            "spread": flow({f.field: round_up(f.spread) for f in found.fields}),
        }
    )
    _write_round_trip(yaml, data, path)


def _write_round_trip(yaml: Any, data: Any, path: Path) -> None:
    """Write a config read with ruamel.yaml's round trip back (comments kept), complete or untouched, even on a
    full disk: it is the user's own file."""
    import io

    from optrun.core.outputs import write_text_atomic

    buffer = io.StringIO()
    yaml.dump(data, buffer)
    write_text_atomic(path, buffer.getvalue())


def calibration_table(results: Sequence[CalibrationResult], note: str = ""):
    from rich.table import Table
    from rich.text import Text

    style = {PASS: "bold green", FAIL: "bold red", ERROR: "bold red", SKIP: "yellow"}
    table = Table(title="optrun check --calibrate", title_justify="left", caption=note or None, caption_justify="left")
    for column in ("config", "result", "runs", "field", "spread", "tolerance", "verdict"):
        table.add_column(
            column, overflow="fold", justify="right" if column in ("runs", "spread", "tolerance") else "left"
        )
    for r in results:
        label = {PASS: "WRITTEN" if r.written else "OK", FAIL: "FAIL", ERROR: "ERROR", SKIP: "SKIP"}[r.outcome]
        head = [Text(r.path), f"[{style[r.outcome]}]{label}[/]"]
        if r.error:
            table.add_row(*head, "-", "-", "-", "-", Text(r.error))
            continue
        cal = r.calibration
        verdict = "; ".join(cal.problems) or ("rounding-sensitive" if cal.sensitive else "stable")
        rows = [(f.field, f"{f.spread:.2g}", f"{f.tolerance:.2g}") for f in cal.fields] or [("-", "-", "-")]
        for i, (name, spread, tolerance) in enumerate(rows):
            table.add_row(
                *(head if i == 0 else ["", ""]),
                str(len(cal.samples)) if i == 0 else "",
                Text(name),
                spread,
                tolerance,
                Text(verdict) if i == 0 else "",
            )
    return table


# ----------------------------------------------------------- optrun check
def check_command(
    paths: Sequence[Path],
    junit: Path | None,
    workers: int,
    update: bool,
    calibrate: bool,
    margin: float,
    plots: bool,
    overrides: Sequence[str],
    problems: Path | None,
    strict: bool = False,
    quiet: bool = False,
) -> int:
    """``optrun check`` (``--update``, ``--calibrate``): check the configs
    found in ``paths`` (default: configs/), print the results; returns the
    exit status (see :func:`exit_code`; with ``--update``, what is still
    failing after the rewrite and the calibration). ``quiet``: no bar, no
    table; a failure is one line on stderr."""
    from optrun.commands.common import err, failure_line, load_problems, out
    from optrun.engine.signals import signal_name
    from optrun.commands.progress import progress
    from optrun.engine.signals import stoppable

    load_problems(problems)
    overrides = [*overrides, *([] if plots else ["output.plots=false"])]
    problems_dir = str(problems) if problems else None
    if calibrate and update:
        raise ConfigError(
            "--calibrate and --update are two modes: --update rewrites failing values and calibrates them, "
            "--calibrate only rewrites tolerances"
        )
    configs = find_configs(paths or [Path("configs")])
    if calibrate:
        return calibrate_command(configs, overrides, workers, problems_dir, margin, quiet)
    with stoppable() as flag:
        with progress("checking", len(configs), hidden=quiet) as bar:
            results = run_checks(configs, overrides, workers, problems_dir, on_done=bar.advance)
        if junit is not None:
            write_junit(results, junit)
        if not quiet:
            out().print(results_table(results))
            out().print(totals(results), highlight=False)
        code = exit_code(results)
        nothing_checked = bool(results) and all(r.outcome == SKIP for r in results)
        if nothing_checked:  # nothing was checked: say so; --strict fails it
            err.print(
                f"{'error' if strict else 'warning'}: no config was checked: none of the {len(results)} has an expect: block"
                + ("" if strict else " (--strict makes this exit 1)"),
                markup=False,
                style="red" if strict else "yellow",
            )
            code = max(code, 1) if strict else code
        if code >= 128:  # stopped by a signal: what ran is reported, nothing is rewritten
            cut = [r for r in results if r.outcome in (INTERRUPTED, NOT_RUN)]
            err.print(
                f"interrupted by {signal_name(code - 128)}: {len(results) - len(cut)} of {len(results)} configs checked"
                + (f"; JUnit report: {junit}" if junit is not None else "")
                + ("; nothing was updated" if update else ""),
                markup=False,
            )
            return code
        if update:
            return update_command(results, code, flag, overrides, workers, problems_dir, margin, quiet)
        if quiet and code and not nothing_checked:  # the table is hidden, the failure never
            broken = [r for r in results if r.outcome in (FAIL, ERROR)]
            failure_line(
                "check failed: "
                + "; ".join(f"{r.path}: {r.outcome} ({r.why})" for r in broken)
                + f"; {totals(results)}"
            )
    return code


def update_command(
    results: Sequence[CheckResult],
    code: int,
    flag: Any,
    overrides: Sequence[str],
    workers: int,
    problems: str | None,
    margin: float,
    quiet: bool = False,
) -> int:
    """``check --update`` after the check (whose exit status is ``code``):
    rewrite the failing expected values, print what changed and what still
    fails, then calibrate the files it rewrote. Returns the exit status: 2
    if a config had an error, else 1 if a failure is left or a calibration
    failed, else 0. ``flag`` is the command's signal flag: Ctrl-C stops the
    calibration at once. ``quiet``: nothing on stdout; what still fails is one line on stderr."""
    from optrun.commands.common import failure_line, out
    from optrun.core.errors import RunIOError

    try:
        changed, left = update_all(results)
    except OSError as exc:
        raise RunIOError(str(exc)) from None
    files = sorted({path for path, _ in changed})
    if not quiet:
        for path, change in changed:
            out().print(f"updated {path}: {change}", highlight=False, markup=False)
        for path, reason in left:
            out().print(f"still failing {path}: {reason}", highlight=False, markup=False)
        out().print(
            f"--update: {len(changed)} expected values rewritten in {len(files)} files; {len(left)} failures left",
            highlight=False,
        )
    code = 2 if code == 2 else (1 if left else 0)
    calibrated = 0
    if files:
        if flag is not None:
            flag.armed = flag.at_once = True  # calibrating: Ctrl-C stops it at once, as before
        try:
            calibrated = calibrate_command(
                [Path(f) for f in files], overrides, workers, problems, margin, quiet, said=bool(code)
            )
        finally:
            if flag is not None:
                flag.armed = flag.at_once = False
    if quiet and code:
        errors = [f"{r.path}: {r.message}" for r in results if r.outcome == ERROR]
        failure_line(
            "check --update: " + "; ".join([*errors, *(f"still failing {path}: {reason}" for path, reason in left)])
        )
    return max(code, calibrated)


def calibrate_command(
    configs: Sequence[Path],
    overrides: Sequence[str],
    workers: int,
    problems: str | None,
    margin: float,
    quiet: bool = False,
    said: bool = False,
) -> int:
    """``check --calibrate``: calibrate, write, print the table; returns the
    exit status: 2 if a config had an error, 1 if one could not be
    calibrated, else 0. ``quiet``: no bar, no table; a failure is one line
    on stderr (unless ``said``: the caller prints that line)."""
    from optrun.commands.calibrate import variants
    from optrun.commands.common import failure_line, out
    from optrun.commands.progress import progress
    from optrun.core.machine import blas_threads

    runs = len(configs) * len(variants(blas_threads())[0])
    with progress("calibrating", runs, hidden=quiet) as bar:
        results, note = calibrate_configs(configs, overrides, workers, problems, margin, on_sample=bar.advance)
    written = sum(r.written for r in results)
    sensitive = sum(bool(r.calibration and r.calibration.sensitive) for r in results)
    if not quiet:
        out().print(calibration_table(results, note))
        out().print(
            f"--calibrate: tolerances written for {written} of {len(results)} configs ({sensitive} rounding-sensitive); "
            f"margin {margin:g}",
            highlight=False,
        )
    outcomes = {r.outcome for r in results}
    code = 2 if ERROR in outcomes else (1 if FAIL in outcomes else 0)
    if quiet and code and not said:
        failure_line(
            "check --calibrate: "
            + "; ".join(
                f"{r.path}: {r.error or '; '.join(r.calibration.problems)}"
                for r in results
                if r.outcome in (FAIL, ERROR)
            )
        )
    return code
