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

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from optrun.config.bench import Suite, label
from optrun.core.errors import ConfigError, RunIOError
from optrun.core.outputs import make_run_dir, write_json_atomic
from optrun.engine.bench_csv import (  # noqa: F401  (bench.csv's code, in its own module; imported from here too)
    BASE_COLUMNS,
    NOT_APPLICABLE,
    RUNS,
    bench_rows,
    columns,
    read_bench_csv,
    write_bench_csv,
)

BENCH_FILE = "bench.json"
MAX_RUNS = 10_000


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
    """:func:`plan_bench`'s plan and which run is which (without the pairs that are not applicable)."""
    plan, meta, _ = plan_bench(suite, on_checked, overrides, plots)
    return plan, meta


# a start for a problem with bounds: moved into the box (init.clip_to_bounds), the same for every optimizer
CLIPPED = {"clip_to_bounds": True}


def plan_bench(
    suite: Suite,
    on_checked: Callable[[int, int], None] | None = None,
    overrides: Sequence[str] = (),
    plots: bool = False,
) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
    """Validate every (problem, optimizer) pair, with ``overrides`` (``--set``
    dotted.key=value strings, applied to every run's config as ``sweep --set``
    applies them) and draw the starts; return the sweep
    :class:`~optrun.engine.sweep_plan.Plan` (which carries the overrides and
    ``plots``: draw each run's plots), which run is which, and the
    problem-starts that are not applicable: an optimizer that cannot take the
    problem's bounds or constraints (the ConfigError prepare raises at
    ``optimizer.name``) is not run there, and each such problem-start is an
    entry ``{problem, optimizer, start, dimension, position, reason}``
    (``position``: how many runs come before it). A problem with bounds
    starts inside them (``init.clip_to_bounds``). Any other bad pair, or a bad
    override, is a one-line ConfigError before anything is written."""
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
    not_applicable: list[dict[str, Any]] = []
    pairs = len(suite.problems) * len(suite.optimizers)
    done = 0
    for problem in suite.problems:
        problem_label = label(problem)
        starts: list[Any] | None = None
        dimension = None
        for optimizer in suite.optimizers:
            pair = f"(problem {problem_label}, optimizer {label(optimizer)})"
            # validated from a start clipped into the problem's bounds (no effect without bounds)
            checked = run_config(suite, problem, optimizer, init={"kind": "default", **CLIPPED}, plots=plots)
            try:
                config = load_config(checked, overrides)
                try:
                    prepared = prepare(config)
                except ConfigError as exc:
                    if exc.path != "optimizer.name":
                        raise
                    prepared = None  # prepare's refusal: the optimizer cannot take the bounds or constraints
                    if dimension is None:
                        dimension = _dimension(config)
                    not_applicable += [
                        {
                            **{"problem": problem_label, "optimizer": label(optimizer), "start": k},
                            **{"dimension": dimension, "position": len(runs), "reason": exc.message},
                        }
                        for k in range(suite.config.starts)
                    ]
            except ConfigError as exc:
                by_set = exc.source == "--set" or exc.path in set_keys
                raise ConfigError(
                    exc.message, path=exc.path, source=f"--set {pair}" if by_set else f"{suite.source} {pair}"
                ) from None
            done += 1
            if on_checked is not None:
                on_checked(done, pairs)
            if prepared is None:
                continue
            if starts is None:
                dimension = int(prepared.x0.size)
                box = prepared.feasible is not None and prepared.feasible.box is not None
                starts = [{"kind": "default", **CLIPPED} if box else "default"] + [
                    {"kind": "perturbed", "seed": suite.config.seed, "label": problem_label, "k": k}
                    | (CLIPPED if box else {})
                    for k in range(1, suite.config.starts)
                ]
            for k, init in enumerate(starts):
                runs.append(
                    {"problem": dict(problem), "optimizer": dict(optimizer), "init": init, "seed": suite.config.seed}
                )
                meta.append(
                    {"problem": problem_label, "optimizer": label(optimizer), "start": k, "dimension": dimension}
                )
    if not runs:
        raise ConfigError(
            f"no optimizer of the suite can take any of its problems: {not_applicable[0]['reason']}",
            source=suite.source,
        )
    base = run_config(suite, suite.problems[0], suite.optimizers[0], plots=plots)
    plan = Plan(base, tuple(overrides), PER_RUN, tuple(runs), plots)
    return plan, meta, not_applicable


def _dimension(config: Any) -> int:
    """How many numbers a problem's free parameters hold (for a pair that is not run)."""
    from optrun.core.backend import get_backend
    from optrun.core.params import size
    from optrun.engine.prepare import build_start

    _, params0, fixed = build_start(config, get_backend(config.backend))
    return size({k: v for k, v in params0.items() if k not in fixed})


def start_bench(
    suite: Suite, plan: Any, meta: list[dict[str, Any]], not_applicable: Sequence[dict[str, Any]] = ()
) -> Path:
    """A new bench directory with bench.json (the suite, which run is which, the
    problem-starts that are not applicable, the optimizers' labels in the
    suite's order) and runs/sweep.json."""
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
                "not_applicable": list(not_applicable),
                "optimizers": [label(o) for o in suite.optimizers],
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
        problem = _entry_problem(run, f"run {i}")
        if problem:
            return problem
    skipped = data.get("not_applicable", [])  # (a bench.json of an older optrun has none)
    if not isinstance(skipped, list) or len(skipped) > MAX_RUNS:
        return f"'not_applicable' should be a list of at most {MAX_RUNS} problem-starts"
    for i, entry in enumerate(skipped, start=1):
        problem = _entry_problem(entry, f"not_applicable {i}", ("position",))
        if problem:
            return problem
    labels = data.get("optimizers", [])
    if not isinstance(labels, list) or not all(isinstance(name, str) for name in labels):
        return "'optimizers' should be a list of names (strings)"
    return ""


def _entry_problem(run: Any, what: str, counts: tuple[str, ...] = ()) -> str:
    """Why a run (or a problem-start not run) of bench.json is not what optrun wrote ('' when it is)."""
    keys = ("problem", "optimizer", "start", "dimension", *counts)
    if not isinstance(run, dict) or not set(keys) <= set(run):
        return f"{what} should be an object with {', '.join(keys[:-1])} and {keys[-1]}"
    if not isinstance(run["problem"], str) or not isinstance(run["optimizer"], str):
        return f"{what}: 'problem' and 'optimizer' should be names (strings)"
    whole = ("start", "dimension", *counts)
    if any(type(run[key]) is not int or run[key] < 0 for key in whole):
        return f"{what}: {' and '.join(repr(key) for key in whole)} should be whole numbers >= 0"
    return ""


def optimizer_labels(bench: dict[str, Any]) -> list[str]:
    """The optimizers, in the suite's order (one not applicable to any problem too)."""
    ran = [r["optimizer"] for r in (*bench["runs"], *bench.get("not_applicable", []))]
    return list(dict.fromkeys([*bench.get("optimizers", []), *ran]))


def write_outputs(
    bench_dir: Path, bench: dict[str, Any], sweep_rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """bench.csv and the plots; returns the rows and warnings (a plot that could not be drawn)."""
    import warnings as warnings_module

    from optrun.plots.bench import draw_bench_plots

    targets = bench["targets"]
    rows = bench_rows(sweep_rows, bench["runs"], targets, bench.get("not_applicable", []))
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
