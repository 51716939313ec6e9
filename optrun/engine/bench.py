"""A bench: every optimizer on every problem from several starts (``optrun bench``).

The suite file (:mod:`optrun.config.bench`) expands to one run per
(problem, optimizer, start). Start 0 is the problem's standard start x0;
start k >= 1 is x0 + max(1, |x0|) * z entry by entry, z ~ N(0, 1) drawn by
``numpy.random.default_rng([seed, crc32(problem label), k])``: the same
starts for every optimizer, and a problem's starts do not change when
others are added. A run carries its start as that rule, not as numbers:
``init: {kind: perturbed, seed: S, label: <problem label>, k: K}``
(:func:`optrun.core.initializers.perturbed_start`), so sweep.json, each
run's config.yaml and sweep.csv stay small at any dimension and a run's
config.yaml redoes it alone. Every run gets the suite's ``seed`` and the budget as its
stop rules (``max_iter``, ``max_fev``, ``time_limit``, ``grad_tol``), then the
bench's ``--set`` overrides (applied to every run as ``sweep --set`` applies
them: they are the sweep plan's overrides), and draws its plots if asked (``--plots``).

The runs are a sweep: ``<output.dir>/<name>/bench-<timestamp>/runs/`` is a
sweep directory (sweep.json, run-NNNN/, sweep.csv) run by
:func:`optrun.engine.sweep.run_sweep`, so the executors,
progress, Ctrl-C and ``--resume`` are sweep's. Beside it: ``bench.json``
(the suite and which run is which), ``bench.csv`` (one row per run, with
the evaluations and seconds each target took, read from the trace), and
the plots of :mod:`optrun.plots.bench`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optrun.config.bench import Suite, label
from optrun.core.errors import ConfigError, OptrunError, RunIOError
from optrun.core.outputs import make_run_dir, write_json_atomic, write_text_atomic
from optrun.plots.profiles import target_name

BENCH_FILE = "bench.json"
RUNS = "runs"
MAX_RUNS = 10_000
BASE_COLUMNS = ("problem", "dimension", "optimizer", "start", "status", "f", "gap", "nit", "nfev", "njev", "time")


def columns(targets: Sequence[float]) -> list[str]:
    """bench.csv's columns: the run, then nfev_to_<tau> and time_to_<tau> per target, then run_dir."""
    return [
        *BASE_COLUMNS,
        *(f"nfev_to_{target_name(t)}" for t in targets),
        *(f"time_to_{target_name(t)}" for t in targets),
        "run_dir",
    ]


# what the suite file decides per run (the sweep plan's per-run values): a --set cannot change it
PER_RUN = ("problem", "optimizer", "init", "seed")


def run_config(
    suite: Suite, problem: dict[str, Any], optimizer: dict[str, Any], init: Any = "default", plots: bool = False
) -> dict[str, Any]:
    """The config of one bench run, before the bench's --set overrides."""
    budget = suite.config.budget
    return {
        "name": suite.name,
        "seed": suite.config.seed,
        "problem": dict(problem),
        "optimizer": dict(optimizer),
        "init": init,
        "stop": {
            "max_iter": budget.max_iter,
            "max_fev": budget.max_fev,
            "time_limit": budget.time_limit,
            "grad_tol": budget.grad_tol,
        },
        "output": {"dir": suite.config.output.dir, "plots": plots},
    }


