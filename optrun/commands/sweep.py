"""``optrun sweep``: many runs of one config over a grid of values (the
plan: :mod:`optrun.engine.sweep_plan`; the runs: :mod:`optrun.engine.sweep`).

A sweep is expanded from the config's ``sweep:`` block and the ``--grid``,
``--zip`` and ``--seeds`` options into a plan: one set of dotted-path
overrides per run (``grid`` is the Cartesian product, ``zip`` pairs lists,
``seeds`` repeats each point). A sweep has at most ``MAX_RUNS`` runs. It is
validated before anything is written: every combination when there are at
most ``FULL_CHECK_RUNS`` runs, else the base config plus each distinct
swept value (and each zip row, the lowest and highest seed) once, so
validation grows with the number of values, not with their product. The runs are ordinary run directories in one sweep
folder, ``<output.dir>/<name>/sweep-<timestamp>/run-NNNN/``, beside
``sweep.json`` (the plan, for ``--resume``), ``sweep.csv`` and ``sweep.png``.

Runs go to an executor: in this process, a local process pool, or a Dask
cluster (``dask.distributed``, an optional extra); all three call the same
:func:`run_one`, so they give identical results. A failed or diverged run is
recorded and the sweep goes on; Ctrl-C stops starting new runs and keeps
every finished one.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optrun.commands.common import say
from optrun.commands.tables import print_table
from optrun.core.errors import ConfigError, OptrunError
from optrun.core.result import gap_is_rounding
from optrun.core.status import status
from optrun.core.yaml_text import yaml_text
from optrun.engine.executors import check_dask_address, choose
from optrun.engine.sweep import SweepOutcome, run_sweep
from optrun.engine.sweep_dir import VIOLATION, is_done, is_failed, load_plan, start_sweep, sweep_rows
from optrun.engine.sweep_plan import Plan, check_vectorizable, dropped_options, identical_repeats, make_plan
from optrun.plots.sweep import plot_sweep, sweep_metric


def _group_key(row: dict[str, Any], keys: Sequence[str]) -> tuple:
    return tuple(yaml_text(row[k]) for k in keys if k != "seed")


def summarize(rows: list[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """One entry per swept point: mean/min/max of the final f (or gap) over
    seeds; with bounds or constraints, the largest final ``violation`` over
    them too. The best point is the lowest mean among points none of whose
    runs failed (an ``infeasible`` run is a failure: a low f outside the
    constraints never wins)."""
    metric = sweep_metric(rows)
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(_group_key(row, keys), []).append(row)
    summary: list[dict[str, Any]] = []
    for members in groups.values():
        values = [_value(r, metric) for r in members if r[metric] is not None and math.isfinite(r[metric])]
        statuses: dict[str, int] = {}
        for r in members:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        entry = {
            "point": {k: members[0][k] for k in keys if k != "seed"},  # the values as swept (typed)
            "runs": len(members),
            "statuses": ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())),
            "metric": metric,
            "mean": statistics.fmean(values) if values else None,
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "ok": all((known := status(r["status"])) is not None and known.success for r in members),
        }
        if any(VIOLATION in r for r in rows):  # bounds or constraints: the largest final violation over the seeds
            found = [r[VIOLATION] for r in members if r.get(VIOLATION) is not None]
            entry[VIOLATION] = max(found) if found else None
        summary.append(entry)
    finite = [s for s in summary if s["mean"] is not None and s["ok"]]
    lowest = min((s["mean"] for s in finite), default=None)
    for s in summary:
        s["best"] = s in finite and s["mean"] == lowest  # several when tied
    return summary


def _value(row: dict[str, Any], metric: str) -> float:
    """A run's final f or gap; a gap within the rounding of f near f* counts as 0
    (:func:`optrun.core.result.gap_is_rounding`): no setting wins by rounding noise."""
    value = row[metric]
    if metric == "gap" and row.get("f") is not None and gap_is_rounding(value, row["f"] - value):
        return 0.0
    return value


NUMERIC = ("runs", "mean", "min", "max")


def best_line(summary: list[dict[str, Any]], keys: Sequence[str]) -> str | None:
    """The best setting of a :func:`summarize` in words, under the table (piped
    output has no colour): several when tied; None for a sweep of one setting."""
    best = [s for s in summary if s["best"]]
    if not best or len(summary) < 2:
        return None
    swept = [k for k in keys if k != "seed"]
    settings = "; ".join(", ".join(f"{k}={yaml_text(s['point'][k])}" for k in swept) for s in best)
    measure = "f - f*" if best[0]["metric"] == "gap" else "f"
    tied = "tied: " if len(best) > 1 else ""
    return f"best: {tied}{settings} (lowest mean {measure}, {best[0]['mean']:.6g})"


def print_results(rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
    """The sweep's table and, in words, its best setting."""
    from optrun.commands.common import visible

    summary = summarize(rows, keys)  # once, for the table and the line
    print_table(results_table(rows, keys, summary))
    line = best_line(summary, keys)
    if line is not None:
        say(visible(line))


