"""Bounds and constraints from Python: optrun.minimize(fun, x0, bounds=...,
constraints=...) in SciPy's forms (optrun/api.py,
optrun/core/problems/python.py, optrun/core/problems/python_constraints.py).

The reference is scipy.optimize.minimize called directly, as optrun calls it
(tests/test_scipy_methods.py): f and its autograd gradient as two functions,
each constraint with its autograd gradient as ``jac``, the entry's default
options and SciPy's own limits lifted; closed forms where there are some."""

import json

import autograd.numpy as anp
import numpy as np
import pytest
import yaml
from autograd import grad
from scipy.optimize import Bounds, LinearConstraint, NonlinearConstraint
from scipy.optimize import minimize as scipy_minimize

import optrun
from optrun.core.errors import ConfigError
from optrun.core.optimizers import OPTIMIZERS

LIFTED = 2**31 - 1
SCIPY = {"lbfgs": "L-BFGS-B", "tnc": "TNC", "nelder-mead": "Nelder-Mead", "slsqp": "SLSQP"}
LIMITS = {
    "lbfgs": ("maxiter", "maxfun"),
    "tnc": ("maxfun",),
    "nelder-mead": ("maxiter", "maxfev"),
    "slsqp": ("maxiter",),
}
PLAIN = {"stop": {"max_iter": 100000, "grad_tol": None}, "output": {"plots": False}}  # the method decides its end
X0 = np.array([-1.2, 1.0])


def rosen(x):
    return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def disc(x):
    return 1.0 - x[0] ** 2 - x[1] ** 2


def direct(name, fun, x0, constraints=(), bounds=None):
    """scipy.optimize.minimize as optrun's SciPy worker calls it."""
    options = {**OPTIMIZERS.get(name).options().model_dump(), **dict.fromkeys(LIMITS[name], LIFTED)}
    jac = None if name == "nelder-mead" else grad(fun)
    with_jac = [{**c, "jac": grad(c["fun"])} for c in constraints]
    return scipy_minimize(
        fun, x0, jac=jac, method=SCIPY[name], bounds=bounds, constraints=with_jac or (), options=options
    )


def assert_same_as_scipy(result, reference):
    np.testing.assert_array_equal(result.params["x"], reference.x)
    assert (result.fun, result.nit, result.nfev) == (reference.fun, reference.nit, reference.nfev)


# ------------------------------------------------------------------- SciPy's own numbers
def test_slsqp_with_an_inequality_is_scipys_run(workdir):
    """Rosenbrock inside the unit disc: x, f, nit and nfev bit for bit; the report says the end is feasible."""
    result = optrun.minimize(rosen, X0, method="slsqp", constraints=[{"type": "ineq", "fun": disc}], **PLAIN)
    reference = direct("slsqp", rosen, X0, [{"type": "ineq", "fun": disc}])
    assert result.status == "converged" and reference.success
    assert_same_as_scipy(result, reference)
    report = result.summary.constraints
    assert report.tol == 1e-6 and report.start_violation == pytest.approx(1.2**2 + 1.0 - 1.0, rel=1e-15)
    [value] = report.end["values"]
    assert value == {"type": "ineq", "constraint": "disc", "value": disc(reference.x)}
    assert report.end["violation"] == max(0.0, -disc(reference.x)) <= report.tol
    written = json.loads((result.run_dir / "summary.json").read_text())["constraints"]
    assert written["end"]["values"][0]["constraint"] == "disc" and written["start"]["feasible"] is False
    config = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    [record] = config["problem"]["constraints"]
    assert record["type"] == "ineq" and record["label"] == "disc" and record["function"].endswith(".disc")
    assert len(record["source_sha256"]) == 64 and "constraints" not in config and "bounds" not in config


@pytest.mark.parametrize("name", ["lbfgs", "tnc", "nelder-mead", "slsqp"])
def test_bounds_are_scipys_bounds(workdir, name):
    """SciPy's pairs (None: open) run as SciPy runs them, and config.yaml records them."""
    pairs = [(None, 0.5), (None, None)]
    result = optrun.minimize(rosen, X0, name, bounds=pairs, **PLAIN)
    reference = direct(name, rosen, X0, bounds=pairs)
    assert_same_as_scipy(result, reference)
    assert result.params["x"][0] <= 0.5 and result.summary.constraints.end["violation"] == 0.0
    assert yaml.safe_load((result.run_dir / "config.yaml").read_text())["bounds"] == {"x": [[None, 0.5], [None, None]]}


