"""optrun bench on problems with bounds and constraints (issue 34): pairs an
optimizer cannot take are "not applicable" (not run, not failed, counted as
not solved), a target counts only at a feasible trace row, a run that ends
infeasible solves nothing, bench.csv's violation column, and the profiles'
numbers with such pairs (checked by hand)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from optrun.cli import app
from optrun.config.bench import load_suite
from optrun.core.feasible import ConstraintSpec
from optrun.core.problems import PROBLEMS, SUITES, Problem, Reference, register_problem, register_suite
from optrun.core.rundir import read_run
from optrun.engine.bench import bench_problem, plan_bench, read_bench_csv
from optrun.plots.profiles import cost_matrix, data_profile, performance_profile

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
F_STAR = 4.0  # every test problem: f = (x - 3)^2, pushed back to x <= 1, so f* = 4 at x = 1
NAMES = ("h7-linear-cap", "h7-cubic-cap", "h7-boxed")


def _problem(start: float, constraint=None, bounds=None) -> Problem:
    return Problem(
        objective=lambda p: (p["x"] - 3.0) ** 2,
        start={"x": start},
        reference=Reference(fun=F_STAR, params=({"x": 1.0},)),
        bounds={"x": bounds} if bounds else {},
        constraints=(constraint,) if constraint else (),
    )


@pytest.fixture
def capped():
    """Three one-parameter problems and a suite of them, registered for the test:
    x <= 1 as a linear constraint (SLSQP's first step lands on it), as the
    nonlinear 1 - x^3 >= 0 (one step does not reach it), and as a box; each
    starts where f is below f* = 4 except the box's, outside its box."""
    register_problem("h7-linear-cap", description="(x - 3)^2, 1 - x >= 0")(
        lambda options: _problem(2.5, ConstraintSpec("ineq", lambda p: 1.0 - p["x"], "1 - x"))
    )
    register_problem("h7-cubic-cap", description="(x - 3)^2, 1 - x^3 >= 0")(
        lambda options: _problem(2.5, ConstraintSpec("ineq", lambda p: 1.0 - p["x"] ** 3, "1 - x**3"))
    )
    register_problem("h7-boxed", description="(x - 3)^2, -1 <= x <= 1")(lambda options: _problem(5.0, None, [-1, 1]))
    register_suite("h7-capped", list(NAMES), "the test's capped problems")
    yield
    for name in NAMES:
        PROBLEMS.unregister(name)
    SUITES.unregister("h7-capped")


def bench(*args):
    return runner.invoke(app, ["bench", *map(str, args)], env={"COLUMNS": "200"})


# ------------------------------------------------------------------ the plan
def test_pairs_an_optimizer_cannot_take_are_not_applicable_not_an_error(workdir, capped):
    (workdir / "s.yaml").write_text("name: capped\nproblems: h7-capped\noptimizers: [slsqp, lbfgs]\nstarts: 2\n")
    plan, meta, skipped = plan_bench(load_suite(workdir / "s.yaml"))
    # lbfgs takes bounds, not constraints: it runs on the box only
    assert [(m["problem"], m["optimizer"], m["start"]) for m in meta] == [
        ("h7-linear-cap", "slsqp", 0),
        ("h7-linear-cap", "slsqp", 1),
        ("h7-cubic-cap", "slsqp", 0),
        ("h7-cubic-cap", "slsqp", 1),
        ("h7-boxed", "slsqp", 0),
        ("h7-boxed", "slsqp", 1),
        ("h7-boxed", "lbfgs", 0),
        ("h7-boxed", "lbfgs", 1),
    ]
    assert [(s["problem"], s["optimizer"], s["start"], s["dimension"], s["position"]) for s in skipped] == [
        ("h7-linear-cap", "lbfgs", 0, 1, 2),
        ("h7-linear-cap", "lbfgs", 1, 1, 2),
        ("h7-cubic-cap", "lbfgs", 0, 1, 4),
        ("h7-cubic-cap", "lbfgs", 1, 1, 4),
    ]
    assert all("'lbfgs' cannot take constraints" in s["reason"] and "slsqp" in s["reason"] for s in skipped)
    # a start outside a box is moved into it, for every optimizer; problems without a box start as they are
    inits = [run["init"] for run in plan.runs]
    assert inits[0] == "default" and inits[1] == {"kind": "perturbed", "seed": 0, "label": "h7-linear-cap", "k": 1}
    assert inits[4] == inits[6] == {"kind": "default", "clip_to_bounds": True}
    assert inits[5] == inits[7] == {"kind": "perturbed", "seed": 0, "label": "h7-boxed", "k": 1, "clip_to_bounds": True}


def test_a_suite_no_optimizer_can_run_is_one_line(workdir, capped):
    (workdir / "s.yaml").write_text("name: capped\nproblems: [h7-cubic-cap]\noptimizers: [lbfgs, adam]\n")
    result = bench("s.yaml", "--workers", "1")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert "no optimizer of the suite can take any of its problems" in result.stderr
    assert not (workdir / "outputs").exists()


def test_bench_json_without_the_issue_34_keys_still_reads_and_bad_ones_are_named():
    written = {"suite": {}, "targets": [0.1], "runs": [{"problem": "p", "optimizer": "o", "start": 0, "dimension": 2}]}
    assert bench_problem(written) == ""  # a bench from before: no not_applicable, no optimizers
    entry = {"problem": "p", "optimizer": "q", "start": 0, "dimension": 2, "position": 1, "reason": "r"}
    assert bench_problem({**written, "not_applicable": [entry], "optimizers": ["o", "q"]}) == ""
    assert "not_applicable 1 should be an object with" in bench_problem({**written, "not_applicable": [{"x": 1}]})
    assert "'position' should be whole" in bench_problem({**written, "not_applicable": [{**entry, "position": -1}]})
    assert "'optimizers' should be a list" in bench_problem({**written, "optimizers": [3]})


# -------------------------------------------------------- a hand-checked case
def test_profiles_count_not_applicable_and_infeasible_as_unsolved():
    """Three problem-starts (n = 2), solvers A and B. A: P1 in 10 evaluations,
    P2 not applicable, P3 ended infeasible (no cost). B: 20, 5 and 8.
    Dolan-Moré ratios: A = (1, inf, inf), B = (2, 1, 1), so rho_A(a) = 1/3 for
    every a >= 1, rho_B(1) = 2/3, rho_B(2) = 1; data profiles in n + 1 = 3
    evaluations: A solves P1 at 10/3, B P2 at 5/3, P3 at 8/3 and P1 at 20/3."""
    from rich.console import Console

    from optrun.commands.bench import bench_table, problem_table, summary_by_optimizer

    def row(problem, optimizer, status, cost):
        return {"problem": problem, "start": 0, "dimension": 2, "optimizer": optimizer, "status": status,
                "nfev": cost, "violation": 0.0, "nfev_to_0.1": cost}  # fmt: skip

    rows = [
        row("P1", "A", "converged", 10),
        row("P2", "A", "not_applicable", None),
        row("P3", "A", "infeasible", None),
        row("P1", "B", "converged", 20),
        row("P2", "B", "converged", 5),
        row("P3", "B", "converged", 8),
    ]
    costs, dims, instances = cost_matrix(rows, ["A", "B"], "nfev_to_0.1")
    assert instances == [("P1", 0), ("P2", 0), ("P3", 0)]
    assert costs.tolist() == [[10, 20], [np.inf, 5], [np.inf, 8]]
    profile = performance_profile(costs, np.array([1.0, 1.5, 2.0, 1e9]))
    assert profile[:, 0] == pytest.approx([1 / 3] * 4)
    assert profile[:, 1] == pytest.approx([2 / 3, 2 / 3, 1, 1])
    data = data_profile(costs, dims, np.array([1.0, 2.0, 3.0, 3.5, 7.0]))
    assert data[:, 0] == pytest.approx([0, 0, 0, 1 / 3, 1 / 3])
    assert data[:, 1] == pytest.approx([0, 1 / 3, 2 / 3, 2 / 3, 1])
    a, b = summary_by_optimizer(rows, ["A", "B"], [0.1])
    assert (a["runs"], a["not_applicable"], a["targets"][0]["solved"], a["targets"][0]["fraction"]) == (2, 1, 1, 1 / 3)
    assert (b["runs"], b["not_applicable"], b["targets"][0]["fraction"]) == (3, 0, 1.0)
    console = Console(width=200, record=True)
    console.print(bench_table(rows, ["A", "B"], [0.1], title="t"))
    console.print(problem_table(rows, ["A", "B"], [0.1], title="t"))
    text = console.export_text()
    assert cells(text, "A") == ["A", "2", "1", "1/3 (33%)", "10"] and cells(text, "B") == [
        "B",
        "3",
        "0",
        "3/3 (100%)",
        "8",
    ]
    assert cells(text, "P2") == ["P2", "n/a", "1/1"] and cells(text, "P3") == ["P3", "0/1 (1 infeasible)", "1/1"]


def cells(text: str, first: str) -> list[str]:
    """The cells of the table row of ``text`` whose first cell is ``first``."""
    for line in text.splitlines():
        parts = [part.strip() for part in line.strip().strip("│").split("│")]
        if parts[0] == first:
            return parts
    raise AssertionError(f"no row {first!r} in\n{text}")


# ------------------------------------------------- bench.csv's rows, from runs
def test_a_target_counts_at_a_feasible_row_only_and_never_for_an_infeasible_end(workdir, capped):
    """One SLSQP step (stop.max_iter 1) from x = 2.5, where f = 0.25 < f* = 4
    but x > 1 is infeasible: on the linear cap the step lands on x = 1
    (feasible, f = f*), on the cubic cap it stops short (x = 1.72, f < f*, it
    ends infeasible). The start row is below every target level: only its
    violation keeps it from counting."""
    from optrun.api import run
    from optrun.engine.bench import bench_rows

    names = ("h7-linear-cap", "h7-cubic-cap")
    config = {"optimizer": {"name": "slsqp"}, "stop": {"max_iter": 1}, "output": {"plots": False}}
    results = [run({**config, "problem": {"name": name}}) for name in names]
    sweep_rows = [
        {"index": i, "status": r.summary.status.value, "f": r.summary.fun, "gap": r.summary.gap, "nit": r.summary.nit}
        | {"nfev": r.summary.nfev, "wall_time_s": r.summary.wall_time_s, "run_dir": str(r.run_dir)}
        for i, r in enumerate(results, start=1)
    ]
    meta = [{"problem": name, "optimizer": "slsqp", "start": 0, "dimension": 1} for name in names]
    skipped = {"problem": names[0], "optimizer": "lbfgs", "start": 0, "dimension": 1, "position": 1, "reason": "r"}
    rows = bench_rows(sweep_rows, meta, [0.1, 1e-6], [skipped])
    assert [(r["problem"], r["optimizer"], r["status"]) for r in rows] == [
        ("h7-linear-cap", "slsqp", "max_iter"),
        ("h7-linear-cap", "lbfgs", "not_applicable"),
        ("h7-cubic-cap", "slsqp", "infeasible"),
    ]
    linear, na, cubic = rows
    assert na["f"] is na["nfev"] is na["violation"] is na["run_dir"] is na["nfev_to_0.1"] is None
    # the feasible run: each target at the first row with f low enough and 1 - x >= -tol (x's closed form)
    trace = read_run(results[0].run_dir).trace
    f, x, nfev = trace["f"], trace["x"], trace["nfev"]
    for tau in (0.1, 1e-6):
        level = F_STAR + tau * F_STAR
        hit = np.flatnonzero((f <= level) & (x - 1.0 <= 1e-6))
        assert hit.size and hit[0] > 0 and f[0] <= level  # the start row was low enough, but infeasible
        assert linear[f"nfev_to_{tau:g}"] == int(nfev[hit[0]]) and linear[f"time_to_{tau:g}"] is not None
    assert linear["violation"] == pytest.approx(max(0.0, x[-1] - 1.0), abs=1e-15)
    # the infeasible run: f below f* at every row, yet no target; its violation is x^3 - 1 at the end
    trace = read_run(results[1].run_dir).trace
    assert cubic["f"] < F_STAR and np.all(trace["f"] < F_STAR)
    assert cubic["violation"] == pytest.approx(trace["x"][-1] ** 3 - 1.0, rel=1e-12) and cubic["violation"] > 1e-6
    assert cubic["nfev_to_0.1"] is cubic["nfev_to_1e-06"] is cubic["time_to_0.1"] is None


# ------------------------------------------------------------- end to end
@pytest.mark.slow
def test_a_constrained_bench_reports_na_feasible_targets_and_violations(workdir, capped):
    """The runs of the test above, and a box and an unconstrained problem, as a bench (plots included)."""
    (workdir / "s.yaml").write_text(
        "name: capped\nproblems: [h7-capped, {name: trid, dim: 2}]\noptimizers: [slsqp, lbfgs]\n"
        "budget: {max_iter: 1}\ntargets: [1.0e-1, 1.0e-6]\n"
    )
    result = bench("s.yaml", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "6 of 6 runs done (2 problem-starts not applicable)" in result.stdout
    [bench_dir] = (workdir / "outputs" / "capped").glob("bench-*")
    rows = list(csv.DictReader(open(bench_dir / "bench.csv")))
    assert list(rows[0])[11] == "violation"
    assert [(r["problem"], r["optimizer"], r["status"]) for r in rows] == [
        ("h7-linear-cap", "slsqp", "max_iter"),
        ("h7-linear-cap", "lbfgs", "not_applicable"),
        ("h7-cubic-cap", "slsqp", "infeasible"),
        ("h7-cubic-cap", "lbfgs", "not_applicable"),
        ("h7-boxed", "slsqp", rows[4]["status"]),
        ("h7-boxed", "lbfgs", rows[5]["status"]),
        ("trid(dim=2)", "slsqp", "max_iter"),
        ("trid(dim=2)", "lbfgs", "max_iter"),
    ]
    skipped = [r for r in rows if r["status"] == "not_applicable"]
    assert all(r["f"] == r["nfev"] == r["run_dir"] == r["nfev_to_0.1"] == r["violation"] == "" for r in skipped)
    assert [r["violation"] for r in rows[6:]] == ["", ""]  # no bounds or constraints: no violation
    by_pair = {(r["problem"], r["optimizer"]): r for r in rows}

    # the infeasible run: f below f* at every row, yet no target
    cubic = by_pair["h7-cubic-cap", "slsqp"]
    run = read_run(bench_dir / cubic["run_dir"])
    x_end = run.trace["x"][-1]
    assert float(cubic["f"]) < F_STAR and np.all(run.trace["f"] < F_STAR)
    assert float(cubic["violation"]) == pytest.approx(x_end**3 - 1.0, rel=1e-9) and x_end**3 - 1 > 1e-6
    assert cubic["nfev_to_0.1"] == cubic["nfev_to_1e-06"] == cubic["time_to_0.1"] == ""

    # the feasible run: its targets are reached at the first row with f low enough AND 1 - x >= -tol
    linear = by_pair["h7-linear-cap", "slsqp"]
    run = read_run(bench_dir / linear["run_dir"])
    f, x, nfev = run.trace["f"], run.trace["x"], run.trace["nfev"]
    for tau in ("0.1", "1e-06"):
        level = F_STAR + float(tau) * F_STAR
        hit = np.flatnonzero((f <= level) & (x - 1.0 <= 1e-6))
        assert hit.size and hit[0] > 0 and f[0] <= level  # the start row was low enough, but infeasible
        assert linear[f"nfev_to_{tau}"] == str(int(nfev[hit[0]]))
    assert float(linear["violation"]) <= 1e-6

    # the box: the start 5 was moved to x = 1 (the minimum), for both optimizers
    for optimizer in ("slsqp", "lbfgs"):
        run = read_run(bench_dir / by_pair["h7-boxed", optimizer]["run_dir"])
        assert run.trace["x"][0] == 1.0 and by_pair["h7-boxed", optimizer]["nfev_to_1e-06"] == str(
            int(run.trace["nfev"][0])
        )

    # the tables: n/a apart from the runs, counted as not solved
    assert "┃ optimizer ┃ runs ┃ n/a ┃" in result.stdout and cells(result.stdout, "lbfgs")[:4] == [
        "lbfgs",
        "2",
        "2",
        "1/4 (25%)",
    ]
    assert cells(result.stdout, "h7-cubic-cap") == ["h7-cubic-cap", "0/1 (1 infeasible)", "n/a"]
    # pandas reads the status as it is (n/a would be NaN), and the profiles count n/a as unsolved
    import pandas as pd

    frame = pd.read_csv(bench_dir / "bench.csv")
    assert (frame.status == "not_applicable").sum() == 2 and frame.violation.isna().sum() == 4
    costs, _, instances = cost_matrix(read_bench_csv(bench_dir / "bench.csv"), ["slsqp", "lbfgs"], "nfev_to_0.1")
    assert [name for name, _ in instances] == ["h7-boxed", "h7-cubic-cap", "h7-linear-cap", "trid(dim=2)"]
    assert costs[:, 1].tolist() == [0, np.inf, np.inf, np.inf]  # n/a on both caps, trid not reached
    assert costs[:3, 0].tolist() == [0, np.inf, 2]  # infeasible: never reached
    # show and --json read it back
    shown = runner.invoke(app, ["show", str(bench_dir)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "6 of 6 runs: 4 problems x 2 optimizers x 1 starts (2 not applicable)" in (
        shown.stdout
    )
    assert cells(shown.stdout, "h7-linear-cap") == ["h7-linear-cap", "1/1", "n/a"]
    data = json.loads(runner.invoke(app, ["show", str(bench_dir), "--json"]).stdout)
    assert (data["runs"], data["not_applicable"]) == (6, 2)
    assert [(o["optimizer"], o["runs"], o["not_applicable"]) for o in data["optimizers"]] == [
        ("slsqp", 4, 0),
        ("lbfgs", 2, 2),
    ]


# ------------------------------------------------------------ the shipped suite
SHIPPED = REPO / "suites" / "constrained.yaml"


def test_the_shipped_constrained_suite_plans_its_na_pairs(workdir):
    plan, meta, skipped = plan_bench(load_suite(SHIPPED))
    assert len(plan.runs) == 12 and len(skipped) == 8
    assert {(m["optimizer"]) for m in meta if m["problem"] != "rosenbrock-box"} == {"slsqp", "trust-constr"}
    assert {s["optimizer"] for s in skipped} == {"lbfgs", "adam(step_size=0.01)"}
    assert {s["problem"] for s in skipped} == {"rosenbrock-disc", "hs21", "hs35", "hs71"}
    assert plan.runs[meta.index(next(m for m in meta if m["problem"] == "hs21"))]["init"] == {
        "kind": "default",
        "clip_to_bounds": True,  # hs21's standard start (-1, -1) is outside its box
    }


@pytest.mark.slow
def test_the_shipped_constrained_suite_runs(workdir):
    result = bench(SHIPPED, "--workers", "1")  # in this process: no pool to start
    assert result.exit_code == 0, result.output
    assert "12 of 12 runs done (8 problem-starts not applicable)" in result.stdout
    [bench_dir] = (workdir / "outputs" / "constrained").glob("bench-*")
    rows = read_bench_csv(bench_dir / "bench.csv")
    for row in rows:
        if row["optimizer"] in ("slsqp", "trust-constr"):  # both solve every problem to 1e-6, feasibly
            assert row["nfev_to_1e-06"] is not None and row["violation"] <= 1e-6, row
            assert row["gap"] <= 1e-6 * max(1.0, abs(row["f"] - row["gap"])), row  # (SciPy 1.12's trust-constr
            # ends hs71 at max_iter, 3e-6 above f* = 17.014: within the target)
    assert (bench_dir / "perf_evals.png").is_file()
