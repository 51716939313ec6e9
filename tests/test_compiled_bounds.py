"""Bounds on the jax backend's compiled loop (issue 34): each step projected
onto the box inside the jitted chunk (optax's projection_box), grad_norm the
projected gradient's, the best point kept; the same rows as the Python loop
on jax (the tolerances of tests/test_compiled.py) and as the autograd
backend's Python loop; constraints refused, never ignored."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.optimize
from test_compiled import FIRST_ORDER, Rows, assert_same_run, rosenbrock, stop_rules, trid

from optrun.config import load_config
from optrun.core import compiled
from optrun.core.backend import get_backend
from optrun.core.compiled import minimize_compiled, minimize_compiled_batch
from optrun.core.errors import ConfigError
from optrun.core.feasible import Box, ConstraintSpec, Feasible, build_feasible
from optrun.core.optimizers import OPTIMIZERS
from optrun.core.oracle import Oracle
from optrun.core.runner import minimize
from optrun.engine import record
from optrun.engine.prepare import prepare

# trid 10 from 0: its minimum x*_i = i (11 - i) lies outside this box, whose sides the steps reach within
# the first few to 40 rows (by method); the open entries go on moving between them
LOWER = np.full(10, -np.inf)
UPPER = np.array([0.2, 0.3, np.inf, 2.0, np.inf, 0.3, np.inf, 0.3, np.inf, np.inf])


def boxed(fun, lower=LOWER, upper=UPPER):
    return Oracle(fun, backend=get_backend("jax"), feasible=Feasible(Box(lower, upper), ()))


def python_and_compiled(fun, x0, name, options, stop, lower=LOWER, upper=UPPER, chunk=32):
    """(outcome, rows) of the Python loop and of the compiled loop (with an observer), both on jax with the box;
    the compiled loop without observers too, whose x and best point must be the observed run's."""
    entry = OPTIMIZERS.get(name)
    opts = entry.options.model_validate(options)
    oracle = boxed(fun, lower, upper)
    rows = Rows()
    python = (minimize(oracle, x0, entry.make(opts, oracle), stop, [rows]), rows)
    rows = Rows()
    observed = (minimize_compiled(boxed(fun, lower, upper), x0, entry, opts, stop, [rows], chunk=chunk), rows)
    alone = minimize_compiled(boxed(fun, lower, upper), x0, entry, opts, stop, chunk=chunk)
    o = observed[0]
    assert (alone.status, alone.message, alone.nit, alone.best_iter) == (o.status, o.message, o.nit, o.best_iter)
    # rows without points are another compiled program: equal to rounding (as tests/test_compiled.py's both() allows)
    np.testing.assert_allclose(alone.x, o.x, rtol=1e-12, atol=0)
    np.testing.assert_allclose(alone.best_x, o.best_x, rtol=1e-12, atol=0)  # found by a replay of its chunk
    return python, observed