def check_overrides(overrides: Sequence[str]) -> None:
    """Refuse a --set of what the suite file decides per run (it would be
    replaced by each run's own value): one line naming it. The keys
    themselves are validated with each run's config."""
    from optrun.config import apply_override

    for text in overrides:
        apply_override({}, text)  # the form: dotted.key=value, a YAML value
        key = text.partition("=")[0].strip()
        if key.split(".")[0] in PER_RUN:
            raise ConfigError(
                f"cannot set '{key}' for a bench: each run's problem, optimizer, init and seed come from the suite "
                "file (its problems, optimizers with their options, starts and seed): change them there",
                source="--set",
            )
        if key == "output.plots":
            raise ConfigError("cannot set 'output.plots' for a bench: use --plots", source="--set")
        if key == "output.log_every":  # the targets' evaluations and seconds are read from every row
            raise ConfigError(
                "cannot set 'output.log_every' for a bench: the evaluations and seconds to each target are read "
                "from the trace's rows, which must all be kept",
                source="--set",
            )
        if key.split(".")[0] == "budget":  # the suite file's key, not a run config's
            raise ConfigError(
                f"cannot set '{key}': the budget is the suite file's; each run's stop rules are stop.* "
                "(e.g. --set stop.max_fev=500)",
                source="--set",
            )


def make_bench_plan(
    suite: Suite,
    on_checked: Callable[[int, int], None] | None = None,
    overrides: Sequence[str] = (),
    plots: bool = False,
):
    """Validate every (problem, optimizer) pair, with ``overrides`` (``--set``
    dotted.key=value strings, applied to every run's config as ``sweep --set``
    applies them) and draw the starts; return the sweep
    :class:`~optrun.engine.sweep_plan.Plan` (which carries the overrides and
    ``plots``: draw each run's plots) and which run is which. A bad override is
    a one-line ConfigError before anything is written."""
    from optrun.config import load_config
    from optrun.engine.prepare import prepare
    from optrun.engine.sweep_plan import Plan

    check_overrides(overrides)
    set_keys = {text.partition("=")[0].strip() for text in overrides}

    total = len(suite.problems) * len(suite.optimizers) * suite.config.starts
    if total > MAX_RUNS:
        raise ConfigError(
            f"the bench has {total} runs ({len(suite.problems)} problems x {len(suite.optimizers)} optimizers x "
            f"{suite.config.starts} starts); the limit is {MAX_RUNS}",
            source=suite.source,
        )
    runs: list[dict[str, Any]] = []
    meta: list[dict[str, Any]] = []
    pairs = len(suite.problems) * len(suite.optimizers)
    done = 0
    for problem in suite.problems:
        problem_label = label(problem)
        starts: list[Any] | None = None
        dimension = 0
        for optimizer in suite.optimizers:
            try:
                prepared = prepare(load_config(run_config(suite, problem, optimizer, plots=plots), overrides))
            except ConfigError as exc:
                pair = f"(problem {problem_label}, optimizer {label(optimizer)})"
                by_set = exc.source == "--set" or exc.path in set_keys
                raise ConfigError(
                    exc.message, path=exc.path, source=f"--set {pair}" if by_set else f"{suite.source} {pair}"
                ) from None
            if starts is None:
                dimension = int(prepared.x0.size)
                starts = ["default"] + [
                    {"kind": "perturbed", "seed": suite.config.seed, "label": problem_label, "k": k}
                    for k in range(1, suite.config.starts)
                ]
            for k, init in enumerate(starts):
                runs.append(
                    {"problem": dict(problem), "optimizer": dict(optimizer), "init": init, "seed": suite.config.seed}
                )
                meta.append(
                    {"problem": problem_label, "optimizer": label(optimizer), "start": k, "dimension": dimension}
                )
            done += 1
            if on_checked is not None:
                on_checked(done, pairs)
    base = run_config(suite, suite.problems[0], suite.optimizers[0], plots=plots)
    plan = Plan(base, tuple(overrides), PER_RUN, tuple(runs), plots)
    return plan, meta


def start_bench(suite: Suite, plan: Any, meta: list[dict[str, Any]]) -> Path:
    """A new bench directory with bench.json and runs/sweep.json."""
    bench_dir = make_run_dir(suite.config.output.dir, suite.name, prefix="bench-")
    try:
        (bench_dir / RUNS).mkdir()
        write_json_atomic(bench_dir / RUNS / "sweep.json", plan.to_json())
        write_json_atomic(
            bench_dir / BENCH_FILE,
            {
                "suite": suite.to_json(),
                "source": str(Path(suite.source).resolve()),
                "targets": suite.config.targets,
                "overrides": list(plan.overrides),  # --set, as the plan (runs/sweep.json) applies them
                "plots": plan.plots,
                "runs": meta,
            },
        )
    except (OSError, RunIOError) as exc:
        import shutil

        shutil.rmtree(bench_dir, ignore_errors=True)
        message = exc.message if isinstance(exc, RunIOError) else (exc.strerror or str(exc))
        raise RunIOError(
            f"{message}; nothing was recorded (the bench folder was removed)", source=str(bench_dir)
        ) from None
    return bench_dir


