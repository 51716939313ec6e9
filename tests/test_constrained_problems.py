"""The problems with known constrained minima (optrun/core/problems/constrained.py)
and their shipped configs: the published solutions, the KKT conditions at the
polished minimizers (gradients checked by finite differences), both backends,
and end-to-end runs (HS21's start outside the box, a run that ends infeasible)."""

from pathlib import Path

import numpy as np
import pytest
from tolerances import rounding
from typer.testing import CliRunner

import optrun
from optrun.cli import app
from optrun.config import load_config
from optrun.core.backend import get_backend
from optrun.core.problems import PROBLEMS, suite_members
from optrun.engine.expect import check_expect

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
NAMES = ["rosenbrock-box", "rosenbrock-disc", "hs21", "hs35", "hs71"]
# The largest intermediate value in f, the constraints and their gradients at the default start and at the
# minimizer, worked out by hand: the scale of their rounding errors (tests/tolerances.py rounding(n, scale)).
# Rosenbrock: 400 |x0| (|x1| + x0^2) <= 400 * 1.2 * 2.44 at (-1.2, 0.5); HS21: 100; HS35: 9 + 8 x0 + ... at
# (0.5, 0.5, 0.5), < 20; HS71: |x3 (2 x0 + x1 + x2)| = 12 and sum x^2 = 52 at (1, 5, 5, 1), x0 x1 x2 x3 = 25.
SCALE = {"rosenbrock-box": 1200.0, "rosenbrock-disc": 1200.0, "hs21": 100.0, "hs35": 20.0, "hs71": 60.0}


def build(name, backend="autograd"):
    entry = PROBLEMS.get(name)
    return entry.make(entry.options(), get_backend(backend))


def reference_x(problem):
    return np.asarray(problem.reference.params[0]["x"], dtype=float)


def box(problem, n):
    """The problem's bounds as two arrays (inf for an open side or no box)."""
    pairs = problem.bounds.get("x", [[None, None]] * n)
    lower = np.array([-np.inf if lo is None else lo for lo, _ in pairs], dtype=float)
    upper = np.array([np.inf if hi is None else hi for _, hi in pairs], dtype=float)
    return lower, upper


# ------------------------------------------------------- the published solutions
# (literature minimizer, literature f*, how far the polished values may be from them: half a unit in the last
# published digit, except where the paper's last digit is itself off, said with each)
PUBLISHED = {
    # exact: (1 - x0)^2 >= 0.25 on x0 <= 0.5
    "rosenbrock-box": ([0.5, 0.25], 0.25, 0.0, 0.0),
    # MathWorks' fmincon example: x to 6 decimals; its f = 0.045674824758137 is right to 0.0456748 (1.6e-8 off)
    "rosenbrock-disc": ([0.786415, 0.617698], 0.045674824758137, 5e-7, 5e-8),
    # Hock & Schittkowski (1981), problem 21: exact
    "hs21": ([2.0, 0.0], -99.96, 0.0, 1e-13),
    # problem 35: exact
    "hs35": ([4 / 3, 7 / 9, 4 / 9], 1 / 9, 1e-15, 1e-15),
    # problem 71: f* to all 9 published digits; x[1] and x[2] are off by 2 and 3 units of the 7th decimal
    # (4.7429994 for 4.74299964, 3.8211503 for 3.82114998), hence 4e-7 rather than 5e-8
    "hs71": ([1.0, 4.7429994, 3.8211503, 1.3794082], 17.0140173, 4e-7, 5e-8),
}


@pytest.mark.parametrize("name", NAMES)
def test_polished_minimum_matches_the_literature(name):
    x_pub, f_pub, x_tol, f_tol = PUBLISHED[name]
    problem = build(name)
    x = reference_x(problem)
    assert np.abs(x - x_pub).max() <= x_tol
    assert abs(problem.reference.fun - f_pub) <= f_tol
    # f* was computed in 40 digits at the minimizer and both rounded to floats: f at the float point is f* to ~20
    # roundings of the intermediates (the first-order change from rounding x is of the same size)
    assert float(problem.objective({"x": x})) == pytest.approx(
        problem.reference.fun, rel=0, abs=rounding(20, SCALE[name])
    )


