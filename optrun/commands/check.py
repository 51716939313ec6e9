"""``optrun check``: run configs and compare them with their ``expect:``
blocks (the work: :mod:`optrun.engine.checks`); print the table, write
JUnit XML (:mod:`optrun.commands.check_output`), and with ``--update`` /
``--calibrate`` rewrite the blocks (:mod:`optrun.engine.rewrite`,
:mod:`optrun.engine.calibrate`). The runs go to a temporary folder, or
``--keep-runs DIR``, never to ``./outputs`` (:mod:`optrun.engine.check_runs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optrun.commands.check_output import kept_lines, print_json, where, write_junit
from optrun.commands.common import say, shown, visible
from optrun.commands.tables import Breakable, print_table
from optrun.core.errors import ConfigError, short
from optrun.engine.calibrate import CalibrationResult, calibrate_configs
from optrun.engine.check_runs import KEPT, CheckRuns, check_runs
from optrun.engine.checks import ERROR, FAIL, INTERRUPTED, NOT_RUN, PASS, SKIP, CheckResult, find_configs, run_checks
from optrun.engine.rewrite import update_all


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


def config_names(results: Sequence[Any]) -> tuple[str, list[str]]:
    """The configs' paths as the tables show them: when several share a
    folder, ``": FOLDER/"`` for the title and each path below it; else no
    title part and each path as :func:`shown` gives it (user text: made visible)."""
    import os

    from optrun.commands.common import visible

    paths = [os.path.abspath(r.path) for r in results]
    folder = os.path.commonpath([os.path.dirname(p) for p in paths]) if len(paths) > 1 else ""
    if not folder or folder == os.sep:
        return "", [visible(shown(p)) for p in paths]
    return visible(f": {shown(folder)}/"), [visible(os.path.relpath(p, folder)) for p in paths]


def notes(results: Sequence[CheckResult]) -> list[str]:
    """What broke and why, one line per config that has something to say:
    printed under the table (prose folds at the console's width, the columns stay narrow)."""
    _, names = config_names(results)
    said = [(name, "; ".join(part for part in (r.message, r.note) if part)) for r, name in zip(results, names)]
    return [f"{name}: {text}" for name, text in said if text]


def results_table(results: Sequence[CheckResult]):
    from rich.table import Table
    from rich.text import Text

    from optrun.commands.tables import add_columns

    style = {
        PASS: "bold green",
        FAIL: "bold red",
        ERROR: "bold red",
        SKIP: "yellow",
        INTERRUPTED: "magenta",
        NOT_RUN: "magenta",
    }
    folder, names = config_names(results)
    table = Table(title=Text(f"optrun check{folder}"), title_justify="left")
    add_columns(
        table, ("config", "result", "status", "f", "expected f", "time (s)"), numeric=("f", "expected f", "time (s)")
    )
    for r, name in zip(results, names):
        expected_f = next((c.expected for c in r.checks if c.field == "fun"), None)
        table.add_row(  # paths and messages are user text: literal, never markup
            Breakable(name),
            f"[{style[r.outcome]}]{r.outcome.upper()}[/]",
            Text(r.summary.status.value) if r.summary is not None else "-",
            short(r.summary.fun) if r.summary is not None and r.summary.fun is not None else "-",
            short(expected_f) if expected_f is not None else "-",
            f"{r.seconds:.2f}",
        )
    return table


def calibration_table(results: Sequence[CalibrationResult], note: str = ""):
    from rich.table import Table
    from rich.text import Text

    from optrun.commands.tables import add_columns

    style = {PASS: "bold green", FAIL: "bold red", ERROR: "bold red", SKIP: "yellow"}
    folder, names = config_names(results)
    table = Table(
        title=Text(f"optrun check --calibrate{folder}"),
        title_justify="left",
        caption=note or None,
        caption_justify="left",
    )
    add_columns(
        table,
        ("config", "result", "runs", "field", "spread", "tolerance", "verdict"),
        numeric=("runs", "spread", "tolerance"),
    )
    for r, name in zip(results, names):
        label = {PASS: "WRITTEN" if r.written else "OK", FAIL: "FAIL", ERROR: "ERROR", SKIP: "SKIP"}[r.outcome]
        head: list[Any] = [Breakable(name), f"[{style[r.outcome]}]{label}[/]"]
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
    json_out: bool = False,
    dask: str | None = None,
    keep_runs: Path | None = None,
) -> int:
    """``optrun check`` (``--update``, ``--calibrate``): check the configs
    found in ``paths`` (default: configs/), print the results (as JSON with
    ``json_out``); returns the
    exit status (see :func:`exit_code`; with ``--update``, what is still
    failing after the rewrite and the calibration). ``quiet``: no bar, no
    table; a failure is one line on stderr. The runs are recorded in a
    temporary folder that keeps only the failing configs' runs, or in
    ``keep_runs`` (all of them): :mod:`optrun.engine.check_runs`."""
    from optrun.commands.common import load_problems

    load_problems(problems)
    overrides = [*overrides, *([] if plots else ["output.plots=false"])]
    problems_dir = str(problems) if problems else None
    if calibrate and update:
        raise ConfigError(
            "--calibrate and --update are two modes: --update rewrites failing values and calibrates them, "
            "--calibrate only rewrites tolerances"
        )
    if json_out and (calibrate or update):
        raise ConfigError("--json prints a check's results: leave it out with --calibrate and --update")
    if dask is not None:
        if calibrate or update:
            raise ConfigError(
                "--dask runs the checks on a cluster; --calibrate and --update run here: leave out --dask"
            )
        from optrun.engine.executors import check_dask_address

        check_dask_address(dask)  # before anything runs
    if calibrate and keep_runs is not None:
        raise ConfigError("--calibrate re-runs the configs without recording them: leave out --keep-runs")
    configs = find_configs(paths or [Path("configs")])
    if calibrate:
        return calibrate_command(configs, overrides, workers, problems_dir, margin, quiet)
    with check_runs(keep_runs) as runs:
        return _check(
            configs, runs, overrides, workers, problems_dir, junit, update, margin, strict, quiet, json_out, dask
        )


