"""``sweep --vectorize`` with bounds (issue 34): one box for the whole batch,
each member's steps projected onto it; each member equals its own run, and
the vectorised sweep writes the run directories a plain sweep writes. A
sweep that varies the bounds, or has constraints, is refused as other
differences are."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from test_compiled import Rows, assert_same_run, stop_rules, trid
from test_compiled_bounds import LOWER, UPPER, boxed
from typer.testing import CliRunner

from optrun.cli import app
from optrun.config import load_config
from optrun.core.compiled import minimize_compiled, minimize_compiled_batch
from optrun.core.optimizers import OPTIMIZERS
from optrun.engine.batch import vectorizable

runner = CliRunner()


def sweep(*args):
    return runner.invoke(app, ["sweep", *map(str, args)], env={"COLUMNS": "200"})


@pytest.mark.slow
def test_each_member_of_a_bounded_batch_equals_its_own_bounded_run():
    """Starts inside the box (one on its sides), each member with its own step
    size: rows, outcome and best feasible point as its own compiled run's."""
    entry = OPTIMIZERS.get("momentum")
    each = [
        entry.options.model_validate({"step_size": h, "beta": b}) for h, b in ((0.02, 0.5), (0.01, 0.9), (0.03, 0.0))
    ]
    rng = np.random.default_rng(3)
    x0s = np.minimum(rng.normal(size=(3, 10)) * 0.5, UPPER)
    x0s[2] = np.minimum(np.zeros(10), UPPER) + np.where(np.isfinite(UPPER), UPPER, 0.0)  # on every finite side
    stop = stop_rules(max_iter=60)
    batch_rows = [Rows() for _ in each]
    batch = minimize_compiled_batch(boxed(trid), x0s, entry, each, stop, [[r] for r in batch_rows], chunk=32)
    for x0, opts, outcome, rows in zip(x0s, each, batch, batch_rows):
        single = Rows()
        alone = minimize_compiled(boxed(trid), x0, entry, opts, stop, [single], chunk=32)
        assert_same_run((alone, single), (outcome, rows))
        np.testing.assert_array_equal(outcome.best_x, rows.rows[outcome.best_iter][7])
        np.testing.assert_allclose(outcome.best_x, alone.best_x, rtol=1e-12, atol=1e-14)
        xs = np.stack([row[7] for row in rows.rows])
        assert np.all(xs >= LOWER) and np.all(xs <= UPPER) and np.any(xs == UPPER)


BOUNDED = (
    "problem: {name: rosenbrock, dim: 4}\ninit: {kind: normal, scale: 0.5, clip_to_bounds: true}\n"
    "optimizer: {name: adam, step_size: 0.01}\nbounds: {x: [-0.5, 0.6]}\nstop: {max_iter: 150}\nbackend: jax\n"
)


@pytest.mark.slow
def test_a_bounded_vectorised_sweep_writes_what_a_plain_sweep_writes(workdir):
    """--vectorize, --workers 1 (the compiled loop run by run) and the autograd
    backend's Python loop: every row's f to 1e-12, the same statuses, counts,
    final points and summary constraints blocks; the starts clipped into the
    box; sweep.csv's violation column (0: every run ends in the box)."""
    (workdir / "v.yaml").write_text(BOUNDED)
    assert sweep("v.yaml", "--seeds", "3", "--vectorize").exit_code == 0
    assert sweep("v.yaml", "--seeds", "3", "--workers", "1").exit_code == 0
    result = sweep("v.yaml", "--seeds", "3", "--workers", "1", "--set", "backend=autograd")
    assert result.exit_code == 0 and "violation" in result.stdout
    folders = sorted((workdir / "outputs" / "v").glob("sweep-*"))
    vectorized = folders[0]
    on_sides = 0  # entries of the iterates (past the start) that the projection put on a side
    for other in folders[1:]:
        for i in range(1, 4):
            run = f"run-{i:04d}"
            a = list(csv.DictReader(open(vectorized / run / "trace.csv")))
            b = list(csv.DictReader(open(other / run / "trace.csv")))
            assert len(a) == len(b) == 151
            assert [float(r["f"]) for r in a] == pytest.approx([float(r["f"]) for r in b], rel=1e-12)
            xs = np.array([[float(r[f"x[{j}]"]) for j in range(4)] for r in a])
            assert np.all(xs >= -0.5) and np.all(xs <= 0.6)
            on_sides += int(np.sum((xs[1:] == -0.5) | (xs[1:] == 0.6)))
            sa, sb = (json.loads((d / run / "summary.json").read_text()) for d in (vectorized, other))
            assert (sa["status"], sa["nit"], sa["nfev"], sa["best"]["iter"]) == (
                sb["status"],
                sb["nit"],
                sb["nfev"],
                sb["best"]["iter"],
            )
            assert sa["params"]["x"] == pytest.approx(sb["params"]["x"], rel=1e-12)
            assert sa["constraints"] == sb["constraints"]
            assert sa["constraints"]["best"] == {"violation": 0.0, "values": []}
        rows = list(csv.DictReader(open(other / "sweep.csv")))
        assert [r["violation"] for r in rows] == ["0.0"] * 3
    assert [r["violation"] for r in csv.DictReader(open(vectorized / "sweep.csv"))] == ["0.0"] * 3
    assert on_sides > 0


def test_vectorize_refuses_a_sweep_over_bounds_before_anything_is_written(workdir):
    (workdir / "v.yaml").write_text(BOUNDED)
    result = sweep("v.yaml", "--seeds", "2", "--vectorize", "--grid", "bounds.x=[-0.5,0.6],[-1,1]")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert "v.yaml" in line and "--vectorize runs every run in one box: the runs differ in bounds" in line
    assert not (workdir / "outputs").exists()


def test_vectorizable_names_differing_bounds_and_constraints(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text(BOUNDED)
    same = [load_config(path, [f"seed={s}", "optimizer.step_size=0.02"]) for s in range(2)]
    assert vectorizable(same) == ""  # one box, differing seeds and step sizes: one batch
    other = [*same, load_config(path, ["bounds.x=[-1, 1]"])]
    assert "the runs differ in bounds" in vectorizable(other)
    constrained = load_config(path, ["constraints=[{type: ineq, expr: '1 - x[0]'}]"])
    reason = vectorizable([constrained, constrained])
    assert reason.startswith("--vectorize runs first-order methods, which take no constraints")