def results_table(rows: list[dict[str, Any]], keys: Sequence[str], summary: list[dict[str, Any]] | None = None):
    from rich.table import Table
    from rich.text import Text

    from optrun.commands.common import visible
    from optrun.commands.tables import add_columns

    summary = summarize(rows, keys) if summary is None else summary
    metric = summary[0]["metric"] if summary else "f"
    table = Table(title=f"sweep: final {'f - f*' if metric == 'gap' else 'f'} over seeds", title_justify="left")
    swept = [k for k in keys if k != "seed"]
    # bounds or constraints: the largest final violation over the seeds (0: every run ended feasible)
    measured = ("mean", "min", "max", *((VIOLATION,) if any(VIOLATION in s for s in summary) else ()))
    add_columns(table, [visible(column) for column in (*swept, "runs", "statuses", *measured)], (*NUMERIC, VIOLATION))
    for s in summary:
        cells = [Text(visible(yaml_text(s["point"][k]))) for k in swept]  # literal, never markup or a control
        numbers = ["-" if s.get(m) is None else f"{s[m]:.3g}" if m == VIOLATION else f"{s[m]:.6g}" for m in measured]
        table.add_row(
            *cells, str(s["runs"]), Text(visible(s["statuses"])), *numbers, style="bold green" if s["best"] else ""
        )
    return table


def print_json(sweep_dir: Path, keys: Sequence[str], planned: int, rows: list[dict[str, Any]]) -> None:
    """``--json``: the sweep as one JSON object: its settings (the table's
    rows: mean, min, max over seeds, and which is best) and every run's row."""
    from optrun.commands.common import shown
    from optrun.core.outputs import json_safe

    data = {
        "sweep_dir": shown(sweep_dir.resolve()),
        "keys": list(keys),
        "planned": planned,
        "settings": summarize(rows, keys),
        "runs": rows,
    }
    print(json.dumps(json_safe(data), indent=2), flush=True)


def show_sweep(sweep_dir: Path, json_out: bool = False, quiet: bool = False) -> int:
    """``optrun show SWEEP_DIR``: the sweep's table and best setting (as JSON
    with ``json_out``; nothing with ``quiet``)."""
    from optrun.commands.common import shown

    plan, rows = sweep_rows(sweep_dir)
    if quiet:
        return 0
    if json_out:
        print_json(sweep_dir, plan.keys, len(plan.runs), rows)
        return 0
    print_results(rows, plan.keys)
    plot = next((p for p in sorted(sweep_dir.glob("sweep.*")) if p.suffix not in (".json", ".csv")), None)
    say(
        f"{len(rows)} of {len(plan.runs)} runs finished; {shown(sweep_dir.resolve())}/sweep.csv"
        + (f", {plot.name}" if plot else ""),
    )
    return 0


def plot_sweep_dir(sweep_dir: Path) -> tuple[list[Path], list[str]]:
    """``optrun plot SWEEP_DIR``: redraw sweep.png and every finished run's plots; (files written, warnings)."""
    from optrun.plots.runs import draw_run_plots

    plan, rows = sweep_rows(sweep_dir)
    written: list[Path] = []
    warnings: list[str] = []
    if plot_sweep(rows, plan.keys, sweep_dir / "sweep.png"):
        written.append(sweep_dir / "sweep.png")
    for row in rows:
        files, notes = draw_run_plots(Path(row["run_dir"]), raise_io=True)
        written += files
        warnings += notes
    return written, warnings


