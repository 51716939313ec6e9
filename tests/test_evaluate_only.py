"""stop.max_iter 0: f (and the gradient) at the start, one trace row, status
``evaluated``, on the Python loop, the jax backend's compiled loop and the
SciPy methods alike; the shipped configs of seed 004's "predictions of the
true network / the zero network"."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import optrun
import optrun.core.compiled as compiled
from optrun.cli import app
from optrun.config import StopConfig
from optrun.core.status import Status
from optrun.core.stopping import first_stop, limits_of, row_stop

runner = CliRunner()
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TRUE = {"w": [4.2, -4.2], "b": 0.1}


def notebook_linear_set():
    """Seed 004's linear toy set, as the notebook draws it (N=300, D=2, RandomState(0))."""
    prng = np.random.RandomState(0)
    X = prng.uniform(low=-5, high=5, size=(300, 2))
    y = X @ np.array([4.2, -4.2]) + 0.1 + 0.1 * prng.randn(300)
    return X, y


def f_and_grad_norm(w, b):
    """The notebook's 0.5 / sigma^2 * sum (y - yhat)^2 and its gradient's norm, in NumPy."""
    X, y = notebook_linear_set()
    r = y - (X @ np.asarray(w) + b)
    grad = np.concatenate([-100.0 * X.T @ r, [-100.0 * r.sum()]])
    return 50.0 * float(r @ r), float(np.linalg.norm(grad))


def evaluate(optimizer, backend="autograd"):
    config = {
        "name": "ev",
        "problem": {"name": "linear_regression", "bias": True},
        "backend": backend,
        "init": {"kind": "values", "values": TRUE},
        "optimizer": optimizer,
        "stop": {"max_iter": 0},
    }
    return optrun.run(config)


@pytest.mark.parametrize(
    "optimizer, gradient",
    [({"name": "gd", "step_size": 1e-6}, True), ({"name": "lbfgs"}, True), ({"name": "nelder-mead"}, False)],
    ids=["gd-python-loop", "lbfgs-scipy", "nelder-mead-scipy"],
)
def test_max_iter_0_evaluates_the_start_and_takes_no_step(workdir, optimizer, gradient):
    result = evaluate(optimizer)
    f, grad_norm = f_and_grad_norm(TRUE["w"], TRUE["b"])
    trace = result.trace
    assert list(trace["iter"]) == [0]  # one row: the start
    assert result.status == "evaluated" and result.nit == 0 and result.nfev == 1
    assert result.njev == (1 if gradient else 0)  # the runner's own evaluation, counted as on every method
    assert (trace["nfev"][0], trace["njev"][0]) == (result.nfev, result.njev)
    assert result.summary.message == "f at the start; max_iter = 0 takes no step"
    assert trace["f"][0] == pytest.approx(f, rel=1e-13) and result.fun == pytest.approx(f, rel=1e-13)
    if gradient:  # the gradient where the method computes one
        assert trace["grad_norm"][0] == pytest.approx(grad_norm, rel=1e-12)
    else:
        assert math.isnan(trace["grad_norm"][0])
    assert result.params["w"] == TRUE["w"] and result.params["b"] == TRUE["b"]  # the given point, unmoved
    assert {"loss.png", "params.png", "fit.png"} <= {p.name for p in result.run_dir.iterdir()}


@pytest.mark.slow  # jax's import and first compile
def test_max_iter_0_on_the_compiled_loop_gives_the_python_loops_row(workdir, monkeypatch):
    calls = []
    real = compiled.minimize_compiled
    monkeypatch.setattr(compiled, "minimize_compiled", lambda *a, **k: calls.append(1) or real(*a, **k))
    on_jax = evaluate({"name": "gd", "step_size": 1e-6}, backend="jax")
    assert calls == [1]  # the run took the compiled loop
    python = evaluate({"name": "gd", "step_size": 1e-6})
    f, grad_norm = f_and_grad_norm(TRUE["w"], TRUE["b"])
    assert on_jax.status == python.status == "evaluated"
    assert on_jax.summary.message == python.summary.message
    assert (on_jax.nit, on_jax.nfev, on_jax.njev) == (python.nit, python.nfev, python.njev) == (0, 1, 1)
    assert list(on_jax.trace["iter"]) == [0]
    assert on_jax.trace["f"][0] == pytest.approx(f, rel=1e-13)
    assert on_jax.trace["grad_norm"][0] == pytest.approx(grad_norm, rel=1e-12)


