"""SciPy-backed methods go through the one runner loop."""

import json
import threading

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad, hessian
from helpers import run_plainly

import optrun
from optrun.core.optimizers import OPTIMIZERS

SCIPY = {
    "lbfgs": "L-BFGS-B",
    "bfgs": "BFGS",
    "cg": "CG",
    "newton-cg": "Newton-CG",
    "trust-ncg": "trust-ncg",
    "trust-exact": "trust-exact",
    "nelder-mead": "Nelder-Mead",
}
CONSTRAINED = {"tnc": "TNC", "slsqp": "SLSQP", "trust-constr": "trust-constr"}  # tests/test_scipy_constrained.py


run = run_plainly


def rosen(x):
    return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def direct_scipy(problem, name):
    """scipy.optimize.minimize run directly on the problem's objective and
    start (as optrun builds them) with autograd's f and gradient in one call
    (jac=True) and autograd's Hessian or Hessian-vector product, the entry's
    default options and no iteration limit; also the Hessian calls it made."""
    from autograd import hessian_vector_product, value_and_grad
    from scipy.optimize import minimize

    from optrun.config import load_config
    from optrun.engine.prepare import prepare

    prep = prepare(load_config({"problem": problem, "optimizer": name}))
    fun, x0, entry = prep.oracle.fun, prep.x0, OPTIMIZERS.get(name)
    options = {**entry.options().model_dump(), "maxiter": 2**31 - 1}
    calls = {"hessian": 0}

    def counted(derivative):
        def call(*args):
            calls["hessian"] += 1
            return derivative(*args)

        return call

    extra = {}
    if "gradient" in entry.needs:
        extra["jac"] = True
    else:
        options["maxfev"] = 2**31 - 1
    if "Hessian" in entry.needs:
        extra["hess"] = counted(hessian(fun))
    if "Hessian-vector products" in entry.needs:
        extra["hessp"] = counted(hessian_vector_product(fun))
    res = minimize(
        value_and_grad(fun) if "gradient" in entry.needs else fun, x0, method=SCIPY[name], options=options, **extra
    )
    return res, calls["hessian"]


def test_every_scipy_entry_is_in_the_table():
    """The tests below cover every SciPy-backed entry (the ones that evaluate their own iterates)."""
    assert sorted(n for n, e in OPTIMIZERS.items() if e.remember_last) == sorted({**SCIPY, **CONSTRAINED})


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["rosenbrock", "beale"])
@pytest.mark.parametrize("name", sorted(SCIPY))
def test_counts_are_scipys_own(workdir, problem, name):
    """nit, nfev and njev are what scipy.optimize.minimize reports when run
    directly; nhev the Hessians or Hessian-vector products it asked for
    (SciPy's trust-region methods report one more given hessp alone: a
    placeholder Hessian they call at the start, counted by SciPy but computing
    nothing); Nelder-Mead computes no gradient."""
    result = run(name, problem=problem)
    direct, hessian_calls = direct_scipy(problem, name)
    assert result.status == ("converged" if direct.success else "failed"), result.message
    assert (result.nit, result.nfev) == (direct.nit, direct.nfev)
    assert result.njev == direct.get("njev", 0)
    assert result.summary.nhev == hessian_calls
    np.testing.assert_array_equal(np.hstack(list(result.params.values())), direct.x)
    if name == "nelder-mead":
        assert result.njev == 0 and np.isnan(result.trace["grad_norm"]).all() and np.isnan(result.grad_norm)
        assert json.loads((result.run_dir / "summary.json").read_text())["grad_norm"] is None


def test_the_runner_computes_nothing_scipy_did_not_ask_for(workdir):
    """The runner's look at each iterate is SciPy's own evaluation: the
    objective runs as often as under scipy.optimize.minimize alone (Nelder-Mead
    used to run it once more per iteration, with a gradient; BFGS gets f and
    its gradient from one autograd pass, as with jac=True)."""
    from autograd import value_and_grad
    from scipy.optimize import minimize

    calls = {"n": 0}

    def rosenbrock(x):
        calls["n"] += 1
        return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    for name, jac in (("nelder-mead", False), ("bfgs", True)):
        options = {**OPTIMIZERS.get(name).options().model_dump(), "maxiter": 2**31 - 1}
        calls["n"] = 0
        minimize(
            value_and_grad(rosenbrock) if jac else rosenbrock,
            np.array([-1.2, 1.0]),
            jac=jac or None,
            method=SCIPY[name],
            options=options,
        )
        alone = calls["n"]
        calls["n"] = 0
        result = optrun.minimize(
            rosenbrock,
            np.array([-1.2, 1.0]),
            name,
            stop={"max_iter": 100000, "grad_tol": None},
            output={"plots": False},
        )
        assert result.status == "converged", result.message
        assert calls["n"] == alone == result.nfev


