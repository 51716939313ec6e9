"""optrun grad on a run with bounds and constraints (optrun/engine/grad_constraints.py,
optrun/commands/grad_constraints.py): each constraint's value, type and
violation, the bounds, the largest violation, the constraints' Jacobian by
the backend against closed forms, its finite-difference check (--fd, the
gradient's check reused), jax = autograd, a problem's own constraints, and
that a run without any prints what it printed before."""

import json

import numpy as np
import pytest
from tolerances import rounding
from typer.testing import CliRunner

import optrun
from optrun.cli import app

runner = CliRunner()

# c1 = 1 - x0^2 - x1^2 >= 0 (the unit disc), c2 = x0 + 2 x1 - 1 == 0, and a box; gd takes no constraints
DISC = {
    "name": "disc",
    "problem": {"name": "expression", "expr": "(x[0] - 2)**2 + x[1]**2", "params": {"x": [1.25, 0.5]}},
    "optimizer": "gd",
    "bounds": {"x": [[-1, 1], [None, 0.25]]},
    "constraints": [{"type": "ineq", "expr": "1 - x[0]**2 - x[1]**2"}, {"type": "eq", "expr": "x[0] + 2*x[1] - 1"}],
    "output": {"plots": False},
}


def closed_form(x0, x1):
    """The values and the Jacobian of c1 and c2, by hand."""
    return [1 - x0**2 - x1**2, x0 + 2 * x1 - 1], [[-2 * x0, -2 * x1], [1.0, 2.0]]


def constraints_of(config=DISC, **asks):
    return optrun.grad(config, write=False, **asks).to_json()["constraints"]


def test_values_violations_and_jacobian_match_the_closed_forms_outside_everything(workdir):
    """At (1.25, 0.5) every number is exact in binary: c1 = 1 - 1.5625 - 0.25 = -0.8125, c2 = 1.25,
    the box is left by 0.25 on both entries; the Jacobian [[-2.5, -1], [1, 2]]."""
    data = constraints_of()
    values, jacobian = closed_form(1.25, 0.5)
    assert [v["value"] for v in data["values"]] == values == [-0.8125, 1.25]
    assert [(v["type"], v["constraint"]) for v in data["values"]] == [
        ("ineq", "1 - x[0]**2 - x[1]**2"),
        ("eq", "x[0] + 2*x[1] - 1"),
    ]
    assert [(v["violation"], v["met"]) for v in data["values"]] == [(0.8125, False), (1.25, False)]
    assert data["jacobian"] == jacobian and data["jacobian_columns"] == ["x[0]", "x[1]"]
    assert data["jacobian_rows"] == ["1 - x[0]**2 - x[1]**2", "x[0] + 2*x[1] - 1"]
    assert data["bounds"] == {
        "violation": 0.25,
        "entries": ["x[0]", "x[1]"],
        "low": [-1.0, None],
        "high": [1.0, 0.25],
        "value": [1.25, 0.5],
        "met": [False, False],
    }
    assert data["violation"] == 1.25 and data["feasible"] is False and data["feasibility_tol"] == 1e-6


def test_a_feasible_point_meets_everything_and_the_largest_violation_counts_the_bounds(workdir):
    """(0.5, 0.25): c1 = 0.6875, c2 = 0 (exact); then x1 = 0.75 leaves only the box (by 0.5) and c2."""
    data = constraints_of(at={"x": [0.5, 0.25]})
    assert [(v["value"], v["met"]) for v in data["values"]] == [(0.6875, True), (0.0, True)]
    assert data["violation"] == 0.0 and data["feasible"] is True and data["bounds"]["met"] == [True, True]
    data = constraints_of(at={"x": [-0.5, 0.75]})  # c1 = 1 - 0.25 - 0.5625 = 0.1875, c2 = -0.5 + 1.5 - 1 = 0
    assert data["bounds"]["violation"] == 0.5 and data["violation"] == 0.5
    assert [v["met"] for v in data["values"]] == [True, True] and data["bounds"]["met"] == [True, False]


def test_an_inexact_point_is_within_rounding_of_the_closed_forms(workdir):
    data = constraints_of(at={"x": [0.3, -0.4]})
    values, jacobian = closed_form(0.3, -0.4)
    # three operations on numbers <= 1 each side: rounding(3) absolute; 2 x is exact, so the Jacobian is too
    np.testing.assert_allclose([v["value"] for v in data["values"]], values, rtol=0, atol=rounding(6))
    assert data["jacobian"] == jacobian