@pytest.mark.parametrize("name", NAMES)
def test_objective_and_constraints_at_the_published_solution(name):
    """At the paper's own (rounded) point: f is its f* and the constraints hold, to what the rounding allows."""
    x_pub, f_pub, _, f_tol = PUBLISHED[name]
    problem = build(name)
    x, x_star = np.array(x_pub), reference_x(problem)
    backend = get_backend("autograd")

    def moved(fun):
        """How far ``fun`` may move between the minimizer and the paper's point: its gradient's 1-norm times the
        distance (first order; doubled for the second-order term), plus the rounding of its evaluation."""
        _, g = backend.value_and_grad(lambda v: fun({"x": v}))(x_star)
        return 2 * np.abs(np.asarray(g)).sum() * np.abs(x - x_star).max() + rounding(20, SCALE[name])

    assert float(problem.objective({"x": x})) == pytest.approx(f_pub, rel=0, abs=moved(problem.objective) + f_tol)
    for spec in problem.constraints:
        value, bound = float(spec.fun({"x": x})), moved(spec.fun)
        assert value >= -bound if spec.type == "ineq" else abs(value) <= bound
    lower, upper = box(problem, x.size)
    assert np.all(lower <= x) and np.all(x <= upper)


def test_hs_constraint_values_at_the_solutions():
    """The constraints' values the papers imply: HS21's inequality is 10 (inactive), the others active (0)."""
    hs21, hs35, hs71 = build("hs21"), build("hs35"), build("hs71")
    assert float(hs21.constraints[0].fun({"x": np.array([2.0, 0.0])})) == 10.0
    # 3 - 4/3 - 7/9 - 8/9: four roundings of values up to 3
    assert float(hs35.constraints[0].fun({"x": np.array([4 / 3, 7 / 9, 4 / 9])})) == pytest.approx(
        0, abs=rounding(4, 3.0)
    )
    x71 = reference_x(hs71)
    assert [spec.type for spec in hs71.constraints] == ["ineq", "eq"]
    # 0 in 40 digits; the minimizer rounded to floats moves each by its gradient (<= 25 per entry) times an ulp of
    # x (<= 4.7), and evaluating them rounds values up to 40
    assert [float(spec.fun({"x": x71})) for spec in hs71.constraints] == pytest.approx(
        [0, 0], abs=rounding(4, 4 * 25 * 4.7) + rounding(10, 40.0)
    )
    assert hs71.constraints[0].label == "x[0]*x[1]*x[2]*x[3] - 25"


# ---------------------------------------------------------------- KKT conditions
def fd_grad(f, x, h=1e-6):
    """Central differences, entry by entry, step h max(1, |x_i|): independent of any autodiff. Error: truncation
    h^2 |third derivative| / 6 (<= 2400 h^2 / 6 = 4e-10 for Rosenbrock, less for the others) plus rounding
    eps |f| / h (<= 17 * 2.2e-16 / 1e-6 = 4e-9 for HS71): the comparisons below allow 1e-8 + 1e-7 |g|."""
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h * max(1.0, abs(x[i]))
        g[i] = (f(x + e) - f(x - e)) / (2 * e[i])
    return g


# the multipliers of the active constraints at the polished minimizer (sign: grad f = sum lambda_i grad c_i)
MULTIPLIERS = {
    "rosenbrock-box": {"upper x[0]": 1.0},
    "rosenbrock-disc": {"1 - x[0]**2 - x[1]**2": 0.12149655699928840},
    "hs21": {"lower x[0]": 0.04},
    "hs35": {"3 - x[0] - x[1] - 2*x[2]": 2 / 9},
    "hs71": {"lower x[0]": 1.087871229, "x[0]*x[1]*x[2]*x[3] - 25": 0.5522936601, "eq": -0.1614685668},
}


@pytest.mark.parametrize("name", NAMES)
def test_reference_minimizer_satisfies_kkt(name):
    problem = build(name)
    backend = get_backend("autograd")
    x = reference_x(problem)
    f = lambda v: float(problem.objective({"x": v}))  # noqa: E731
    _, g = backend.value_and_grad(lambda v: problem.objective({"x": v}))(x)
    g = np.asarray(g, dtype=float)
    assert g == pytest.approx(fd_grad(f, x), rel=1e-7, abs=1e-8)  # the backend's gradient, by finite differences

    # the active set: bounds at a side, inequalities at 0, every equality
    lower, upper = box(problem, x.size)
    active, columns, signed = [], [], []
    for i in range(x.size):
        for side, at, sign in (("lower", lower[i], 1.0), ("upper", upper[i], -1.0)):
            if np.isfinite(at) and abs(x[i] - at) <= 1e-12:
                active.append(f"{side} x[{i}]")
                columns.append(sign * np.eye(x.size)[i])
                signed.append(True)
    for spec in problem.constraints:
        c = lambda v, spec=spec: float(spec.fun({"x": v}))  # noqa: E731
        value = c(x)
        assert value >= -1e-12 if spec.type == "ineq" else abs(value) <= 1e-12  # feasible
        if spec.type == "eq" or abs(value) <= 1e-10:
            _, gc = backend.value_and_grad(lambda v, spec=spec: spec.fun({"x": v}))(x)
            gc = np.asarray(gc, dtype=float)
            assert gc == pytest.approx(fd_grad(c, x), rel=1e-7, abs=1e-8)
            active.append("eq" if spec.type == "eq" else spec.label)
            columns.append(gc)
            signed.append(spec.type == "ineq")
    assert np.all(lower <= x) and np.all(x <= upper)

    # grad f = sum lambda_i grad c_i, lambda_i >= 0 for the inequalities and sides
    A = np.array(columns).T
    lam, *_ = np.linalg.lstsq(A, g, rcond=None)
    # the gradients at the float minimizer: off the 40-digit KKT point by the Hessian times an ulp of x, and
    # rounded, rounding(20, scale); 1e-9 is 10x that for the largest scale (1200)
    assert np.linalg.norm(A @ lam - g) <= 1e-9 * max(1.0, np.linalg.norm(g))
    assert all(value > 0 for value, ineq in zip(lam, signed) if ineq)
    # MULTIPLIERS are quoted to 10 significant digits
    assert dict(zip(active, lam)) == pytest.approx(MULTIPLIERS[name], rel=1e-8)