def test_grad_tol_is_a_no_op_for_nelder_mead(workdir):
    """A derivative-free method has no gradient norm to compare: grad_tol
    (1e-8 in every config by default) does not apply, and SciPy's own
    tolerances stop the run, as without it."""
    with_tol, without = run("nelder-mead", grad_tol=1.0), run("nelder-mead")
    assert with_tol.status == without.status == "converged"
    assert with_tol.message == without.message and with_tol.message.startswith("scipy Nelder-Mead:")
    assert (with_tol.nit, with_tol.nfev, with_tol.params) == (without.nit, without.nfev, without.params)


def test_nelder_mead_stopped_by_max_iter_is_scipy_with_maxiter(workdir):
    """SciPy's Nelder-Mead counts building its first simplex as iteration 1,
    so max_iter, like SciPy's maxiter, counts it too: max_iter = 20 takes 19
    steps and reports nit 20, with SciPy's counts and point for maxiter = 20."""
    from scipy.optimize import minimize

    result = run("nelder-mead", max_iter=20)
    assert result.status == "max_iter" and result.trace["iter"][-1] == 19
    options = {**OPTIMIZERS.get("nelder-mead").options().model_dump(), "maxiter": 20, "maxfev": 2**31 - 1}
    direct = minimize(rosen, np.array([-1.2, 1.0]), method="Nelder-Mead", options=options)
    assert (result.nit, result.nfev, result.njev) == (direct.nit, direct.nfev, 0) == (20, direct.nfev, 0)
    np.testing.assert_array_equal(result.params["x"], direct.x)


def test_all_scipy_methods_are_registered_with_their_needs():
    for name in SCIPY:
        assert name in OPTIMIZERS
    assert OPTIMIZERS.get("trust-exact").needs == ("gradient", "Hessian")
    assert OPTIMIZERS.get("newton-cg").needs == ("gradient", "Hessian-vector products")
    assert OPTIMIZERS.get("nelder-mead").needs == ("function values",)


@pytest.mark.parametrize("name", ["lbfgs", "bfgs", "newton-cg", "trust-exact"])
def test_same_result_as_a_direct_scipy_call(workdir, name):
    from scipy.optimize import minimize

    result = run(name)  # no runner tolerance: SciPy stops by its own criteria
    entry = OPTIMIZERS.get(name)
    options = {k: v for k, v in entry.options().model_dump().items()}
    extra = {"hessp": lambda x, p: hessian(rosen)(x) @ p} if name == "newton-cg" else {}
    if name == "trust-exact":
        extra = {"hess": hessian(rosen)}
    direct = minimize(
        rosen,
        np.array([-1.2, 1.0]),
        jac=grad(rosen),
        method=SCIPY[name],
        options={**options, "maxiter": 2**31 - 1},
        **extra,
    )
    assert result.status == ("converged" if direct.success else "failed")
    assert result.message == f"scipy {SCIPY[name]}: {direct.message}"
    np.testing.assert_allclose(result.params["x"], direct.x, rtol=1e-9, atol=1e-12)
    assert result.nit == direct.nit
    assert len(result.trace["iter"]) == direct.nit + 1
    if name in ("lbfgs", "bfgs"):
        assert result.nfev == direct.nfev  # the runner re-uses SciPy's evaluation of each iterate
    if name in ("newton-cg", "trust-exact"):
        assert result.summary.nhev > 0


def test_runner_stop_rules_apply_and_the_worker_stops(workdir):
    before = threading.active_count()
    result = run("bfgs", max_iter=5)
    assert result.status == "max_iter" and result.nit == 5
    assert threading.active_count() == before
    result = run("lbfgs", grad_tol=1e-3)
    assert result.status == "converged" and "grad_tol" in result.message
    assert result.trace["grad_norm"][-1] <= 1e-3 < result.trace["grad_norm"][-2]


def test_trace_rows_are_scipys_iterates(workdir):
    result = run({"name": "lbfgs"}, max_iter=10)
    assert np.isnan(result.trace["step_size"]).all()
    assert result.trace["iter"].tolist() == list(range(11))
    # f in each row is the objective at that row's parameters
    for k in range(11):
        x = np.array([result.trace["x[0]"][k], result.trace["x[1]"][k]])
        assert result.trace["f"][k] == pytest.approx(rosen(x), rel=1e-12, abs=1e-300)