def sweep_command(
    config: Path | None,
    grid: Sequence[str],
    zipped: Sequence[str],
    seeds: int | None,
    workers: int,
    dask: str | None,
    resume: Path | None,
    plots: bool,
    overrides: Sequence[str],
    problems: Path | None,
    quiet: bool = False,
    vectorize: bool = False,
    json_out: bool = False,
) -> int:
    """``optrun sweep``: validate and start a sweep (or take one to
    ``--resume``), run it, print its table (as JSON with ``json_out``; not
    with ``quiet``); returns the
    exit status: 0, 1 if a run could not start, 128 + the signal if it was stopped."""
    from optrun.commands.common import load_problems, note, warn
    from optrun.commands.progress import progress
    from optrun.engine.signals import StoppedBySignal, signal_name, stoppable

    with stoppable() as flag:
        load_problems(problems)
        problems_dir = (
            str(problems.resolve())
            if problems
            else (str(Path("problems").resolve()) if Path("problems").is_dir() else None)
        )
        if dask is not None:
            if vectorize:
                raise ConfigError("--vectorize runs the sweep as one computation in this process: leave out --dask")
            check_dask_address(dask)  # fail before validating or creating anything
        if resume is not None:
            if config is not None or grid or zipped or seeds or overrides:
                raise ConfigError("--resume takes a sweep directory only: the plan is in its sweep.json")
            plan, sweep_dir = load_plan(resume), resume
            if vectorize:
                check_vectorizable(plan)
        else:
            if config is None:
                raise ConfigError("give a config file (or --resume SWEEP_DIR)")
            with progress(
                "validating", None, elapsed=False, hidden=quiet
            ) as bar:  # validating a large sweep takes a moment: show it
                plan, base = make_plan(config, overrides, grid, zipped, seeds, plots, on_checked=bar.update)
            for text in dropped_options(plan):
                note(text)
            if vectorize:
                check_vectorizable(plan)  # before the sweep folder exists
            repeats = identical_repeats(plan)
            if repeats:
                warn(repeats)
            if flag is not None and flag.signum is not None:
                raise StoppedBySignal(
                    f"interrupted by {signal_name(flag.signum)} before the sweep started; nothing was recorded",
                    flag.signum,
                )
            sweep_dir = start_sweep(plan, base.output.dir, base.name)
        outcome = run_new_or_resumed(
            plan, sweep_dir, workers, dask, problems_dir, new=resume is None, quiet=quiet, vectorize=vectorize
        )
        for warning in outcome.warnings:
            warn(warning)
        if json_out and not quiet:
            print_json(outcome.sweep_dir, outcome.keys, len(plan.runs), outcome.rows)
        elif not quiet:
            print_results(outcome.rows, outcome.keys)
        return report_sweep(outcome, len(plan.runs), quiet or json_out)


def run_new_or_resumed(
    plan: Plan,
    sweep_dir: Path,
    workers: int,
    dask: str | None,
    problems: str | None,
    new: bool,
    label: str = "sweep",
    remove: Path | None = None,
    quiet: bool = False,
    vectorize: bool = False,
) -> SweepOutcome:
    """:func:`run_sweep` with a progress bar labelled ``label``; a ``new``
    sweep in which nothing ran (e.g. no scheduler) leaves no sweep folder
    behind (nor ``remove``, the folder holding it: optrun bench's)."""
    from optrun.commands.progress import progress

    try:
        with progress(label, len(plan.runs), hidden=quiet) as bar:
            return run_sweep(plan, sweep_dir, choose(workers, dask, vectorize), problems, on_done=bar.advance)
    except OptrunError:
        if new and not any(sweep_dir.glob("run-*")):
            import shutil

            shutil.rmtree(remove or sweep_dir, ignore_errors=True)
        raise


def report_sweep(outcome: SweepOutcome, planned: int, quiet: bool = False) -> int:
    """Print how many of the ``planned`` runs are done and failed (with
    ``quiet`` only failed runs, as one line on stderr); returns the exit
    status (128 + the signal if the sweep is unfinished, 1 if a run could not
    start, else 0) with a line on stderr saying what to do."""
    from optrun.commands.common import err, failure_line, shown

    done = sum(is_done(r) for r in outcome.rows)
    failed = sum(is_failed(r) for r in outcome.rows)
    infeasible = sum(r["status"] == "infeasible" for r in outcome.rows)  # counted apart: a result, outside
    errors = sum(r["status"] == "error" for r in outcome.rows)
    kept = f" ({outcome.skipped} kept from before)" if outcome.skipped else ""
    summary = (
        f"{done} of {planned} runs done{kept}, {failed - infeasible} failed or diverged"
        + (f", {infeasible} infeasible" if infeasible else "")
        + f"; {shown(outcome.sweep_dir.resolve())}/sweep.csv"
    )
    if not quiet:
        say(summary + (f", {outcome.plot.name}" if outcome.plot else ""))
    elif failed and not errors and not (outcome.stopped or done < planned):  # the table is hidden, a failure never
        failure_line(f"sweep: {summary}")
    unfinished = unfinished_exit(outcome, done, planned, "sweep", shown(outcome.sweep_dir.resolve()))
    if unfinished is not None:
        return unfinished
    if errors:  # a run that could not even start (e.g. a missing data file): the sweep needs fixing
        err.print(f"error: {errors} runs could not run; see the message column of sweep.csv", markup=False)
        return 1
    return 0


def unfinished_exit(outcome: SweepOutcome, done: int, planned: int, command: str, where: str) -> int | None:
    """For a sweep (or a bench, ``command``) that did not finish: the line on
    stderr saying what to do and the exit status (1 when the Dask scheduler was
    lost, 128 + the signal when stopped); None when every run finished."""
    from optrun.commands.common import err
    from optrun.engine.signals import signal_name

    resume = f"optrun {command} --resume {where}"
    if outcome.lost:
        err.print(
            f"error: {outcome.lost}; {done} of {planned} runs done and kept: finish the {command} with  {resume}",
            markup=False,
        )
        return 1
    if outcome.stopped or done < planned:
        by = f" by {signal_name(outcome.signum)}" if outcome.signum else ""
        err.print(f"interrupted{by}: finish it with  {resume}", markup=False)
        return 128 + (outcome.signum or 2)
    return None