def test_scipy_bounds_object_is_the_same_box(workdir):
    pairs = optrun.minimize(rosen, X0, "lbfgs", bounds=[(None, 0.5), (None, None)], **PLAIN)
    box = optrun.minimize(rosen, X0, "lbfgs", bounds=Bounds([-np.inf, -np.inf], [0.5, np.inf]), **PLAIN)
    np.testing.assert_array_equal(box.params["x"], pairs.params["x"])
    assert (box.nit, box.nfev) == (pairs.nit, pairs.nfev)
    assert yaml.safe_load((box.run_dir / "config.yaml").read_text())["bounds"] == {"x": [[None, 0.5], [None, None]]}


def test_an_equality_is_scipys_run_and_the_closed_form(workdir):
    """x^2 + 2 y^2 on x + y = 1: the minimum is (2/3, 1/3), f = 2/3 (Lagrange)."""

    def bowl(x):
        return x[0] ** 2 + 2.0 * x[1] ** 2

    def line(x):
        return x[0] + x[1] - 1.0

    x0 = np.array([2.0, 0.0])
    result = optrun.minimize(bowl, x0, method="SLSQP", constraints={"type": "eq", "fun": line}, **PLAIN)
    assert_same_as_scipy(result, direct("slsqp", bowl, x0, [{"type": "eq", "fun": line}]))
    np.testing.assert_allclose(result.params["x"], [2 / 3, 1 / 3], rtol=0, atol=1e-7)
    assert abs(result.summary.constraints.end["values"][0]["value"]) <= 1e-6
    alone = optrun.minimize(bowl, x0, "slsqp", constraints={"type": "eq", "fun": lambda x: x[0] + x[1] - 1.0}, **PLAIN)
    assert alone.summary.constraints.end["values"][0]["constraint"] == "constraint"  # a lone lambda


def test_args_go_to_the_constraint_as_in_scipy(workdir):
    def below(x, radius):
        return radius**2 - x[0] ** 2 - x[1] ** 2

    result = optrun.minimize(rosen, X0, "slsqp", constraints=[{"type": "ineq", "fun": below, "args": (1.0,)}], **PLAIN)
    same = optrun.minimize(rosen, X0, "slsqp", constraints=[{"type": "ineq", "fun": disc}], **PLAIN)
    np.testing.assert_array_equal(result.params["x"], same.params["x"])
    assert result.summary.constraints.end["values"][0]["constraint"] == "below"


# ------------------------------------------------------------- projected methods, closed forms
@pytest.mark.parametrize("name, step", [("gd", 0.04), ("adam", 0.1)])
def test_a_projected_method_stays_in_the_box_and_reaches_its_minimum(workdir, name, step):
    """(x - 2)^2 + 10 (y + 1)^2 on x <= 1, y >= 0: the box's minimum is its corner (1, 0), exactly the bounds."""

    def bowl(x):
        return (x[0] - 2.0) ** 2 + 10.0 * (x[1] + 1.0) ** 2

    result = optrun.minimize(
        bowl, np.array([-1.0, 2.0]), name, step_size=step, bounds=[(None, 1.0), (0.0, None)], output={"plots": False}
    )
    assert result.status == "converged", result.message
    assert result.params["x"] == [1.0, 0.0]
    assert (result.trace["x[0]"] <= 1.0).all() and (result.trace["x[1]"] >= 0.0).all()


def test_named_parameters_take_the_configs_bounds_form(workdir):
    """A dict start: bounds by name; a constraint of the dict. (a - 3)^2 + (b - 3)^2 with a <= 1 and
    a + b <= 3: the minimum is (1, 2) (b's part of the gradient pushes along a + b = 3 until a's bound)."""

    def bowl(p):
        return (p["a"] - 3.0) ** 2 + (p["b"] - 3.0) ** 2

    result = optrun.minimize(
        bowl,
        {"a": 0.0, "b": 0.0},
        "slsqp",
        bounds={"a": [None, 1.0]},
        constraints=[{"type": "ineq", "fun": lambda p: 3.0 - p["a"] - p["b"]}],
        **PLAIN,
    )
    assert result.params["a"] == pytest.approx(1.0, abs=1e-9) and result.params["b"] == pytest.approx(2.0, abs=1e-8)
    assert result.summary.constraints.end["values"][0]["constraint"] == "constraints[0]"  # a lambda: its place