def test_interrupt_reaches_a_scipy_run(workdir, monkeypatch):
    from optrun.core import oracle, runner

    flags = []
    original = runner.SignalFlag

    class EarlyFlag(original):
        def __init__(self):
            super().__init__()
            flags.append(self)

    monkeypatch.setattr("optrun.core.runner.SignalFlag", EarlyFlag)
    calls = {"n": 0}
    real = oracle.Oracle._compute  # every evaluation, SciPy's and the runner's, goes through it

    def counting(self, x, gradient):
        calls["n"] += 1
        if calls["n"] == 8:
            flags[0](15, None)  # SIGTERM arrives during an evaluation
        return real(self, x, gradient)

    monkeypatch.setattr(oracle.Oracle, "_compute", counting)
    before = threading.active_count()
    result = run("bfgs")
    assert result.status == "interrupted" and "SIGTERM" in result.message
    assert threading.active_count() == before


def test_objective_error_inside_scipy_is_failed(workdir, raising_past_two):
    before = threading.active_count()
    result = optrun.run({"problem": raising_past_two, "optimizer": "bfgs", "output": {"plots": False}})
    assert result.status == "failed"
    # raised in SciPy's thread, through the optimizer: still the objective's error
    assert result.message.startswith("the objective raised ValueError: x left the domain"), result.message
    assert threading.active_count() == before


@pytest.mark.parametrize(
    "name, options",
    [
        ("lbfgs", {"maxcor": 0}),
        ("bfgs", {"gtol": -1.0}),
        ("nelder-mead", {"adaptive": "yes"}),
        ("trust-ncg", {"radius": 1.0}),
    ],
)
def test_scipy_options_are_validated(workdir, name, options):
    with pytest.raises(optrun.ConfigError) as info:
        run({"name": name, **options})
    assert str(info.value).startswith(f"optimizer.{next(iter(options))}:")


def test_the_state_is_plain_data_and_close_releases_the_worker():
    """The worker thread belongs to the optimizer pair (its closure), not to
    the state: a state pickles and copies; close() stops the thread."""
    import copy
    import pickle

    from optrun.core.oracle import Oracle

    entry = OPTIMIZERS.get("bfgs")
    oracle = Oracle(rosen, remember_last=True)
    opt = entry.make(entry.options(), oracle)
    before = threading.active_count()
    x = np.array([-1.2, 1.0])
    state = opt.init(x)
    for _ in range(3):
        f, g = oracle.value_and_grad(x)
        step, state = opt.update(g, state, x)
        x = x + step
    assert threading.active_count() == before + 1  # SciPy's loop, waiting in its callback
    for value in state:
        assert isinstance(value, (int, float))
    for same in (pickle.loads(pickle.dumps(state)), copy.deepcopy(state)):
        assert type(same) is type(state) and same.iterates == state.iterates == 3 and np.isnan(same.step_size)
    opt.close()
    assert threading.active_count() == before
    opt.close()  # twice is harmless


def test_scipy_entries_declare_that_the_oracle_remembers_the_last_point():
    """SciPy evaluates each iterate before the runner asks for it: the entry
    says so, and the run's Oracle is built with remember_last (nothing flips
    it on the runner's Oracle)."""
    from optrun.config import load_config
    from optrun.engine.prepare import prepare

    for name, entry in OPTIMIZERS.items():
        assert entry.remember_last == (name in SCIPY or name in CONSTRAINED)
    assert prepare(load_config({"problem": "rosenbrock", "optimizer": "lbfgs"})).oracle.remember_last
    assert not prepare(load_config({"problem": "rosenbrock", "optimizer": "gd"})).oracle.remember_last
    from optrun.core.oracle import Oracle

    oracle = Oracle(rosen)
    entry = OPTIMIZERS.get("lbfgs")
    entry.make(entry.options(), oracle).init(np.zeros(2))
    assert not oracle.remember_last


# "precision loss" (SciPy's status 2): the status follows where the method stopped (stopping.stalled_reason).
# gtol = 0 and no grad_tol: nothing but the stall can end these runs, on any CPU.
def test_precision_loss_at_the_known_minimum_is_converged(workdir):
    result = run({"name": "bfgs", "gtol": 0.0}, problem="osborne1", max_iter=2000)
    assert result.status == "converged", result.message
    assert "converged to floating-point precision" in result.message
    assert abs(result.gap) <= 1e-8 * max(1.0, abs(result.reference.fun))  # the stall line, sqrt(eps) ~ 1.5e-8


@pytest.mark.slow
def test_precision_loss_short_of_the_known_minimum_is_failed(workdir):
    # CG in Meyer's badly scaled valley (gradient 8.7e10 at the start) stalls with f ~ 1e4 above f* = 87.9
    result = run({"name": "cg", "gtol": 0.0}, problem="meyer", max_iter=5000)
    assert result.status == "failed", result.message
    assert "stalled short of the known minimum" in result.message
    assert result.gap > 1.0
