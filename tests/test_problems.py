"""Problems: gradients against finite differences, references against
independent computations."""

import numpy as np
import pytest
from autograd import grad
from autograd.misc.flatten import flatten

from optrun.config import load_config
from optrun.core.errors import ConfigError
from optrun.core.problems import PROBLEMS
from optrun.core.problems.functions import polynomial_minimum

CASES = [
    ("polynomial", {}),
    ("polynomial", {"coeffs": [1.0, 0.0, -3.0, 1.0, 2.0]}),
    ("trid", {"dim": 2}),
    ("trid", {"dim": 10}),
    ("goldfield", {}),
]


def build(name, options):
    entry = PROBLEMS.get(name)
    return entry.build(entry.options(**options))


@pytest.mark.parametrize("name, options", CASES)
def test_gradient_matches_central_differences(name, options):
    problem = build(name, options)
    x0, unflatten = flatten(problem.initial(0))
    f = lambda v: problem.objective(unflatten(v))  # noqa: E731
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = rng.normal(0, 1.5, size=x0.shape)
        h = 1e-6
        fd = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size)])
        np.testing.assert_allclose(grad(f)(x), fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, options", CASES)
def test_reference_is_a_stationary_point_with_the_stated_value(name, options):
    problem = build(name, options)
    assert problem.reference is not None
    for point in problem.reference.params:
        x, unflatten = flatten(point)
        f = lambda v: problem.objective(unflatten(v))  # noqa: E731
        assert f(x) == pytest.approx(problem.reference.fun, abs=1e-9)
        assert np.linalg.norm(grad(f)(x)) < 1e-6


def test_trid_reference_matches_a_direct_solve():
    # f = x^T A x - 2 sum x + d with A tridiagonal (1 on the diagonal, -1/2 beside it)
    for d in (2, 5, 10, 50):
        A = np.eye(d) - 0.5 * (np.eye(d, k=1) + np.eye(d, k=-1))
        x = np.linalg.solve(2 * A, 2 * np.ones(d))
        ref = build("trid", {"dim": d}).reference
        np.testing.assert_allclose(ref.params[0]["x"], x, rtol=1e-10)
        assert ref.fun == pytest.approx(x @ A @ x - 2 * x.sum() + d, rel=1e-12)
    assert build("trid", {"dim": 10}).reference.fun == -210


def test_polynomial_reference_cases():
    ref, _ = polynomial_minimum([3, 4, -3])
    assert ref.params[0]["x"] == pytest.approx(-2 / 3) and ref.fun == pytest.approx(-13 / 3)
    # quartic: lowest of the real critical points, checked on a fine grid
    coeffs = [1.0, 0.0, -3.0, 1.0, 2.0]
    ref, _ = polynomial_minimum(coeffs)
    grid = np.linspace(-3, 3, 600001)
    assert ref.fun == pytest.approx(np.polyval(coeffs, grid).min(), abs=1e-9)
    for coeffs, note in (([1, 0, 0], ""), ([2, 1, 0, 0], "unbounded below"), ([-1, 0, 0], "unbounded below"), ([5], "constant")):
        ref, text = polynomial_minimum(coeffs)
        assert note in text
    assert polynomial_minimum([2, 1, 0, 0])[0] is None


def test_goldfield_has_two_minima():
    ref = build("goldfield", {}).reference
    assert ref.fun == 1.0
    assert [dict(p) for p in ref.params] == [{"x": 1.0, "y": 1.0}, {"x": -1.0, "y": -1.0}]


@pytest.mark.parametrize(
    "problem, expected",
    [
        ({"name": "polynomial", "coeffs": []}, "problem.coeffs: list should have at least 1 item"),
        ({"name": "polynomial", "coeffs": [0, 1]}, "problem.coeffs: the leading (highest-degree) coefficient must be non-zero"),
        ({"name": "polynomial", "coeffs": ["a"]}, "problem.coeffs[0]: input should be a valid number"),
        ({"name": "trid", "dim": 2.5}, "problem.dim: input should be a valid integer"),
        ({"name": "goldfield", "dim": 2}, "problem.dim: unknown key 'dim' (this section takes no options)"),
    ],
)
def test_problem_options_are_validated(problem, expected):
    with pytest.raises(ConfigError) as info:
        load_config({"problem": problem, "optimizer": "gd"})
    assert expected in str(info.value)


# ------------------------------------------------------- the whole catalogue
from optrun.core.problems.models import linear_regression_data  # noqa: E402

# options for problems that have required options (or need small data for speed)
OPTIONS_FOR = {"expression": {"expr": "sin(x) * y**2 + exp(0.1 * x * y) + sum(z**2)", "params": {"x": 0.5, "y": -1.0, "z": [1.0, 2.0]}}}


def registered():
    # "python" wraps a function given to optrun.minimize: there is none to build
    # here (tests/test_python_api.py runs it)
    return sorted(name for name in PROBLEMS if name != "python")


@pytest.mark.parametrize("name", registered())
def test_every_problem_gradient_matches_finite_differences(name):
    problem = build(name, OPTIONS_FOR.get(name, {}))
    start = problem.initial(0)
    x0, unflatten = flatten(start)
    f = lambda v: problem.objective(unflatten(v))  # noqa: E731
    rng = np.random.default_rng(7)
    for _ in range(3):
        x = x0 + rng.normal(0, 0.3, size=x0.shape)
        g = grad(f)(x)
        for i in rng.choice(x.size, size=min(x.size, 6), replace=False):  # a few coordinates for big problems
            h = 1e-6 * max(1.0, abs(x[i]))
            e = np.zeros_like(x)
            e[i] = h
            fd = (f(x + e) - f(x - e)) / (2 * h)
            assert g[i] == pytest.approx(fd, rel=1e-5, abs=1e-6 * max(1.0, abs(f(x)))), (name, i)


@pytest.mark.parametrize("name", registered())
def test_every_problem_has_a_reference_or_says_why_not(name):
    entry = PROBLEMS.get(name)
    problem = build(name, OPTIONS_FOR.get(name, {}))
    assert entry.description and entry.formula and entry.parameters
    if problem.reference is None:
        assert problem.note, f"{name} has neither a reference nor a note saying why"
        return
    for point in problem.reference.params:
        x, unflatten = flatten(point)
        f = lambda v: problem.objective(unflatten(v))  # noqa: E731
        assert f(x) == pytest.approx(problem.reference.fun, rel=1e-10, abs=1e-10)
        assert np.linalg.norm(grad(f)(x)) <= 1e-6 * max(1.0, abs(problem.reference.fun))


# ------------------------------------------------------------ seed numbers
def test_linear_regression_reproduces_seed_004():
    problem = build("linear_regression", {"bias": False})
    f = lambda w: problem.objective({"w": w})  # noqa: E731
    assert f(np.zeros(2)) == 4649826.583041586
    np.testing.assert_allclose(grad(f)(np.zeros(2)), [-1053476.33939486, 1159525.45599207], rtol=1e-12)


def test_linear_regression_reference_solves_the_normal_equations():
    for bias in (True, False):
        entry = PROBLEMS.get("linear_regression")
        options = entry.options(bias=bias, n=50, dim=3, true_w=[1.0, 2.0, 3.0], data_seed=5)
        X, y = linear_regression_data(options)
        A = np.hstack([X, np.ones((50, 1))]) if bias else X
        theta = np.linalg.solve(A.T @ A, A.T @ y)
        ref = entry.build(options).reference.params[0]
        np.testing.assert_allclose(ref["w"], theta[:3], rtol=1e-10)
        if bias:
            assert ref["b"] == pytest.approx(theta[3], rel=1e-10)


def test_linear_regression_gd_closed_form_matches_the_shipped_config(workdir):
    """configs/linreg-nobias.yaml's expected values are the closed form of 299 gd steps."""
    import optrun

    rs = np.random.RandomState(0)
    X = rs.uniform(-5, 5, size=(300, 2))
    y = X @ np.array([4.2, -4.2]) + 0.1 + 0.1 * rs.randn(300)
    wstar = np.linalg.solve(X.T @ X, X.T @ y)
    w = wstar + np.linalg.matrix_power(np.eye(2) - 1e-6 * X.T @ X / 0.01, 299) @ (-wstar)
    result = optrun.run({"problem": {"name": "linear_regression", "bias": False}, "init": "zeros",
                        "optimizer": {"name": "gd", "step_size": 1e-6}, "stop": {"max_iter": 299, "grad_tol": None},
                        "output": {"plots": False}})
    np.testing.assert_allclose(result.params["w"], w, rtol=1e-10)
    assert result.trace["f"][0] == 4649826.583041586


def test_logistic_regression_reproduces_seed_001(workdir):
    import optrun

    result = optrun.run({"problem": "logistic_regression", "init": "zeros", "optimizer": {"name": "gd", "step_size": 0.01},
                         "stop": {"max_iter": 100, "grad_tol": None}, "output": {"plots": False}})
    assert result.trace["f"][0] == pytest.approx(2.772588722239781, rel=1e-15)
    assert result.fun == pytest.approx(1.0672706757870165, rel=1e-13)
    np.testing.assert_allclose(result.params["w"], [0.48307366, -0.37057217, 1.06937395], atol=5e-9)


def test_logistic_regression_references():
    assert build("logistic_regression", {}).reference is None
    assert "separable" in build("logistic_regression", {}).note
    from scipy.optimize import minimize

    for bias in (False, True):
        problem = build("logistic_regression", {"l2": 0.5, "bias": bias})
        start = problem.initial(0)
        x0, unflatten = flatten(start)
        f = lambda v: problem.objective(unflatten(v))  # noqa: E731
        solution = minimize(f, x0, jac=grad(f), method="BFGS", options={"gtol": 1e-10})
        ref, _ = flatten(problem.reference.params[0])
        np.testing.assert_allclose(ref, solution.x, atol=1e-6)


@pytest.mark.slow
def test_gaussian_mle_reference_is_the_sample_mean_and_std():
    problem = build("gaussian_mle", {"n": 500, "data_seed": 3})
    x = np.random.default_rng(3).normal(-3.0, 2.0, 500)
    ref = problem.reference.params[0]
    assert ref["mu"] == pytest.approx(x.mean()) and ref["log_sigma"] == pytest.approx(np.log(x.std()))
    from scipy.stats import norm

    assert problem.reference.fun == pytest.approx(-norm.logpdf(x, x.mean(), x.std()).sum(), rel=1e-12)


def test_styblinski_tang_and_decaying_cosine_constants():
    ref = build("styblinski_tang", {"dim": 3}).reference
    assert ref.fun == pytest.approx(-39.16616570377142 * 3, rel=1e-14)
    np.testing.assert_allclose(ref.params[0]["x"], -2.903534027771177, rtol=1e-14)
    note = build("decaying_cosine", {}).note
    assert "unbounded below" in note and "3.041924" in note and "-0.734058" in note


def test_himmelblau_minima_are_polished_to_machine_precision():
    problem = build("himmelblau", {})
    for point in problem.reference.params:
        assert problem.objective(point) < 1e-20


# --------------------------------------------------------------------- MLP
@pytest.mark.parametrize("hidden", [[], [3], [4, 5, 2]])
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "softplus"])
def test_mlp_any_depth_and_activation(hidden, activation):
    problem = build("mlp_regression", {"hidden": hidden, "activation": activation, "n": 40})
    layers = problem.initial(0)["layers"]
    sizes = [2, *hidden, 1]
    assert [(l["w"].shape, l["b"].shape) for l in layers] == [((a, b), (b,)) for a, b in zip(sizes[:-1], sizes[1:])]
    assert all(np.all(l["b"] == 0) for l in layers)
    x, unflatten = flatten({"layers": layers})
    f = lambda v: problem.objective(unflatten(v))  # noqa: E731
    h, i = 1e-6, 0
    e = np.zeros_like(x)
    e[i] = h
    assert grad(f)(x)[i] == pytest.approx((f(x + e) - f(x - e)) / (2 * h), rel=1e-4, abs=1e-3)


