"""``optrun sweep`` over a config with constraints (issue 34): the table,
sweep.csv and --json show each run's status (``infeasible`` too) and final
largest violation; the best setting is never one whose runs ended
infeasible; a method the constraints refuse is refused before anything is
written, naming the run; sweep.png marks infeasible ends."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import scipy.optimize
from typer.testing import CliRunner

from optrun.cli import app
from optrun.commands.sweep import best_line, results_table, summarize
from optrun.engine.sweep_dir import RESULT_COLUMNS, write_sweep_csv

runner = CliRunner()

# Rosenbrock in the unit disc, started at (1, 1): outside it (1 - 1 - 1 = -1, a violation of exactly 1), at f = 0
DISC = (
    "problem: rosenbrock\ninit: {kind: values, values: {x: [1.0, 1.0]}}\noptimizer: slsqp\n"
    'constraints:\n  - {type: ineq, expr: "1 - x[0]**2 - x[1]**2"}\nstop: {grad_tol: null}\n'
)


def sweep(*args):
    return runner.invoke(app, ["sweep", *map(str, args)], env={"COLUMNS": "200"})


def scipy_slsqp():
    """SLSQP called directly on the same problem and start."""
    return scipy.optimize.minimize(
        scipy.optimize.rosen,
        [1.0, 1.0],
        jac=scipy.optimize.rosen_der,
        method="SLSQP",
        constraints=[{"type": "ineq", "fun": lambda x: 1 - x[0] ** 2 - x[1] ** 2}],
    )


@pytest.mark.slow
def test_a_sweep_over_methods_and_budgets_shows_statuses_violations_and_a_feasible_best(workdir):
    """slsqp to convergence, trust-constr for 8 iterations, slsqp with no step
    (max_iter 0: it ends at the start, f = 0, outside the disc): the last is
    infeasible with violation 1 and the lowest f, and is not the best; the
    converged run's f is SciPy's own; sweep.csv's violation column is each
    summary's constraints.end.violation; optrun show --json gives the same."""
    (workdir / "d.yaml").write_text(DISC)
    result = sweep(
        "d.yaml", "--zip", "optimizer.name=slsqp,trust-constr,slsqp", "--zip", "stop.max_iter=50,8,0", "--workers", "1"
    )
    assert result.exit_code == 0, result.output
    [folder] = (workdir / "outputs" / "d").glob("sweep-*")
    rows = list(csv.DictReader(open(folder / "sweep.csv")))
    assert list(rows[0]).index("violation") == list(rows[0]).index("gap") + 1
    for row in rows:
        summary = json.loads((folder / f"run-{int(row['index']):04d}" / "summary.json").read_text())
        assert row["status"] == summary["status"]
        assert float(row["violation"]) == summary["constraints"]["end"]["violation"]
    converged, short, unstepped = rows
    assert converged["status"] == "converged" and float(converged["violation"]) < 1e-12
    assert float(converged["f"]) == pytest.approx(scipy_slsqp().fun, rel=1e-9)
    assert unstepped["status"] == "infeasible" and float(unstepped["f"]) == 0.0 and unstepped["violation"] == "1.0"
    assert short["optimizer.name"] == "trust-constr" and short["nit"] == "8"
    out = " ".join(result.stdout.split())
    assert "violation" in out and "1 infeasible" in out
    assert "best: optimizer.name=slsqp, stop.max_iter=50 (lowest mean f," in out  # not the infeasible f = 0
    assert "failed or diverged" in out and "3 of 3 runs done" in out
    shown = runner.invoke(app, ["show", str(folder), "--json"], env={"COLUMNS": "200"})
    data = json.loads(shown.stdout)
    assert [r["violation"] for r in data["runs"]] == [float(r["violation"]) for r in rows]
    assert [s["violation"] for s in data["settings"]] == [float(r["violation"]) for r in rows]
    assert [s["best"] for s in data["settings"]] == [True, False, False]


def test_a_method_the_constraints_refuse_is_refused_naming_the_run(workdir):
    (workdir / "d.yaml").write_text(DISC)
    result = sweep("d.yaml", "--grid", "optimizer.name=slsqp,lbfgs")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert "d.yaml (run with optimizer.name=lbfgs, seed=0): optimizer.name: optimizer 'lbfgs' cannot take" in line
    assert "slsqp" in line  # the methods that can
    assert "a grid runs every combination" not in line  # that hint is for a swept option the method does not take
    assert not (workdir / "outputs").exists()


def rows_of(*specs):
    """Sweep rows of a one-key sweep: (value, seed, status, f, violation or absent)."""
    rows = []
    for i, (value, seed, status, f, *violation) in enumerate(specs, start=1):
        row = {"index": i, "k": value, "seed": seed, "status": status, "f": f, "gap": None}
        if violation:
            row["violation"] = violation[0]
        rows.append(row)
    return rows


def test_the_best_setting_skips_infeasible_runs_and_the_violation_is_the_largest_over_seeds():
    rows = rows_of(
        ("a", 0, "infeasible", -5.0, 0.3),
        ("a", 1, "converged", -4.0, 0.0),
        ("b", 0, "converged", 1.0, 1e-9),
        ("b", 1, "max_iter", 2.0, 2e-9),
        ("c", 0, "converged", 3.0, 0.0),
    )
    points = summarize(rows, ["k", "seed"])
    assert [p["violation"] for p in points] == [0.3, 2e-9, 0.0]
    assert [p["best"] for p in points] == [False, True, False]  # a's mean is lowest, but one of its runs is infeasible
    assert best_line(points, ["k", "seed"]) == "best: k=b (lowest mean f, 1.5)"
    headers = [column.header for column in results_table(rows, ["k", "seed"], points).columns]
    assert headers[-1] == "violation"
    error = rows_of(("a", 0, "converged", 1.0, 0.0))[0] | {"index": 2, "k": "z"}
    error.update(status="error", f=None, violation=None)
    assert summarize([rows[0], error], ["k", "seed"])[1]["violation"] is None


def test_a_sweep_without_bounds_or_constraints_has_no_violation_column(tmp_path):
    rows = rows_of(("a", 0, "converged", 1.0), ("b", 0, "converged", 2.0))
    points = summarize(rows, ["k", "seed"])
    assert all("violation" not in p for p in points)
    assert "violation" not in [column.header for column in results_table(rows, ["k", "seed"], points).columns]
    write_sweep_csv([{**r, "run_dir": "x"} for r in rows], ["k", "seed"], tmp_path / "sweep.csv")
    header = (tmp_path / "sweep.csv").read_text().splitlines()[0].split(",")
    assert header == ["index", "k", "seed", *RESULT_COLUMNS]


def test_sweep_png_marks_the_runs_that_ended_infeasible(tmp_path, monkeypatch):
    import matplotlib.figure

    from optrun.plots.sweep import plot_sweep

    saved = []
    original = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(
        matplotlib.figure.Figure, "savefig", lambda self, *a, **k: (saved.append(self), original(self, *a, **k))[1]
    )
    rows = rows_of(("a", 0, "infeasible", -5.0, 0.3), ("a", 1, "converged", -4.0, 0.0), ("b", 0, "converged", 1.0, 0.0))
    assert plot_sweep(rows, ["k", "seed"], tmp_path / "sweep.png")
    [ax] = saved[0].axes
    [marks] = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert np.asarray(marks.get_xydata()).tolist() == [[0.0, -5.0]]  # the infeasible run only
    assert "red x: infeasible end" in saved[0]._suptitle.get_text()