# ------------------------------------------------------------------- SciPy's constraint objects
def test_nonlinear_constraint_splits_into_its_finite_sides(workdir):
    """lb <= fun <= ub entrywise: [x^2 + y^2 <= 1, x - y >= 0] is the disc and a half plane; the same run as the
    two dicts it stands for (1 - fun[0] >= 0, fun[1] >= 0), up to rounding."""

    def both(x):
        return anp.array([x[0] ** 2 + x[1] ** 2, x[0] - x[1]])

    result = optrun.minimize(
        rosen, X0, "slsqp", constraints=NonlinearConstraint(both, [-np.inf, 0.0], [1.0, np.inf]), **PLAIN
    )
    reference = direct(
        "slsqp", rosen, X0, [{"type": "ineq", "fun": disc}, {"type": "ineq", "fun": lambda x: x[0] - x[1]}]
    )
    np.testing.assert_allclose(result.params["x"], reference.x, rtol=1e-9)
    labels = [v["constraint"] for v in result.summary.constraints.end["values"]]
    assert labels == ["1 - both[0]", "both[1]"]


def test_linear_constraint_is_its_rows(workdir):
    """x^2 + 2 y^2 with 1 <= x + y <= 1 (an equality) and x - y <= 0.2: (0.6, 0.4), where the second binds."""

    def bowl(x):
        return x[0] ** 2 + 2.0 * x[1] ** 2

    constraint = LinearConstraint([[1.0, 1.0], [1.0, -1.0]], [1.0, -np.inf], [1.0, 0.2])
    result = optrun.minimize(bowl, np.array([2.0, 0.0]), "slsqp", constraints=constraint, **PLAIN)
    np.testing.assert_allclose(result.params["x"], [0.6, 0.4], rtol=0, atol=1e-8)
    report = result.summary.constraints.end["values"]
    assert [(v["type"], v["constraint"]) for v in report] == [
        ("eq", "constraints.A[0] @ x - 1"),
        ("ineq", "0.2 - constraints.A[1] @ x"),
    ]


def test_a_formula_goes_to_the_config_as_in_yaml(workdir):
    """{"type", "expr"}: the config's constraints:, recorded in config.yaml; the same run as the function."""
    formula = optrun.minimize(
        rosen, X0, "slsqp", constraints=[{"type": "ineq", "expr": "1 - x[0]**2 - x[1]**2"}], **PLAIN
    )
    function = optrun.minimize(rosen, X0, "slsqp", constraints=[{"type": "ineq", "fun": disc}], **PLAIN)
    np.testing.assert_allclose(formula.params["x"], function.params["x"], rtol=1e-12)
    config = yaml.safe_load((formula.run_dir / "config.yaml").read_text())
    assert config["constraints"] == [{"type": "ineq", "expr": "1 - x[0]**2 - x[1]**2"}]
    assert "constraints" not in config["problem"]


# ---------------------------------------------------------------------------------- the start
def test_a_start_outside_the_bounds_is_refused_unless_clipped(workdir):
    with pytest.raises(ConfigError) as caught:
        optrun.minimize(rosen, X0, "lbfgs", bounds=[(-1.0, 1.0), (None, None)], **PLAIN)
    message = str(caught.value)
    assert message.startswith("init: the start is outside the bounds: x[0] = -1.2") and "clip_to_bounds=True" in message
    assert not (workdir / "outputs").exists()
    result = optrun.minimize(rosen, X0, "lbfgs", bounds=[(-1.0, 1.0), (None, None)], clip_to_bounds=True, **PLAIN)
    assert result.trace["x[0]"][0] == -1.0 and result.trace["x[1]"][0] == 1.0
    assert yaml.safe_load((result.run_dir / "config.yaml").read_text())["init"] == {
        "kind": "default",
        "clip_to_bounds": True,
    }


