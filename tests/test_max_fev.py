"""stop.max_fev, the evaluation budget (issue 29 point 4), on every loop:
the Python loop, the jax backend's compiled loop (one run and a batch) and
SciPy's methods (Nelder-Mead and L-BFGS-B get it as their own limit; the
others are stopped by the rule), with SciPy's own Nelder-Mead test case
reproduced bit for bit."""

import json
from pathlib import Path

import autograd.numpy as anp
import numpy as np
import pytest
from helpers import REPO, run_cli, run_dirs, run_plainly

import optrun
from optrun.core.errors import ConfigError
from optrun.core.optimizers import OPTIMIZERS
from optrun.core.status import Status
from optrun.core.stopping import TERMINATION

# SciPy's test_neldermead_adaptive (scipy/optimize/tests/test_optimize.py): sum x^2 in 15 dimensions from this start;
# SciPy's default Nelder-Mead (xatol = fatol = 1e-4, maxiter = maxfev = 200 * 15) is expected to fail there
P0 = [
    0.15746215, 0.48087031, 0.44519198, 0.4223638, 0.61505159, 0.32308456, 0.9692297, 0.4471682,
    0.77411992, 0.80441652, 0.35994957, 0.75487856, 0.99973421, 0.65063887, 0.09626474,
]  # fmt: skip
SCIPY_DEFAULT_CONFIG = REPO / "configs" / "nelder-mead-scipy-default.yaml"


def scipy_default_nelder_mead():
    """SciPy's own run of its test case, with SciPy's defaults (none passed)."""
    from scipy.optimize import minimize

    def func(x):
        return np.sum(x**2)

    return minimize(func, P0, method="Nelder-Mead")


def assert_same_run(result, direct):
    np.testing.assert_array_equal(result.params["x"], direct.x)
    assert (result.fun, result.nit, result.nfev, result.njev) == (direct.fun, direct.nit, direct.nfev, 0)


def test_scipys_default_nelder_mead_case_bit_for_bit_through_optrun_minimize(workdir):
    """SciPy's default run fails on its 200 * n evaluation limit; optrun with
    SciPy's defaults as its options and stop rules ends there too, status
    max_fev, with SciPy's x, f, nit and nfev to the bit."""
    direct = scipy_default_nelder_mead()
    assert not direct.success and direct.status == 1 and direct.nfev == 200 * len(P0)
    result = optrun.minimize(
        lambda x: anp.sum(x**2),
        np.array(P0),
        {"name": "nelder-mead", "xatol": 1e-4, "fatol": 1e-4},
        stop={"max_iter": 200 * len(P0), "max_fev": 200 * len(P0), "grad_tol": None},
        output={"plots": False},
    )
    assert result.status == "max_fev"
    assert_same_run(result, direct)


def test_scipys_default_nelder_mead_case_bit_for_bit_from_the_shipped_config(workdir):
    """The shipped config states the same case (the sum_of_squares problem, the start as init values)."""
    result = optrun.run(SCIPY_DEFAULT_CONFIG)
    assert result.status == "max_fev"
    assert_same_run(result, scipy_default_nelder_mead())


@pytest.mark.parametrize("max_fev", [1, 10, 16, 50, 333])
def test_nelder_mead_stops_where_scipy_stops_with_that_maxfev(workdir, max_fev):
    """Any budget, even one smaller than the first simplex's n + 1 evaluations
    (SciPy then returns before any iteration, and so does optrun), is SciPy's maxfev."""
    from scipy.optimize import minimize

    options = {"xatol": 1e-4, "fatol": 1e-4}
    direct = minimize(
        lambda x: np.sum(x**2), P0, method="Nelder-Mead", options={**options, "maxfev": max_fev, "maxiter": 10**6}
    )
    result = optrun.minimize(
        lambda x: anp.sum(x**2),
        np.array(P0),
        {"name": "nelder-mead", **options},
        stop={"max_iter": 10**6, "max_fev": max_fev, "grad_tol": None},
        output={"plots": False},
    )
    assert result.status == "max_fev" and direct.status == 1
    if direct.nit > 1:  # SciPy took iterations: its x is its last iterate, optrun's too
        assert_same_run(result, direct)
    else:  # no iteration: SciPy's x is the best vertex of a partial simplex; optrun stays at the start
        assert result.nfev == direct.nfev and result.nit == 1
        np.testing.assert_array_equal(result.params["x"], P0)


# ---------------------------------------------------------------- the Python loop
def test_gd_stops_at_max_fev_evaluations_in_the_python_loop(workdir):
    """gd evaluates f and g once per row, the start included: max_fev = 10
    stops at row 9 (nit 9, nfev 10) with x = 0.98^9 x0 (step 0.01 on sum x^2)."""
    result = optrun.run(
        {
            "problem": "sum_of_squares",
            "optimizer": {"name": "gd", "step_size": 0.01},
            "stop": {"max_fev": 10, "grad_tol": None},
            "output": {"plots": False},
        }
    )
    assert result.status == "max_fev" and (result.nit, result.nfev, result.njev) == (9, 10, 10)
    assert result.trace["nfev"].tolist() == list(range(1, 11))
    np.testing.assert_allclose(result.params["x"], 0.98**9 * np.array([-3.0, 4.0, -5.0, 6.0]), rtol=1e-14)


