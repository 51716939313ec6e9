"""``optrun bench SUITE.yaml``: run a bench (:mod:`optrun.engine.bench`),
print its table per optimizer, and show a finished one again.

A pair whose optimizer cannot take the problem's bounds or constraints is not
run: its problem-starts are ``n/a`` (bench.csv status ``not_applicable``),
apart from the failed runs. They count as not solved: in the table's solved
fractions (solved / problem-starts, n/a included) and in the profiles, as
Dolan & Moré (2002) count a solver that cannot solve a problem (ratio
infinite); a run with bounds or constraints solves a target only at a
feasible point (:mod:`optrun.engine.bench_csv`). A bench with n/a cells or
constrained runs also prints a table per problem: each pair's runs solved to
the tightest target, the statuses of the others, or n/a.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optrun.commands.common import say
from optrun.commands.tables import print_table
from optrun.config.bench import load_suite
from optrun.core.errors import ConfigError
from optrun.engine.bench import (
    BENCH_FILE,
    NOT_APPLICABLE,
    RUNS,
    load_bench,
    optimizer_labels,
    plan_bench,
    read_bench_csv,
    start_bench,
    write_outputs,
)
from optrun.plots.profiles import target_name


def summary_by_optimizer(
    rows: list[dict[str, Any]], optimizers: Sequence[str], targets: Sequence[float]
) -> list[dict[str, Any]]:
    """Per optimizer: runs, the problem-starts it could not take (not_applicable),
    and per target the runs that reached it, the fraction of its problem-starts
    (runs and not applicable) that is, and their median evaluations."""
    result = []
    for name in optimizers:
        mine = [r for r in rows if r["optimizer"] == name]
        skipped = sum(r["status"] == NOT_APPLICABLE for r in mine)
        entry: dict[str, Any] = {
            "optimizer": name,
            "runs": len(mine) - skipped,
            "not_applicable": skipped,
            "targets": [],
        }
        for tau in targets:
            reached = [
                r[f"nfev_to_{target_name(tau)}"] for r in mine if r.get(f"nfev_to_{target_name(tau)}") is not None
            ]
            entry["targets"].append(
                {
                    "tau": tau,
                    "solved": len(reached),
                    "fraction": len(reached) / len(mine) if mine else 0.0,
                    "median_nfev": statistics.median(reached) if reached else None,
                }
            )
        result.append(entry)
    return result


def bench_table(rows: list[dict[str, Any]], optimizers: Sequence[str], targets: Sequence[float], title: str = "bench"):
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from optrun.commands.common import visible
    from optrun.commands.tables import add_column

    table = Table(
        title=f"{escape(visible(title))}: solved fraction and median evaluations (nfev) to each target",
        title_justify="left",
    )
    add_column(table, "optimizer")
    add_column(table, "runs", numeric=True)
    summary = summary_by_optimizer(rows, optimizers, targets)
    skipped = any(s["not_applicable"] for s in summary)
    if skipped:
        add_column(table, "n/a", numeric=True)
        table.caption = (
            "n/a: problem-starts the optimizer cannot take (the problem's bounds or constraints); "
            "they count as not solved"
        )
        table.caption_justify = "left"
    for tau in targets:
        add_column(table, f"solved {target_name(tau)}", numeric=True)
        add_column(table, f"median nfev {target_name(tau)}", numeric=True)
    best = {i: max((s["targets"][i]["fraction"] for s in summary), default=0) for i in range(len(targets))}
    for s in summary:
        cells: list[Any] = [Text(visible(s["optimizer"])), str(s["runs"])]
        if skipped:
            cells.append(str(s["not_applicable"]))
        for i, t in enumerate(s["targets"]):
            text = f"{t['solved']}/{s['runs'] + s['not_applicable']} ({100 * t['fraction']:.0f}%)"
            cells.append(Text(text, style="bold green" if t["fraction"] == best[i] and t["fraction"] > 0 else ""))
            cells.append("-" if t["median_nfev"] is None else f"{t['median_nfev']:g}")
        table.add_row(*cells)
    return table


def problem_table(
    rows: list[dict[str, Any]], optimizers: Sequence[str], targets: Sequence[float], title: str = "bench"
):
    """Per problem and optimizer: how many of its runs solved the tightest
    target, with the statuses of the others, or ``n/a`` (not run: the
    optimizer cannot take the problem's bounds or constraints). None for a
    bench with neither n/a pairs nor runs with bounds or constraints (its
    output stays the one table)."""
    from collections import Counter

    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from optrun.commands.common import visible
    from optrun.commands.tables import add_column

    if not any(r["status"] == NOT_APPLICABLE or r.get("violation") is not None for r in rows):
        return None
    tau = target_name(min(targets))
    table = Table(
        title=f"{escape(visible(title))}: runs that solved {escape(tau)} (at a feasible point), per problem",
        title_justify="left",
    )
    add_column(table, "problem")
    for name in optimizers:
        add_column(table, name)
    for problem in dict.fromkeys(r["problem"] for r in rows):
        cells: list[Any] = [Text(visible(problem))]
        for name in optimizers:
            mine = [r for r in rows if r["problem"] == problem and r["optimizer"] == name]
            if mine and all(r["status"] == NOT_APPLICABLE for r in mine):
                cells.append(Text("n/a", style="dim"))
                continue
            solved = [r for r in mine if r.get(f"nfev_to_{tau}") is not None]
            others = Counter(r["status"] for r in mine if r.get(f"nfev_to_{tau}") is None)
            text = f"{len(solved)}/{len(mine)}" + (
                " (" + ", ".join(f"{count} {status}" for status, count in others.items()) + ")" if others else ""
            )
            cells.append(Text(text, style="bold green" if mine and len(solved) == len(mine) else ""))
        table.add_row(*cells)
    return table


def print_tables(rows: list[dict[str, Any]], optimizers: Sequence[str], targets: Sequence[float], title: str) -> None:
    """The bench table, and the table per problem when there is one (:func:`problem_table`)."""
    print_table(bench_table(rows, optimizers, targets, title=title))
    per_problem = problem_table(rows, optimizers, targets, title=title)
    if per_problem is not None:
        print_table(per_problem)


def bench_command(
    suite_file: Path | None,
    workers: int,
    dask: str | None,
    resume: Path | None,
    problems: Path | None,
    quiet: bool = False,
    overrides: Sequence[str] = (),
    plots: bool = False,
    json_out: bool = False,
) -> int:
    """``optrun bench``: validate a suite file and run it (or ``--resume`` a
    bench directory), write bench.csv and the plots, print the table (as
    JSON with ``json_out``; nothing with ``quiet``: then failed or diverged
    runs are one line on stderr). ``overrides`` (``--set``) apply to every
    run, ``plots`` draws every run's plots.
    Returns 0, 1 if a run could not start, 128 + the signal if stopped."""
    from optrun.commands.common import err, failure_line, load_problems, shown, warn
    from optrun.commands.progress import progress
    from optrun.commands.sweep import run_new_or_resumed, unfinished_exit
    from optrun.engine.executors import check_dask_address
    from optrun.engine.signals import StoppedBySignal, signal_name, stoppable
    from optrun.engine.sweep_dir import is_done, is_failed, load_plan

    with stoppable() as flag:
        load_problems(problems)
        problems_dir = (
            str(problems.resolve())
            if problems
            else (str(Path("problems").resolve()) if Path("problems").is_dir() else None)
        )
        if dask is not None:
            check_dask_address(dask)
        if resume is not None:
            if suite_file is not None or overrides or plots:
                raise ConfigError(
                    "--resume takes a bench directory only: the suite, its --set values and --plots are in its "
                    "bench.json"
                )
            bench_dir = resume
            bench = load_bench(bench_dir)
            plan = load_plan(bench_dir / RUNS)
            if len(plan.runs) != len(bench["runs"]):
                raise ConfigError(
                    f"{BENCH_FILE} and {RUNS}/sweep.json disagree on the number of runs", source=str(bench_dir)
                )
        else:
            if suite_file is None:
                raise ConfigError("give a suite file (or --resume BENCH_DIR)")
            suite = load_suite(suite_file)
            with progress("validating", None, elapsed=False, hidden=quiet) as bar:
                plan, meta, skipped = plan_bench(suite, on_checked=bar.update, overrides=overrides, plots=plots)
            if flag is not None and flag.signum is not None:
                raise StoppedBySignal(
                    f"interrupted by {signal_name(flag.signum)} before the bench started; nothing was recorded",
                    flag.signum,
                )
            bench_dir = start_bench(suite, plan, meta, skipped)
            bench = load_bench(bench_dir)
        outcome = run_new_or_resumed(
            plan,
            bench_dir / RUNS,
            workers,
            dask,
            problems_dir,
            new=resume is None,
            label="bench",
            remove=bench_dir,
            quiet=quiet,
        )
        where = shown(bench_dir.resolve())
        rows, warnings, signum = _outputs(bench_dir, bench, outcome.rows, flag)
        for warning in (*outcome.warnings, *warnings):
            warn(warning)
        if signum is not None and not outcome.stopped:  # the runs are recorded; bench.csv or the plots are not
            err.print(
                f"interrupted by {signal_name(signum)} while writing the outputs: "
                f"finish it with  optrun bench --resume {where}",
                markup=False,
            )
            return 128 + signum
        if json_out and not quiet:
            print_json(bench_dir, bench, rows)
        elif not quiet:
            print_tables(rows, optimizer_labels(bench), bench["targets"], str(bench["suite"].get("name", "bench")))
        planned = len(plan.runs)
        done = sum(is_done(r) for r in outcome.rows)
        errors = sum(r["status"] == "error" for r in outcome.rows)
        kept = f" ({outcome.skipped} kept from before)" if outcome.skipped else ""
        from optrun.plots.bench import PLOTS

        drawn = ", ".join(name for name in PLOTS if (bench_dir / name).is_file())
        if not quiet and not json_out:
            notes = [f"{outcome.skipped} kept from before"] if outcome.skipped else []
            if bench.get("not_applicable"):
                notes.append(f"{len(bench['not_applicable'])} problem-starts not applicable")
            say(
                f"{done} of {planned} runs done"
                + (f" ({'; '.join(notes)})" if notes else "")
                + f"; {where}/bench.csv"
                + (f", {drawn}" if drawn else ""),
            )
        failed = sum(is_failed(r) for r in outcome.rows)
        if (
            quiet and failed and not errors and not (outcome.stopped or done < planned)
        ):  # the table is hidden, a failure never
            infeasible = sum(r["status"] == "infeasible" for r in outcome.rows)
            failures = f"{failed - infeasible} failed or diverged" + (f", {infeasible} infeasible" * bool(infeasible))
            failure_line(f"bench: {done} of {planned} runs done{kept}, {failures}; {where}/bench.csv")
        unfinished = unfinished_exit(outcome, done, planned, "bench", where)
        if unfinished is not None:
            return unfinished
        if errors:
            err.print(
                f"error: {errors} runs could not run; see the message column of {where}/{RUNS}/sweep.csv", markup=False
            )
            return 1
        return 0


def _outputs(
    bench_dir: Path, bench: dict[str, Any], sweep_rows: list[dict[str, Any]], flag: Any
) -> tuple[list[dict[str, Any]], list[str], int | None]:
    """bench.csv and the plots (the rows, warnings, and the signal that came,
    or None). After a signal only bench.csv is written (quickly: the plots
    are left for ``--resume``); a signal while they are drawn stops them at
    once (each file is written whole or not at all)."""
    from optrun.engine.bench import bench_rows, write_bench_csv
    from optrun.engine.signals import armed

    if flag is not None and flag.signum is not None:
        rows = bench_rows(sweep_rows, bench["runs"], bench["targets"], bench.get("not_applicable", []))
        write_bench_csv(rows, bench["targets"], bench_dir / "bench.csv")
        return rows, [], flag.signum
    try:
        with armed(flag, at_once=True):
            rows, warnings = write_outputs(bench_dir, bench, sweep_rows)
    except KeyboardInterrupt as exc:
        return [], [], getattr(exc, "signum", None) or flag.signum
    return rows, warnings, None


def print_json(bench_dir: Path, bench: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """``--json``: the bench table as one JSON object (one entry per optimizer)."""
    import json

    from optrun.commands.common import shown
    from optrun.core.outputs import json_safe

    data = {
        "bench_dir": shown(bench_dir.resolve()),
        "runs": sum(r["status"] != NOT_APPLICABLE for r in rows),
        "not_applicable": sum(r["status"] == NOT_APPLICABLE for r in rows),
        "targets": bench["targets"],
        "optimizers": summary_by_optimizer(rows, optimizer_labels(bench), bench["targets"]),
    }
    print(json.dumps(json_safe(data), indent=2), flush=True)


def show_bench(bench_dir: Path, quiet: bool = False, json_out: bool = False) -> int:
    """``optrun show BENCH_DIR``: the bench table from bench.csv (as JSON with ``json_out``; nothing with ``quiet``)."""
    from optrun.commands.common import say, shown, visible

    bench = load_bench(bench_dir)
    rows = read_bench_csv(bench_dir / "bench.csv")
    if quiet:
        return 0
    if json_out:
        print_json(bench_dir, bench, rows)
        return 0
    suite = bench["suite"]
    print_tables(rows, optimizer_labels(bench), bench["targets"], str(suite.get("name", "bench")))
    problems = len({r["problem"] for r in (*bench["runs"], *bench.get("not_applicable", []))})
    ran = sum(r["status"] != NOT_APPLICABLE for r in rows)
    skipped = len(bench.get("not_applicable", []))
    say(
        visible(
            f"{ran} of {len(bench['runs'])} runs: {problems} problems x {len(optimizer_labels(bench))} "
            f"optimizers x {suite.get('starts', 1)} starts"
            + (f" ({skipped} not applicable)" if skipped else "")
            + f"; {shown(bench_dir.resolve())}/bench.csv"
        ),
    )
    return 0