# ---------------------------------------------------------------------------------- the jax backend
@pytest.mark.slow  # imports jax
def test_a_jax_constraint_on_the_jax_backend(workdir):
    """jax.numpy objective and constraint, backend="jax": autograd's run, up to XLA's rounding."""
    import jax.numpy as jnp

    def rosen_jax(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    def disc_jax(x):
        return 1.0 - jnp.sum(jnp.square(x))

    jaxed = optrun.minimize(
        rosen_jax, X0, "slsqp", backend="jax", constraints=[{"type": "ineq", "fun": disc_jax}], **PLAIN
    )
    auto = optrun.minimize(rosen, X0, "slsqp", constraints=[{"type": "ineq", "fun": disc}], **PLAIN)
    assert jaxed.status == "converged" and jaxed.nit == auto.nit
    np.testing.assert_allclose(jaxed.params["x"], auto.params["x"], rtol=1e-10)
    assert jaxed.summary.constraints.end["values"][0]["constraint"] == "disc_jax"


# ---------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, start",
    [
        (
            dict(optimizer="lbfgs", constraints=[{"type": "ineq", "fun": disc}]),
            "constraints: optimizer 'lbfgs' cannot take constraints; methods that can: slsqp, trust-constr",
        ),
        (dict(optimizer="bfgs", bounds=[(0, 1), (0, 1)]), "bounds: optimizer 'bfgs' cannot take bounds; methods that"),
        (
            dict(method="slsqp", constraints=[{"type": "ineq", "fun": lambda x: x}]),
            "constraints[0].fun: returns an array of shape (2,) at x0, not one number",
        ),
        (dict(method="lbfgs", bounds=[(0, 1)] * 3), "bounds: has 3 (low, high) pairs for the 2 entries of x0"),
        (
            dict(method="lbfgs", bounds=Bounds([0, 0, 0], 1)),
            "bounds.lb: has 3 numbers: give one number, or 2, one per entry of x0",
        ),
        (dict(method="lbfgs", bounds=[(0, "1"), (0, 1)]), "bounds[0][1]: must be a number or None"),
        (
            dict(method="slsqp", constraints=[{"type": "ineq", "fun": disc, "jac": grad(disc)}]),
            "constraints[0].jac: derivatives come from the backend",
        ),
        (dict(method="slsqp", constraints={"type": "ge", "fun": disc}), "constraints.type: must be 'ineq'"),
        (dict(method="slsqp", constraints=[{"fun": disc, "kind": 1}]), "constraints[0]: unknown key 'kind'"),
        (dict(method="slsqp", constraints=[{"type": "eq"}]), "constraints[0]: needs 'fun'"),
        (dict(method="slsqp", constraints=[disc]), "constraints[0]: must be a dict"),
        (
            dict(method="slsqp", constraints=[{"type": "eq", "fun": lambda x: 1 / 0}]),
            "constraints[0].fun: raised ZeroDivisionError at x0",
        ),
        (
            dict(method="slsqp", constraints=NonlinearConstraint(disc, 0, np.inf, jac=lambda x: grad(disc)(x))),
            "constraints.jac: derivatives come from the backend",
        ),
        (dict(optimizer="gd", method="slsqp"), "method: names the method 'slsqp', and so does optimizer='gd'"),
        (dict(method="slsqp", clip_to_bounds=1), "clip_to_bounds: must be True or False"),
    ],
    ids=[
        "constraints-on-lbfgs",
        "bounds-on-bfgs",
        "vector-constraint",
        "bounds-length",
        "bounds-object-length",
        "bounds-side",
        "jac",
        "type",
        "unknown-key",
        "no-fun",
        "bare-function",
        "raises",
        "nonlinear-jac",
        "method-twice",
        "clip-not-bool",
    ],
)
def test_bad_bounds_and_constraints_are_one_line_errors(workdir, kwargs, start):
    with pytest.raises(ConfigError) as caught:
        optrun.minimize(rosen, X0, **kwargs)
    message = str(caught.value)
    assert message.startswith(start) and "\n" not in message, message
    assert not (workdir / "outputs").exists()


def test_a_dict_start_takes_bounds_by_name_only(workdir):
    with pytest.raises(ConfigError, match=r"^bounds: with a dict x0 \(named parameters\), bounds are a mapping"):
        optrun.minimize(lambda p: p["a"] ** 2, {"a": 1.0}, "lbfgs", bounds=[(0, 1)])
    with pytest.raises(ConfigError, match=r"^bounds.b: unknown parameter 'b'"):
        optrun.minimize(lambda p: p["a"] ** 2, {"a": 1.0}, "lbfgs", bounds={"b": [0, 1]})