def test_fd_checks_each_jacobian_row_as_it_checks_the_gradient(workdir):
    data = constraints_of(fd=True)
    _, jacobian = closed_form(1.25, 0.5)
    assert len(data["fd"]) == 2
    for check, row in zip(data["fd"], jacobian):
        assert check["mode"] == "entries" and check["labels"] == ["x[0]", "x[1]"] and check["autodiff"] == row
        assert len(check["steps"]) == 12 and check["central"]["evaluations_per_step"] == 4
        # c is at most quadratic, so central differences have no truncation error: at h = 0.1 what is left is
        # rounding, ~5 operations on numbers <= 2 for each of c(x + h), c(x - h) and in x +- h, over 2h
        assert check["central"]["best_error"] <= 2 * rounding(5, 2) / 0.2
        np.testing.assert_allclose(check["central"]["estimates"], row, rtol=0, atol=2 * rounding(5, 2) / 0.2)
        assert check["directional"]["relative_error"] < 1e-12  # the same bound over |J v| >= 0.1 here
    # the constraints' check is the gradient's: the same steps, the same seed, the same fields
    assert data["fd"][0].keys() == optrun.grad(DISC, write=False, fd=True).to_json()["fd"].keys()


def test_fd_steps_apply_to_the_constraints_too(workdir):
    data = constraints_of(fd_steps=[1e-2, 1e-4, 1e-6])
    assert [check["steps"] for check in data["fd"]] == [[1e-2, 1e-4, 1e-6]] * 2


@pytest.mark.slow  # jax compiles each constraint and its gradient
def test_jax_gives_what_autograd_gives(workdir):
    points = [constraints_of({**DISC, "backend": name}, at={"x": [0.3, -0.4]}) for name in ("autograd", "jax")]
    # the same few operations in another order (XLA may fuse a multiply-add): rounding(6) absolute on values <= 1
    for a, b in zip(*(p["values"] for p in points)):
        assert a["value"] == pytest.approx(b["value"], abs=rounding(6)) and a["met"] == b["met"]
    np.testing.assert_allclose(points[0]["jacobian"], points[1]["jacobian"], rtol=rounding(2), atol=0)
    assert points[0]["bounds"] == points[1]["bounds"]


def test_fixed_parameters_are_held_in_the_constraints(workdir):
    """z fixed at 2: 1 - x^2 - y^2 - z at (0.5, 0.5) is -1.5, its Jacobian in the free x, y only."""
    config = {
        "problem": {"name": "expression", "expr": "x**2 + y**2 + z", "params": {"x": 0.5, "y": 0.5, "z": 1.0}},
        "optimizer": "gd",
        "fix": {"z": 2.0},
        "constraints": [{"type": "ineq", "expr": "1 - x**2 - y**2 - z"}],
    }
    data = constraints_of(config, fd=True)
    assert data["values"][0]["value"] == -1.5 and data["jacobian"] == [[-1.0, -1.0]]
    assert data["jacobian_columns"] == ["x", "y"] and "bounds" not in data
    assert data["fd"][0]["central"]["best_error"] <= 2 * rounding(5, 2) / 0.2  # quadratic: rounding only


def test_clip_to_bounds_moves_the_default_start_as_the_run_would(workdir):
    clipped = {**DISC, "init": {"kind": "default", "clip_to_bounds": True}}
    result = optrun.grad(clipped, write=False)
    assert result.at["x"].tolist() == [1.0, 0.25] and result.to_json()["constraints"]["bounds"]["violation"] == 0
    assert optrun.grad(clipped, write=False, at={"x": [3.0, 3.0]}).at["x"].tolist() == [3.0, 3.0]  # --at is kept


def test_a_problems_own_bounds_and_constraints_are_reported(workdir):
    from optrun.core.feasible import ConstraintSpec
    from optrun.core.problems import PROBLEMS, Problem, register_problem

    @register_problem("test_grad_own_disc", description="in the disc", backends=("autograd", "jax"))
    def build(options, xp):
        return Problem(
            objective=lambda p: xp.sum((p["x"] - 2) ** 2),
            start={"x": np.array([0.5, 0.5])},
            bounds={"x": [0, None]},
            constraints=(ConstraintSpec("ineq", lambda p: 1 - xp.sum(p["x"] ** 2), "1 - |x|^2"),),
        )

    try:
        config = {"problem": "test_grad_own_disc", "optimizer": "adam", "constraints": [{"type": "eq", "expr": "x[0]"}]}
        data = constraints_of(config)
        assert [(v["constraint"], v["value"]) for v in data["values"]] == [("1 - |x|^2", 0.5), ("x[0]", 0.5)]
        assert data["jacobian"] == [[-1.0, -1.0], [1.0, 0.0]]  # the problem's constraints first, then the config's
        assert data["bounds"]["low"] == [0.0, 0.0] and data["bounds"]["high"] == [None, None]
    finally:
        PROBLEMS.unregister("test_grad_own_disc")