# ---------------------------------------------------------------- both backends
@pytest.mark.slow  # jax: its import and compiles take 1-2 s (as in tests/test_backend.py)
@pytest.mark.parametrize("name", NAMES)
def test_autograd_and_jax_agree(name):
    seen = {}
    for backend_name in ("autograd", "jax"):
        backend = get_backend(backend_name)
        problem = build(name, backend_name)
        values = []
        for fun in (problem.objective, *(spec.fun for spec in problem.constraints)):
            value_and_grad = backend.value_and_grad(lambda v, fun=fun: fun({"x": v}))  # compiled once on jax
            for x in (np.asarray(problem.initial(0)["x"], dtype=float), reference_x(problem)):
                value, grad = value_and_grad(x)
                values.append((float(value), np.asarray(grad, dtype=float)))
        seen[backend_name] = (values, problem.bounds, [(s.type, s.label) for s in problem.constraints])
    (a_values, a_bounds, a_specs), (j_values, j_bounds, j_specs) = seen["autograd"], seen["jax"]
    assert a_bounds == j_bounds and a_specs == j_specs
    # the same formula in two libraries' own order (XLA fuses a*b + c into one FMA, NumPy rounds twice): ~20
    # roundings of intermediates up to SCALE
    bound = rounding(20, SCALE[name])
    for (fa, ga), (fj, gj) in zip(a_values, j_values):
        assert fj == pytest.approx(fa, rel=0, abs=bound)
        assert gj == pytest.approx(ga, rel=0, abs=bound)


def test_constrained_suite_lists_the_five():
    assert [name for name, _ in suite_members("constrained")] == NAMES
    for name in NAMES:
        assert PROBLEMS.get(name).backends == ("autograd", "jax")


# ------------------------------------------------------------ the shipped configs
FAST = [
    "rosenbrock-box-gd",
    "rosenbrock-box-lbfgs",
    "rosenbrock-disc-slsqp",
    "hs21-slsqp",
    "hs35-slsqp",
    "hs71-slsqp",
    "rosenbrock-config-constraints",
]


def run_config(stem, tmp_path, *overrides):
    return optrun.run(CONFIGS / f"{stem}.yaml", ["output.plots=false", f"output.dir={tmp_path}", *overrides])


def reaches_its_expectation(stem, tmp_path):
    """The run meets the config's expect block and ends feasible; returns the result."""
    result = run_config(stem, tmp_path)
    failures = [c for c in check_expect(load_config(CONFIGS / f"{stem}.yaml").expect, result.summary) if not c.ok]
    assert not failures, failures
    feasibility = result.summary.constraints
    assert feasibility is not None and feasibility.end["violation"] <= feasibility.tol
    return result


@pytest.mark.parametrize("stem", FAST)
def test_shipped_config_reaches_the_known_minimum(stem, tmp_path):
    result = reaches_its_expectation(stem, tmp_path)
    assert result.status == "converged"
    # the known minimum each is about (rosenbrock-config-constraints: the disc's, added in the config)
    # within the config's own expect tolerances, derived in each config's header
    problem = build("rosenbrock-disc" if stem == "rosenbrock-config-constraints" else result.summary.problem)
    expect = load_config(CONFIGS / f"{stem}.yaml").expect
    assert result.fun == pytest.approx(problem.reference.fun, rel=0, abs=expect.tolerance("fun")[0])
    assert np.asarray(result.params["x"]) == pytest.approx(
        reference_x(problem), rel=0, abs=expect.tolerance("params.x")[0]
    )