def test_a_line_search_stops_at_the_first_row_that_reached_the_budget(workdir):
    """A method that evaluates f inside its step may pass max_fev within its
    last iteration: the run ends at the first row whose count reached it."""
    budget = 25
    result = optrun.run(
        {
            "problem": "himmelblau",
            "optimizer": "backtracking",
            "stop": {"max_fev": budget, "grad_tol": None},
            "output": {"plots": False},
        }
    )
    nfev = result.trace["nfev"]
    assert result.status == "max_fev" and result.nfev == nfev[-1] >= budget > nfev[-2]
    assert result.message == f"used {result.nfev} function evaluations (max_fev = {budget}) without meeting a tolerance"


def test_max_fev_outranks_max_iter_at_the_same_row(workdir):
    """Both budgets reached at row 9: the run ends max_fev, as SciPy's Nelder-Mead ranks them."""
    result = optrun.run(
        {
            "problem": "sum_of_squares",
            "optimizer": {"name": "gd", "step_size": 0.01},
            "stop": {"max_fev": 10, "max_iter": 9, "grad_tol": None},
            "output": {"plots": False},
        }
    )
    assert result.status == "max_fev" and result.nit == 9


# ---------------------------------------------------------------- the compiled loop
@pytest.mark.slow
def test_the_compiled_loop_stops_at_max_fev_as_the_python_loop(workdir):
    """On the jax backend gd runs compiled (chunks of rows); max_fev = 40 ends
    it at row 39 with 40 evaluations, at the Python loop's point (jax's
    arithmetic in both: equal to rounding), however the chunks fall."""
    import jax.numpy as jnp

    from optrun.config import StopConfig
    from optrun.core.backend import get_backend
    from optrun.core.compiled import minimize_compiled
    from optrun.core.oracle import Oracle
    from optrun.core.runner import minimize

    def rosen(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    entry = OPTIMIZERS.get("gd")
    options = entry.options.model_validate({"step_size": 1e-3})
    stop = StopConfig(max_fev=40, grad_tol=None)
    x0 = np.array([-1.2, 1.0, 0.5])
    python = minimize(Oracle(rosen, backend=get_backend("jax")), x0, entry.make(options, None), stop)
    for chunk in (7, 2048):
        oracle = Oracle(rosen, backend=get_backend("jax"))
        compiled = minimize_compiled(oracle, x0, entry, options, stop, chunk=chunk)
        assert compiled.status == python.status == "max_fev"
        assert (compiled.nit, compiled.nfev, compiled.njev) == (python.nit, python.nfev, python.njev) == (39, 40, 40)
        assert (oracle.nfev, compiled.message) == (40, python.message)
        np.testing.assert_allclose(compiled.x, python.x, rtol=1e-12)


def test_each_member_of_a_compiled_batch_stops_at_max_fev(workdir):
    import jax.numpy as jnp

    from optrun.config import StopConfig
    from optrun.core.backend import get_backend
    from optrun.core.compiled import minimize_compiled_batch
    from optrun.core.oracle import Oracle

    entry = OPTIMIZERS.get("gd")
    options = [entry.options.model_validate({"step_size": s}) for s in (0.01, 0.1)]
    outcomes = minimize_compiled_batch(
        Oracle(lambda x: jnp.sum(x**2), backend=get_backend("jax")),
        np.array([[1.0, 2.0], [3.0, -1.0]]),
        entry,
        options,
        StopConfig(max_fev=12, grad_tol=None),
        chunk=5,
    )
    for outcome, x0, step in zip(outcomes, ([1.0, 2.0], [3.0, -1.0]), (0.01, 0.1)):
        assert outcome.status == "max_fev" and (outcome.nit, outcome.nfev) == (11, 12)
        np.testing.assert_allclose(outcome.x, (1 - 2 * step) ** 11 * np.array(x0), rtol=1e-13)


# ---------------------------------------------------------------- SciPy's methods
def direct_scipy(problem, name, **options):
    """scipy.optimize.minimize on the problem's objective and start as optrun
    builds them (f and g in one call), the entry's default options, SciPy's
    iteration limit lifted and ``options`` added, with the BLAS thread count
    optrun runs with (L-BFGS-B's BLAS calls round differently on another
    count with some OpenBLAS kernels, Prescott's)."""
    from autograd import value_and_grad
    from scipy.optimize import minimize

    from optrun.config import load_config
    from optrun.core import machine
    from optrun.engine.prepare import prepare

    prep = prepare(load_config({"problem": problem, "optimizer": name}))
    entry = OPTIMIZERS.get(name)
    method = entry.reference.split("'")[1]  # scipy.optimize.minimize(method='L-BFGS-B'); ...
    settings = {**entry.options().model_dump(), "maxiter": 2**31 - 1, **options}
    with machine.blas_limits(machine.blas_threads()):
        return minimize(value_and_grad(prep.oracle.fun), prep.x0, jac=True, method=method, options=settings)


run = run_plainly


@pytest.mark.parametrize("budget", [3, 10, 17, 25])
def test_lbfgs_gets_the_budget_as_its_own_maxfun(workdir, budget):
    """L-BFGS-B stops where SciPy with maxfun = max_fev stops (at the first
    iteration whose count exceeds it: SciPy's own test), with its x and counts."""
    direct = direct_scipy("rosenbrock", "lbfgs", maxfun=budget)
    assert direct.status == 1 and direct.nfev > budget
    result = run("lbfgs", max_fev=budget)
    assert result.status == "max_fev"
    np.testing.assert_array_equal(result.params["x"], direct.x)
    assert (result.fun, result.nit, result.nfev, result.njev) == (direct.fun, direct.nit, direct.nfev, direct.njev)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bfgs", "cg", "newton-cg", "trust-ncg", "trust-exact"])
def test_scipy_methods_without_an_evaluation_limit_stop_by_the_rule(workdir, name):
    """BFGS, CG, Newton-CG and the trust regions have no evaluation limit in
    SciPy: the runner's rule stops them at the first iterate whose count
    reached the budget, on the iterate the unlimited run reached there."""
    budget = 12
    result, unlimited = run(name, max_fev=budget), run(name)
    nfev = result.trace["nfev"]
    assert result.status == "max_fev" and result.nfev == nfev[-1] >= budget > nfev[-2]
    k = int(result.trace["iter"][-1])
    assert unlimited.trace["nfev"][k] == result.nfev
    assert unlimited.trace["x[0]"][k] == result.params["x"][0] and unlimited.trace["x[1]"][k] == result.params["x"][1]


def test_the_scipy_entries_say_how_they_take_the_budget():
    for name in ("lbfgs", "nelder-mead"):
        assert "SciPy's own max" in OPTIMIZERS.get(name).reference
    for name in ("bfgs", "cg", "newton-cg", "trust-ncg", "trust-exact"):
        assert "the runner's max_fev rule" in OPTIMIZERS.get(name).reference


# ---------------------------------------------------------------- the status and the CLI
def test_max_fev_is_a_success_with_its_own_message():
    assert Status.MAX_FEV.success and Status.MAX_FEV.finished and not Status.MAX_FEV.failure
    assert TERMINATION["max_fev"][0] is Status.MAX_FEV


@pytest.mark.parametrize("value", [0, -3, 1.5, "many", True])
def test_a_bad_max_fev_is_a_config_error(value):
    from optrun.config import load_config

    with pytest.raises(ConfigError, match=r"stop\.max_fev"):
        load_config({"problem": "rosenbrock", "optimizer": "gd", "stop": {"max_fev": value}})


def test_max_fev_null_is_no_limit():
    from optrun.config import load_config

    assert load_config({"problem": "rosenbrock", "optimizer": "gd", "stop": {"max_fev": None}}).stop.max_fev is None
    assert load_config({"problem": "rosenbrock", "optimizer": "gd"}).stop.max_fev is None


@pytest.mark.slow
def test_the_cli_records_max_fev_and_exits_as_for_max_iter(tmp_path):
    """`optrun run` shows and records status max_fev and exits 0, as for
    max_iter; `optrun check` passes the shipped config's expect: {status:
    max_fev}; a bad max_fev is one line, exit 2, nothing written."""
    config = tmp_path / "budget.yaml"
    config.write_text("problem: rosenbrock\noptimizer: {name: gd, step_size: 0.001}\nstop: {max_fev: 30}\n")
    done = run_cli("run", config, "--set", "output.plots=false", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "max_fev" in done.stdout
    (run_dir,) = run_dirs(tmp_path, "budget")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["nfev"], summary["nit"]) == ("max_fev", 30, 29)
    iterations = run_cli("run", config, "--set", "stop.max_fev=null", "--set", "stop.max_iter=29", cwd=tmp_path)
    assert iterations.returncode == done.returncode and "max_iter" in iterations.stdout

    checked = run_cli("check", SCIPY_DEFAULT_CONFIG, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    bad = run_cli("run", config, "--set", "stop.max_fev=0", cwd=tmp_path)
    assert bad.returncode == 2 and "stop.max_fev" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert len(run_dirs(tmp_path, "budget")) == 2  # the two runs above; nothing for the bad one


def test_check_compares_an_expected_max_fev_status(workdir):
    """expect: {status: max_fev} passes on a run that spent its budget and fails on one that did not."""
    from optrun.config import load_config
    from optrun.engine.expect import check_expect

    Path("gd.yaml").write_text(
        "problem: sum_of_squares\noptimizer: {name: gd, step_size: 0.01}\nstop: {max_fev: 5, grad_tol: null}\n"
        "output: {plots: false}\nexpect: {status: max_fev}\n"
    )
    expect = load_config("gd.yaml").expect
    spent, not_spent = optrun.run("gd.yaml"), optrun.run("gd.yaml", ["stop.max_fev=null", "stop.max_iter=4"])
    assert (spent.status, not_spent.status) == ("max_fev", "max_iter")
    assert [check.ok for check in check_expect(expect, spent.summary)] == [True]
    assert [check.ok for check in check_expect(expect, not_spent.summary)] == [False]