def _check(
    configs: Sequence[Path],
    runs: CheckRuns,
    overrides: Sequence[str],
    workers: int,
    problems_dir: str | None,
    junit: Path | None,
    update: bool,
    margin: float,
    strict: bool,
    quiet: bool,
    json_out: bool,
    dask: str | None,
) -> int:
    """:func:`check_command`'s check (and ``--update``), its runs recorded in ``runs``."""
    from optrun.commands.common import err, failure_line, note, out
    from optrun.commands.progress import progress
    from optrun.engine.signals import signal_name, stoppable

    with stoppable() as flag:
        with progress("checking", len(configs), hidden=quiet) as bar:

            def done(result: CheckResult) -> None:
                runs.done(result)
                bar.advance(result)

            found = run_checks(configs, overrides, workers, problems_dir, on_done=done, dask=dask, out_dir=runs.folder)
        results = runs.settle(found)  # each names its run directory only if it is kept
        if junit is not None:
            write_junit(results, junit)
        if json_out and not quiet:
            print_json(results)
        elif not quiet:
            print_table(results_table(results))
            for line in notes(results):
                out().print(
                    visible(line), markup=False, highlight=False, soft_wrap=True
                )  # one line each: grep finds it
            out().print(totals(results), highlight=False, soft_wrap=True)
        if not quiet:  # where the failing runs are (on stderr beside --json's document)
            for line in kept_lines(results, runs, config_names(results)[1]):
                (note if json_out else say)(line)
        code = exit_code(results)
        nothing_checked = bool(results) and all(r.outcome == SKIP for r in results)
        if nothing_checked:  # nothing was checked: say so; --strict fails it
            err.print(
                f"{'error' if strict else 'warning'}: no config was checked: "
                f"none of the {len(results)} has an expect: block"
                + ("" if strict else " (--strict makes this exit 1)"),
                markup=False,
                style="red" if strict else "yellow",
            )
            code = max(code, 1) if strict else code
        if code >= 128:  # stopped by a signal: what ran is reported, nothing is rewritten
            cut = [r for r in results if r.outcome in (INTERRUPTED, NOT_RUN)]
            kept = [r for r in results if r.outcome in KEPT and r.run_dir]  # (quiet: named here)
            err.print(
                f"interrupted by {signal_name(code - 128)}: {len(results) - len(cut)} of {len(results)} configs checked"
                + (f"; JUnit report: {junit}" if junit is not None else "")
                + ("; nothing was updated" if update else "")
                + "".join(f"; {r.path}: {r.outcome}, run kept in {where(runs, r.run_dir)}" for r in kept if quiet),
                markup=False,
            )
            return code
        if update:
            return update_command(results, code, flag, overrides, workers, problems_dir, margin, quiet)
        if quiet and code and not nothing_checked:  # the table is hidden, the failure never
            broken = [r for r in results if r.outcome in (FAIL, ERROR)]
            failure_line(
                "check failed: "
                + "; ".join(
                    f"{r.path}: {r.outcome} ({r.why})"
                    + (f", run kept in {where(runs, r.run_dir)}" if r.run_dir else "")
                    for r in broken
                )
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
    from optrun.commands.common import failure_line
    from optrun.core.errors import RunIOError

    try:
        changed, left = update_all(results)
    except OSError as exc:
        raise RunIOError(str(exc)) from None
    files = sorted({path for path, _ in changed})
    if not quiet:
        for path, change in changed:
            say(f"updated {path}: {change}")
        for path, reason in left:
            say(f"still failing {path}: {reason}")
        say(
            f"--update: {len(changed)} expected values rewritten in {len(files)} files; {len(left)} failures left",
        )
    code = 2 if code == 2 else (1 if left else 0)
    calibrated = 0
    if files:
        from optrun.engine.signals import armed

        with armed(flag, at_once=True):  # calibrating: Ctrl-C stops it at once
            calibrated = calibrate_command(
                [Path(f) for f in files], overrides, workers, problems, margin, quiet, said=bool(code)
            )
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
    from optrun.commands.common import failure_line
    from optrun.commands.progress import progress
    from optrun.core.machine import blas_threads
    from optrun.engine.calibrate import variants

    runs = len(configs) * len(variants(blas_threads())[0])
    with progress("calibrating", runs, hidden=quiet) as bar:
        results, note = calibrate_configs(configs, overrides, workers, problems, margin, on_sample=bar.advance)
    written = sum(r.written for r in results)
    sensitive = sum(bool(r.calibration and r.calibration.sensitive) for r in results)
    if not quiet:
        print_table(calibration_table(results, note))
        say(
            f"--calibrate: tolerances written for {written} of {len(results)} configs "
            f"({sensitive} rounding-sensitive); margin {margin:g}",
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
