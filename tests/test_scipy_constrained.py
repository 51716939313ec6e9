"""SciPy's methods with bounds and constraints give what scipy.optimize.minimize gives when called directly.

The direct call is written here from the config alone: autograd's f, gradient
and Hessian-vector product of the problem's formula, the constraints' values
and gradients by autograd, ``scipy.optimize.Bounds`` from the config's pairs,
the entry's default options with SciPy's iteration limits lifted. x, fun,
nit and nfev must be bit-identical (SciPy's own counts: optrun's oracle counts
what SciPy asks for).
"""

import numpy as np
import pytest
from autograd import grad, hessian_vector_product

import optrun
from optrun.core.optimizers import OPTIMIZERS

LIFTED = 2**31 - 1
SCIPY = {
    "lbfgs": "L-BFGS-B",
    "nelder-mead": "Nelder-Mead",
    "tnc": "TNC",
    "slsqp": "SLSQP",
    "trust-constr": "trust-constr",
}
OWN_FEV_LIMIT = {"lbfgs": "maxfun", "nelder-mead": "maxfev", "tnc": "maxfun"}
NO_ITER_LIMIT = {"tnc"}

BOX = [[None, 0.5], [-0.5, None]]  # x[0] <= 0.5, x[1] >= -0.5: the minimum (0.5, 0.25) lies on the first bound
DISC = "1 - x[0]**2 - x[1]**2"


def rosen(x):
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


def disc(x):
    return 1 - x[0] ** 2 - x[1] ** 2


def line(x):  # an equality: x[0] + 2 x[1] == 1
    return x[0] + 2 * x[1] - 1


def run(name, bounds=None, constraints=(), start=(-1.2, 1.0)):
    config = {
        "problem": {
            "name": "expression",
            "expr": "(1 - x[0])**2 + 100*(x[1] - x[0]**2)**2",
            "params": {"x": list(start)},
        },
        "optimizer": name,
        "stop": {"max_iter": 100000, "grad_tol": None},
        "output": {"plots": False},
    }
    if bounds is not None:
        config["bounds"] = {"x": bounds}
    if constraints:
        config["constraints"] = [{"type": kind, "expr": expr} for kind, expr, _ in constraints]
    return optrun.run(config)


def direct(name, bounds=None, constraints=(), start=(-1.2, 1.0)):
    from scipy.optimize import Bounds, minimize

    options = OPTIMIZERS.get(name).options().model_dump()
    if name not in NO_ITER_LIMIT:
        options["maxiter"] = LIFTED
    if name in OWN_FEV_LIMIT:
        options[OWN_FEV_LIMIT[name]] = LIFTED
    extra = {}
    if name != "nelder-mead":
        extra["jac"] = grad(rosen)
    if name == "trust-constr":
        extra["hessp"] = hessian_vector_product(rosen)
    if bounds is not None:
        low = [-np.inf if lo is None else lo for lo, _ in bounds]
        high = [np.inf if hi is None else hi for _, hi in bounds]
        extra["bounds"] = Bounds(np.array(low, dtype=float), np.array(high, dtype=float))
    if constraints:
        extra["constraints"] = [{"type": kind, "fun": fun, "jac": grad(fun)} for kind, _, fun in constraints]
    return minimize(rosen, np.array(start, dtype=float), method=SCIPY[name], options=options, **extra)


def assert_same(result, direct_result, name):
    np.testing.assert_array_equal(result.params["x"], direct_result.x)
    assert result.fun == direct_result.fun
    assert (result.nit, result.nfev) == (direct_result.nit, direct_result.nfev)
    assert result.message == f"scipy {SCIPY[name]}: {direct_result.message}"  # SciPy ended the run


@pytest.mark.parametrize("name", ["lbfgs", "nelder-mead", "tnc", "slsqp", "trust-constr"])
def test_bounds_reach_scipy_as_a_direct_call_would_pass_them(workdir, name):
    result = run(name, bounds=BOX)
    expected = direct(name, bounds=BOX)
    assert_same(result, expected, name)
    assert result.status == ("converged" if expected.success else "failed")
    assert result.params["x"][0] <= 0.5  # inside the box, at the bound


@pytest.mark.parametrize("name", ["slsqp", "trust-constr"])
def test_constraints_reach_scipy_as_a_direct_call_would_pass_them(workdir, name):
    constraints = [("ineq", DISC, disc)]
    result = run(name, constraints=constraints)
    expected = direct(name, constraints=constraints)
    assert_same(result, expected, name)
    np.testing.assert_allclose(result.fun, 0.045674824758137, rtol=1e-6)  # Rosenbrock in the unit disc


@pytest.mark.parametrize("name", ["slsqp", "trust-constr"])
def test_bounds_and_an_equality_together(workdir, name):
    constraints = [("eq", "x[0] + 2*x[1] - 1", line), ("ineq", DISC, disc)]
    result = run(name, bounds=BOX, constraints=constraints, start=(0.0, 0.0))
    expected = direct(name, bounds=BOX, constraints=constraints, start=(0.0, 0.0))
    assert_same(result, expected, name)
    x = np.asarray(result.params["x"])
    assert abs(line(x)) <= 1e-6 and disc(x) >= -1e-6


def test_no_bounds_no_change_for_lbfgs(workdir):
    """A run without bounds passes none: L-BFGS-B is called exactly as before."""
    assert_same(run("lbfgs"), direct("lbfgs"), "lbfgs")


def test_every_constrained_method_is_registered_with_its_capabilities():
    assert {n: OPTIMIZERS.get(n).bounds for n in SCIPY} == dict.fromkeys(SCIPY, "scipy")
    assert [n for n, e in OPTIMIZERS.items() if e.constraints] == ["slsqp", "trust-constr"]
    assert OPTIMIZERS.get("trust-constr").needs == ("gradient", "Hessian-vector products")