def test_the_evaluated_rule_outranks_the_tolerances_but_not_divergence():
    at_zero = limits_of(StopConfig(max_iter=0, grad_tol=1e-8, f_tol=1e-3))
    # a start that is already stationary: no step was taken, so not "converged"
    assert row_stop(1.0, 0.0, 0.0, math.nan, 0, 1, at_zero) == "evaluated"
    assert row_stop(math.nan, 0.0, 0.0, math.nan, 0, 1, at_zero) == "nonfinite_f"
    # the compiled loop's form of the rules agrees
    one = np.array([1.0])
    assert first_stop(one, np.array([0.0]), np.array([0.0]), math.nan, 0, np.array([1]), at_zero).reason == "evaluated"
    # with max_iter 1 the rule never fires
    at_one = limits_of(StopConfig(max_iter=1, grad_tol=None))
    assert row_stop(1.0, 5.0, 0.0, math.nan, 0, 1, at_one) == ""
    assert row_stop(1.0, 5.0, 0.0, 2.0, 1, 2, at_one) == "max_iter"


def test_evaluated_is_a_finished_success():
    assert Status.EVALUATED.success and Status.EVALUATED.finished and not Status.EVALUATED.failure


def test_the_cli_run_exits_0_and_writes_the_row_summary_and_plots(workdir):
    result = runner.invoke(app, ["run", str(CONFIGS / "linreg-evaluate-zero.yaml"), "--quiet"])
    assert result.exit_code == 0, result.stderr
    (run_dir,) = (workdir / "outputs" / "linreg-evaluate-zero").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    f, _ = f_and_grad_norm([0.0, 0.0], 0.0)
    assert summary["status"] == "evaluated" and summary["nit"] == 0
    assert summary["fun"] == pytest.approx(f, rel=1e-13)
    assert f == pytest.approx(4649826.583041586, rel=1e-13)  # the notebook's print of f at zeros
    assert len((run_dir / "trace.csv").read_text().splitlines()) == 2  # header and row 0
    assert all((run_dir / name).stat().st_size > 0 for name in ("loss.png", "params.png", "fit.png"))


def test_the_shipped_evaluate_configs_pass_check(workdir):
    paths = [str(CONFIGS / "linreg-evaluate-true.yaml"), str(CONFIGS / "linreg-evaluate-zero.yaml")]
    result = runner.invoke(app, ["check", *paths])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "2 passed, 0 failed" in result.stdout
    # the true network's f, computed here, is the notebook's printed 1.632803e+02
    assert f_and_grad_norm(TRUE["w"], TRUE["b"])[0] == pytest.approx(163.2803, abs=5e-5)


def test_a_negative_max_iter_is_one_line_exit_2(workdir):
    (workdir / "c.yaml").write_text("problem: trid\noptimizer: {name: gd, step_size: 0.1}\nstop: {max_iter: -1}\n")
    result = runner.invoke(app, ["run", "c.yaml"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "c.yaml: stop.max_iter" in lines[0] and "-1" in lines[0], result.stderr
    assert not (workdir / "outputs").exists()


def test_step_size_0_stays_refused(workdir):
    (workdir / "c.yaml").write_text("problem: trid\noptimizer: {name: gd, step_size: 0}\nstop: {max_iter: 0}\n")
    result = runner.invoke(app, ["run", "c.yaml"])
    assert result.exit_code == 2 and "optimizer.step_size" in result.stderr