@pytest.mark.slow
@pytest.mark.parametrize("name", FIRST_ORDER)
def test_every_projected_method_takes_the_python_loops_projected_steps(name):
    """Rows 0..99 of trid 10 in the box: f to 1e-12, grad_norm (the projected
    gradient's) to 1e-9, every count and the outcome as test_compiled asks; every
    iterate in the box, some on its sides; the best feasible point is the best row's x."""
    python, observed = python_and_compiled(trid, np.zeros(10), name, {"step_size": 0.02}, stop_rules(max_iter=99))
    assert len(python[1].rows) == 100
    assert_same_run(python, observed)
    xs = np.stack([row[7] for row in observed[1].rows])
    assert np.all(xs >= LOWER) and np.all(xs <= UPPER)
    assert np.any(xs == UPPER)  # the projection acted (exactly on a side, as a clip puts it)
    o1, o2 = python[0], observed[0]
    np.testing.assert_allclose(o2.best_x, o1.best_x, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(o2.best_x, observed[1].rows[o2.best_iter][7])


@pytest.mark.slow
def test_gd_and_adam_in_the_box_equal_the_python_loop_with_chunks_and_a_schedule():
    """gd (chunks of 32 over 100 rows, grad_tol mid-way
    never reached) and adam with a schedule and clipping on Rosenbrock 4 in a box."""
    python, observed = python_and_compiled(trid, np.zeros(10), "gd", {"step_size": 0.05}, stop_rules(max_iter=99))
    assert_same_run(python, observed)
    lower, upper = np.array([-1.5, 0.3, -0.3, 0.2]), np.array([-0.4, 0.6, 0.6, 0.6])
    schedule = {"schedule": "cosine", "value": 0.05, "decay_steps": 60, "warmup_steps": 5}
    python, observed = python_and_compiled(
        rosenbrock,
        np.array([-1.2, 0.5, -0.2, 0.5]),
        "adam",
        {"step_size": schedule, "clip_grad_norm": 2.0},
        stop_rules(max_iter=99),
        lower,
        upper,
    )
    assert_same_run(python, observed)
    assert observed[0].x[1] == 0.6 and observed[0].x[3] == 0.2  # x[1] ends on its upper side, x[3] on its lower


def test_the_rows_grad_norm_is_the_projected_gradients_and_grad_tol_ends_at_the_bounded_minimum():
    """gd to grad_tol 1e-9 on trid 10 in the box: the compiled run stops where
    the projected gradient vanishes (the full gradient does not: bounds are
    active), at L-BFGS-B's minimizer of the same box (SciPy called directly);
    each row's grad_norm is |clip(x - g) - x| of its own x and g."""
    entry = OPTIMIZERS.get("gd")
    rows = Rows()
    stop = stop_rules(max_iter=5000, grad_tol=1e-9)
    ended = minimize_compiled(
        boxed(trid), np.zeros(10), entry, entry.options.model_validate({"step_size": 0.1}), stop, [rows]
    )
    assert ended.reason == "grad_tol"
    f_np = lambda x: float(np.sum((x - 1.0) ** 2) - np.sum(x[1:] * x[:-1]))  # noqa: E731
    g_np = lambda x: np.asarray(2 * (x - 1.0) - np.r_[x[1:], 0.0] - np.r_[0.0, x[:-1]])  # noqa: E731
    reference = scipy.optimize.minimize(
        f_np, np.zeros(10), jac=g_np, method="L-BFGS-B", bounds=list(zip(LOWER, UPPER)), options={"gtol": 1e-12}
    )
    np.testing.assert_allclose(ended.x, reference.x, atol=1e-8)
    assert np.linalg.norm(g_np(ended.x)) > 1.0  # the plain gradient is far from 0 at the bounded minimum
    for k in (0, 1, 7, len(rows.rows) - 1):
        x, g = rows.rows[k][7], rows.rows[k][8]
        np.testing.assert_allclose(g, g_np(x), rtol=1e-12, atol=1e-12)  # the row's g is the true gradient
        assert rows.rows[k][2] == pytest.approx(np.linalg.norm(np.clip(x - g, LOWER, UPPER) - x), rel=1e-12, abs=1e-15)


def test_a_box_with_open_sides_only_changes_nothing():
    """No finite side (Feasible keeps no box): the unbounded compiled run, bit for bit."""
    entry = OPTIMIZERS.get("gd")
    opts = entry.options.model_validate({"step_size": 0.05})
    open_box = Oracle(
        trid, backend=get_backend("jax"), feasible=Feasible(Box(np.full(10, -np.inf), np.full(10, np.inf)), ())
    )
    plain = minimize_compiled(
        Oracle(trid, backend=get_backend("jax")), np.zeros(10), entry, opts, stop_rules(max_iter=40)
    )
    boxed_run = minimize_compiled(open_box, np.zeros(10), entry, opts, stop_rules(max_iter=40))
    np.testing.assert_array_equal(boxed_run.x, plain.x)
    assert boxed_run.fun == plain.fun and boxed_run.grad_norm == plain.grad_norm


def test_constraints_and_a_box_for_a_method_without_projected_steps_are_refused_not_ignored():
    entry = OPTIMIZERS.get("gd")
    opts = entry.options.model_validate({})
    backend = get_backend("jax")
    ring = ConstraintSpec("ineq", lambda p: 1.0 - p["x"] @ p["x"], "1 - x @ x")
    feasible = build_feasible([], [ring], {"x": np.zeros(3)}, {}, lambda x: {"x": x}, backend)
    oracle = Oracle(lambda x: x @ x, backend=backend, feasible=feasible)
    with pytest.raises(ConfigError) as raised:
        minimize_compiled(oracle, np.full(3, 0.1), entry, opts, stop_rules(max_iter=5))
    assert raised.value.path == "optimizer.name" and "constraints" in raised.value.message
    assert "slsqp" in raised.value.message  # the methods that can
    with pytest.raises(ConfigError):
        minimize_compiled_batch(oracle, np.full((2, 3), 0.1), entry, opts, stop_rules(max_iter=5))
    unprojected = dataclasses.replace(entry, bounds="")  # a method with a compiled direction that declares no bounds
    with pytest.raises(ConfigError) as raised:
        minimize_compiled(boxed(trid), np.zeros(10), unprojected, opts, stop_rules(max_iter=5))
    assert "cannot take bounds" in raised.value.message


def config_file(tmp_path, backend, optimizer="adam", extra=""):
    path = tmp_path / f"{backend}.yaml"
    path.write_text(
        "problem: {name: rosenbrock, dim: 4}\n"
        f"optimizer: {{name: {optimizer}, step_size: 0.01}}\n"
        "bounds: {x: [-0.5, 0.6]}\n"
        f"stop: {{max_iter: 300, grad_tol: 1e-9}}\nbackend: {backend}\n{extra}"
        f"output: {{dir: {tmp_path / 'out'}, plots: false}}\n"
    )
    return path


@pytest.mark.slow
def test_a_bounded_run_on_jax_equals_the_autograd_runs_python_loop_through_the_pipeline(tmp_path, monkeypatch):
    """optrun's own dispatch (record.solve) on both backends: jax takes the
    compiled loop, autograd the Python loop; rows' f to 1e-12, the same
    status, best row and final point to 1e-12, the final x on the box's side
    (it was outside it before the projection: x* = 1). The summary's best
    feasible point is reported (it was null when the compiled loop ignored bounds)."""
    taken = []
    real = compiled.minimize_compiled
    monkeypatch.setattr(compiled, "minimize_compiled", lambda *a, **k: taken.append(1) or real(*a, **k))
    runs = {}
    for backend in ("autograd", "jax"):
        prep = prepare(load_config(config_file(tmp_path, backend)))
        rows = Rows()
        outcome, _ = record.solve(prep, 1, observers=[rows])
        runs[backend] = (outcome, rows, prep)
    assert taken == [1]  # the jax run only
    (o1, r1, prep), (o2, r2, _) = runs["autograd"], runs["jax"]
    assert len(r1.rows) == len(r2.rows) == 301
    np.testing.assert_allclose(r2.column(1), r1.column(1), rtol=1e-12, atol=0)
    # the projected gradient's norm near the end (1e-5) is a difference of nearby numbers: to 1e-12 of its start
    np.testing.assert_allclose(r2.column(2), r1.column(2), rtol=1e-9, atol=1e-12)
    assert (o2.status, o2.reason, o2.nit, o2.best_iter) == (o1.status, o1.reason, o1.nit, o1.best_iter)
    np.testing.assert_allclose(o2.x, o1.x, rtol=1e-12)
    np.testing.assert_allclose(o2.best_x, o1.best_x, rtol=1e-12)
    assert o2.x[0] == 0.6
    summary = record.build_summary(prep, o2, {})
    assert summary.constraints is not None and summary.constraints.best == {"violation": 0.0, "values": []}


@pytest.mark.slow
def test_the_best_feasible_point_of_an_earlier_chunk_is_found_without_observers():
    """momentum overshoots on trid 10 in the box: the best row (189) is in an
    earlier chunk of 16 rows than the last (200); without observers its x is
    found by replaying that chunk, and equals the Python loop's best feasible point."""
    python, observed = python_and_compiled(
        trid, np.zeros(10), "momentum", {"step_size": 0.1, "beta": 0.9}, stop_rules(max_iter=200), chunk=16
    )
    assert_same_run(python, observed)
    o1, o2 = python[0], observed[0]
    assert o2.best_iter // 16 < o2.nit // 16  # an earlier chunk
    np.testing.assert_allclose(o2.best_x, o1.best_x, rtol=1e-9, atol=1e-12)
    assert not np.array_equal(o2.best_x, o2.x)