@pytest.mark.slow
def test_hs71_trust_constr_config(tmp_path):
    result = reaches_its_expectation("hs71-trust-constr", tmp_path)
    # the config's tolerance, set for SciPy 1.12-1.14's trust-constr, which stalls ~1e-3 away (its header)
    assert result.fun == pytest.approx(build("hs71").reference.fun, rel=0, abs=1e-2)


@pytest.mark.parametrize(("stem", "ftol"), [("hs71-slsqp", 1e-10), ("rosenbrock-disc-slsqp", 1e-10)])
def test_slsqp_configs_match_scipy_called_directly(stem, ftol, tmp_path):
    """The problem's bounds and constraints reach SciPy as they should: the same SLSQP run, called directly with
    hand-written derivatives, ends at the same point."""
    from scipy.optimize import Bounds, minimize

    problem = build(load_config(CONFIGS / f"{stem}.yaml").problem.name)
    lower, upper = box(problem, reference_x(problem).size)
    if stem == "hs71-slsqp":
        f = lambda x: x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]  # noqa: E731
        jac = lambda x: np.array([x[3] * (2 * x[0] + x[1] + x[2]), x[0] * x[3], x[0] * x[3] + 1, x[0] * sum(x[:3])])  # noqa: E731
        cons = [
            {"type": "ineq", "fun": lambda x: np.prod(x) - 25, "jac": lambda x: np.prod(x) / x},
            {"type": "eq", "fun": lambda x: x @ x - 40, "jac": lambda x: 2 * x},
        ]
    else:
        f = lambda x: 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2  # noqa: E731
        jac = lambda x: np.array([-400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0]), 200 * (x[1] - x[0] ** 2)])  # noqa: E731
        cons = [{"type": "ineq", "fun": lambda x: 1 - x @ x, "jac": lambda x: -2 * x}]
    x0 = np.asarray(problem.initial(0)["x"], dtype=float)
    bounds = Bounds(lower, upper) if np.isfinite(lower).any() or np.isfinite(upper).any() else None
    direct = minimize(
        f, x0, jac=jac, method="SLSQP", bounds=bounds, constraints=cons, options={"ftol": ftol, "maxiter": 100}
    )
    result = run_config(stem, tmp_path)
    assert direct.success and result.status == "converged"
    # the hand-written derivatives and the backend's differ in the last bits, and SLSQP's last step (ftol 1e-10)
    # carries that: both runs end within the config's tolerance of the minimizer (derived in its header), so within
    # twice that of each other
    expect = load_config(CONFIGS / f"{stem}.yaml").expect
    assert np.asarray(result.params["x"]) == pytest.approx(direct.x, rel=0, abs=2 * expect.tolerance("params.x")[0])
    assert result.fun == pytest.approx(direct.fun, rel=0, abs=2 * expect.tolerance("fun")[0])


# ---------------------------------------------------------------- HS21's start
runner = CliRunner()


def test_hs21_start_outside_the_box_is_refused_without_clip(workdir):
    result = runner.invoke(app, ["run", str(CONFIGS / "hs21-slsqp.yaml"), "--set", "init={kind: default}"])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    assert "hs21-slsqp.yaml" in lines[0] and "init" in lines[0] and "clip_to_bounds" in lines[0]
    assert not (workdir / "outputs").exists()


def test_hs21_clip_to_bounds_starts_at_the_nearest_point_inside(tmp_path):
    result = run_config("hs21-slsqp", tmp_path)
    assert result.summary.constraints.start_violation == 0.0  # the clipped start, (2, -1), is inside
    assert [result.trace["x[0]"][0], result.trace["x[1]"][0]] == [2.0, -1.0]
    problem = build("hs21")
    assert np.asarray(problem.initial(0)["x"]).tolist() == [-1.0, -1.0]  # the paper's start, kept


# --------------------------------------------------------- a run that ends infeasible
def test_infeasible_config_ends_infeasible_and_check_expects_it(workdir, tmp_path):
    path = CONFIGS / "hs71-infeasible.yaml"
    result = runner.invoke(app, ["run", str(path), "--quiet", "--no-plots"])
    assert result.exit_code == 1, (result.stdout, result.stderr)  # infeasible is a failure for `run`
    summary = optrun.run(path, ["output.plots=false", f"output.dir={tmp_path}"]).summary
    assert summary.status == "infeasible"
    assert summary.constraints.end["violation"] > summary.constraints.tol
    assert summary.constraints.start_violation == 12.0  # sum x^2 = 52 at (1, 5, 5, 1), not 40: exact in binary
    assert summary.constraints.best is None  # no feasible point in 2 iterations
    checked = runner.invoke(app, ["check", str(path), "--workers", "1", "--quiet"])
    assert checked.exit_code == 0, (checked.stdout, checked.stderr)