def test_mlp_without_hidden_layers_is_linear_regression():
    from optrun.core.problems.models import mlp_predict

    X = np.random.default_rng(0).normal(size=(10, 2))
    layers = [{"w": np.array([[2.0], [-1.0]]), "b": np.array([0.5])}]
    np.testing.assert_allclose(mlp_predict(layers, X, np.tanh), X @ [2.0, -1.0] + 0.5)


def test_mlp_start_is_seeded():
    problem = build("mlp_regression", {})
    a, b, c = problem.initial(0), problem.initial(0), problem.initial(1)
    np.testing.assert_array_equal(a["layers"][0]["w"], b["layers"][0]["w"])
    assert not np.array_equal(a["layers"][0]["w"], c["layers"][0]["w"])
    np.testing.assert_array_equal(a["layers"][0]["w"], 0.1 * np.random.default_rng(0).standard_normal((2, 10)))


@pytest.mark.parametrize(
    "problem, expected",
    [
        ({"name": "mlp_regression", "hidden": [0]}, "problem.hidden: every hidden layer needs at least 1 unit"),
        ({"name": "mlp_regression", "activation": "gelu"}, "problem.activation: input should be 'tanh', 'relu', 'sigmoid' or 'softplus'"),
        ({"name": "linear_regression", "dim": 3}, "true_w has 2 entries but dim is 3"),
        ({"name": "linear_regression", "n": 10, "data": {"path": "x.csv", "target": "y"}}, "'n' only applies to synthetic data"),
        ({"name": "linear_regression", "data": {"path": "x.csv"}}, "problem.data.target: is required but missing"),
        ({"name": "gaussian_mle", "data": {"path": "x.csv", "target": "y"}}, "problem.data.target: unknown key 'target'"),
        ({"name": "logistic_regression", "l2": -1.0}, "problem.l2: input should be greater than or equal to 0"),
        ({"name": "sum_of_squares", "dim": 0}, "problem.dim: input should be greater than or equal to 1"),
    ],
)
def test_more_option_errors(problem, expected, workdir):
    (workdir / "x.csv").write_text("x,y\n1,2\n")  # the file exists: these are errors in the options
    with pytest.raises(ConfigError) as info:
        load_config({"problem": problem, "optimizer": "gd"})
    assert expected in str(info.value)