def is_bench_dir(path: Path) -> bool:
    return (path / BENCH_FILE).is_file()


def load_bench(bench_dir: Path) -> dict[str, Any]:
    """bench.json, read by the bounded reader (a regular file, size, depth, finite numbers) and checked to be
    what optrun wrote: one line naming what is wrong otherwise."""
    from optrun.core.folder_files import read_folder_json

    if not bench_dir.is_dir():
        raise ConfigError("not a bench directory (no such folder)", source=str(bench_dir))
    try:
        data = read_folder_json(bench_dir / BENCH_FILE, str(bench_dir), f"{BENCH_FILE} is not an optrun bench file")
    except FileNotFoundError:
        raise ConfigError(f"not a bench directory (no {BENCH_FILE})", source=str(bench_dir)) from None
    problem = bench_problem(data)
    if problem:
        raise ConfigError(f"{BENCH_FILE} is not an optrun bench file: {problem}", source=str(bench_dir))
    return data


def bench_problem(data: Any) -> str:
    """Why bench.json's ``data`` is not what optrun wrote ('' when it is)."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    if not isinstance(data.get("suite"), dict):
        return "'suite' should be an object"
    targets = data.get("targets")
    if (
        not isinstance(targets, list)
        or not 1 <= len(targets) <= 20
        or not all(type(t) in (int, float) and 0 < t < 1 for t in targets)
        or len(set(targets)) != len(targets)
    ):
        return "'targets' should be 1 to 20 distinct numbers between 0 and 1 (exclusive)"
    runs = data.get("runs")
    if not isinstance(runs, list) or not 1 <= len(runs) <= MAX_RUNS:
        return f"'runs' should be a list of 1 to {MAX_RUNS} runs"
    for i, run in enumerate(runs, start=1):
        if not isinstance(run, dict) or not {"problem", "optimizer", "start", "dimension"} <= set(run):
            return f"run {i} should be an object with problem, optimizer, start and dimension"
        if not isinstance(run["problem"], str) or not isinstance(run["optimizer"], str):
            return f"run {i}: 'problem' and 'optimizer' should be names (strings)"
        if (
            type(run["start"]) is not int
            or run["start"] < 0
            or type(run["dimension"]) is not int
            or run["dimension"] < 0
        ):
            return f"run {i}: 'start' and 'dimension' should be whole numbers >= 0"
    return ""


def bench_rows(
    sweep_rows: list[dict[str, Any]], meta: list[dict[str, Any]], targets: Sequence[float]
) -> list[dict[str, Any]]:
    """One bench.csv row per finished run: its result and, per target, the
    evaluations (nfev) and seconds at the first trace row that reached it."""
    from optrun.core.rundir import read_run
    from optrun.plots.profiles import target_costs, threshold

    rows: list[dict[str, Any]] = []
    traces: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = []
    stars: list[float | None] = []
    for sweep_row in sweep_rows:
        info = meta[sweep_row["index"] - 1]
        row = {
            **{c: None for c in BASE_COLUMNS},
            **info,
            "status": sweep_row["status"],
            "f": sweep_row["f"],
            "gap": sweep_row["gap"],
            "nit": sweep_row["nit"],
            "nfev": sweep_row["nfev"],
            "time": sweep_row["wall_time_s"],
            "run_dir": f"{RUNS}/{Path(sweep_row['run_dir']).name}",
        }
        trace = star = None
        if sweep_row["status"] != "error":
            try:
                run = read_run(sweep_row["run_dir"])
                trace = (run.trace["f"], run.trace["nfev"], run.trace["time_s"])
                if run.summary is not None:
                    row["njev"] = run.summary.njev
                    star = run.summary.reference.fun if run.summary.reference is not None else None
            except OptrunError:
                trace = None
        rows.append(row)
        traces.append(trace)
        stars.append(star)
    # f_L per instance (problem, start): the lowest f any run of it recorded (Moré-Wild, problems without f*)
    lowest: dict[tuple[str, int], float] = {}
    for row, trace in zip(rows, traces):
        if trace is not None and np.isfinite(trace[0]).any():
            key = (row["problem"], row["start"])
            lowest[key] = min(
                lowest.get(key, math.inf), float(np.nanmin(np.where(np.isfinite(trace[0]), trace[0], np.nan)))
            )
    for row, trace, star in zip(rows, traces, stars):
        for tau in targets:
            name = target_name(tau)
            row[f"nfev_to_{name}"] = row[f"time_to_{name}"] = None
            if trace is None or not len(trace[0]):
                continue
            f0 = float(trace[0][0])
            level = threshold(tau, star, f0, lowest.get((row["problem"], row["start"])))
            if level is None:
                continue
            evals, seconds = target_costs(trace[0], trace[1], level), target_costs(trace[0], trace[2], level)
            if math.isfinite(evals):
                row[f"nfev_to_{name}"], row[f"time_to_{name}"] = int(evals), seconds
    return rows


def write_bench_csv(rows: list[dict[str, Any]], targets: Sequence[float], path: Path) -> None:
    names = columns(targets)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row[c] for c in names})
    write_text_atomic(path, buffer.getvalue())


_TEXT_COLUMNS = ("problem", "optimizer", "status", "run_dir")
_WHOLE_COLUMNS = ("dimension", "start", "nit", "nfev", "njev")
_UNBOUNDED_COLUMNS = ("f", "gap")  # a diverged run's f and f - f* are written as inf or nan


def read_bench_csv(path: Path) -> list[dict[str, Any]]:
    """bench.csv's rows with numbers as numbers and empty cells as None, read by the bounded reader;
    a cell that is not what optrun writes there is one line naming the line and column."""
    from optrun.core.folder_files import csv_number, read_folder_csv

    try:
        _, raw_rows = read_folder_csv(path)
    except FileNotFoundError:
        raise ConfigError(
            "the bench has no bench.csv yet: finish it with optrun bench --resume", source=str(path.parent)
        ) from None
    rows = []
    for line, raw in enumerate(raw_rows, start=2):
        row: dict[str, Any] = {}
        for key, value in raw.items():
            if value == "":
                row[key] = None
            elif key in _TEXT_COLUMNS:
                row[key] = value
            else:
                whole = key in _WHOLE_COLUMNS or key.startswith("nfev_to_")
                number = csv_number(path, line, key, value, whole=whole, finite=key not in _UNBOUNDED_COLUMNS)
                row[key] = int(number) if whole else number
        rows.append(row)
    return rows


def optimizer_labels(bench: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(r["optimizer"] for r in bench["runs"]))


def write_outputs(
    bench_dir: Path, bench: dict[str, Any], sweep_rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """bench.csv and the plots; returns the rows and warnings (a plot that could not be drawn)."""
    import warnings as warnings_module

    from optrun.plots.bench import draw_bench_plots

    targets = bench["targets"]
    rows = bench_rows(sweep_rows, bench["runs"], targets)
    write_bench_csv(rows, targets, bench_dir / "bench.csv")
    warnings: list[str] = []
    try:
        with warnings_module.catch_warnings():
            warnings_module.simplefilter("ignore")
            draw_bench_plots(rows, optimizer_labels(bench), targets, bench_dir)
    except RunIOError:
        raise
    except Exception as exc:
        warnings.append(f"{bench_dir}: plots not drawn: {type(exc).__name__}: {exc}")
    return rows, warnings