# ------------------------------------------------------------ the command
def test_the_table_says_each_constraint_and_grad_json_keeps_it(workdir):
    (workdir / "c.yaml").write_text(json.dumps({**DISC, "output": {"dir": "out"}}))
    result = runner.invoke(app, ["grad", "c.yaml", "--fd", "--no-plots"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output  # gd cannot run constraints, but grad optimizes nothing
    text = result.stdout
    assert "constraints at the point: largest violation 1.25 (bounds included), infeasible" in text
    assert "│ 1 - x[0]**2 - x[1]**2 │ ineq (>= 0) │ -0.8125 │    0.8125 │ no  │" in text
    assert "│ x[0] + 2*x[1] - 1     │ eq (== 0)   │    1.25 │      1.25 │ no  │" in text
    assert "bounds: 2 of 2 entries bounded, largest violation 0.25" in text
    assert "│ x[1]  │ open │ 0.25 │   0.5 │ no  │" in text
    assert "constraints' Jacobian (2 x 2, by autodiff: one reverse pass per constraint)" in text
    assert "constraints' Jacobian rows against central differences" in text
    run_dir = next((workdir / "out" / "disc").iterdir())
    saved = json.loads((run_dir / "grad.json").read_text())["constraints"]
    assert saved["jacobian"] == [[-2.5, -1.0], [1.0, 2.0]] and len(saved["fd"]) == 2
    refused = runner.invoke(app, ["run", "c.yaml"])
    assert refused.exit_code == 2 and "optimizer.name" in refused.stderr


def test_a_run_without_bounds_or_constraints_prints_what_it_printed_before(workdir):
    """The docs' first example (docs/tutorials/derivatives.md), as recorded before constraints existed."""
    from pathlib import Path

    config = Path(__file__).resolve().parents[1] / "configs" / "polynomial-gd.yaml"
    result = runner.invoke(app, ["grad", str(config), "--order", "2", "--no-plots"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    shown = result.stdout.rsplit("recorded in", 1)[0]
    assert shown == BEFORE
    data = optrun.grad(str(config), write=False, order=2, fd=True).to_json()
    assert sorted(data) == ["at", "derivatives", "derivatives_in", "f", "fd", "grad"]


BEFORE = """\
polynomial-gd: derivatives at a point
┌────┬─────┐
│ at │ x=3 │
│ f  │ 36  │
└────┴─────┘
gradient (signed)
┏━━━━━━━┳━━━━━━━━━━━━┓
┃ entry ┃ df/d entry ┃
┡━━━━━━━╇━━━━━━━━━━━━┩
│ x     │         22 │
└───────┴────────────┘
derivatives in x at 3
┏━━━━━━━┳━━━━━━━┓
┃ order ┃ value ┃
┡━━━━━━━╇━━━━━━━┩
│     f │    36 │
│    f' │    22 │
│   f'' │     6 │
└───────┴───────┘
"""


BAD = [
    ("unknown-name", {"constraints": [{"type": "ineq", "expr": "y"}]}, "constraints[0].expr"),
    ("out-of-range", {"constraints": [{"type": "ineq", "expr": "x[5]"}]}, "constraints[0].expr: x[5] is out of range"),
    ("a-vector", {"constraints": [{"type": "eq", "expr": "x"}]}, "constraints[0].expr: the formula 'x' is a vector"),
    ("unknown-bound", {"bounds": {"y": [0, 1]}}, "bounds.y: unknown parameter 'y'"),
    ("empty-box", {"bounds": {"x": [1, 0]}}, "bounds.x: low 1 > high 0"),
]


@pytest.mark.parametrize("change, message", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_bounds_or_constraints_are_one_line_exit_2_and_write_nothing(workdir, change, message):
    (workdir / "c.yaml").write_text(json.dumps({**DISC, **change}))
    result = runner.invoke(app, ["grad", "c.yaml"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: c.yaml: ") and message in lines[0], result.stderr
    assert not (workdir / "outputs").exists()


@pytest.mark.slow
def test_contour_png_draws_each_constraint_and_the_box_with_a_legend_entry(workdir, monkeypatch):
    from matplotlib.legend import Legend

    from optrun.plots import grad as grad_plots

    figures = []
    saved = grad_plots.save
    monkeypatch.setattr(grad_plots, "save", lambda fig, out: (figures.append(fig), saved(fig, out)))
    result = optrun.grad({**DISC, "output": {"plots": True}}, plot_range=(-2.0, 2.0))
    assert [p.name for p in result.plots] == ["contour.png"] and not result.warnings
    ax = figures[0].axes[0]
    legends = [child for child in ax.get_children() if isinstance(child, Legend)]
    texts = {text.get_text() for legend in legends for text in legend.get_texts()}
    assert {"1 - x[0]**2 - x[1]**2 >= 0", "x[0] + 2*x[1] - 1 == 0", "bounds"} <= texts
    assert ax.get_xlim() == (-2.0, 2.0) and ax.get_ylim() == (-2.0, 2.0)  # the box's sides do not move the view
