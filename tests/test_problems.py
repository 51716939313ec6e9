"""Problems: gradients against finite differences, references against
independent computations."""

import numpy as np
import pytest
import tolerances
from autograd import grad, hessian
from autograd.misc.flatten import flatten
from tolerances import rounding

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
        # central difference: truncation h^2 |f'''| / 6, f''' = 24 x on the quartic and on goldfield's y^4 (0 on the
        # quadratics); rounding: each f within rounding(24, S) (Trid 10-D's two 10-term sums; Horner's 8 operations),
        # S the size of f's terms, at most m^4 + 19 (1 + m)^2 + 2 for all five at |x| <= m; two of them over 2h (x +- h
        # rounds too, by eps |x|, moving the quotient by |g| eps m / h: less)
        m = np.abs(x).max()
        tol = h**2 * 24 * m / 6 + rounding(24, m**4 + 19 * (1 + m) ** 2 + 2) / h
        np.testing.assert_allclose(grad(f)(x), fd, rtol=0, atol=tol)


@pytest.mark.parametrize("name, options", CASES)
def test_reference_is_a_stationary_point_with_the_stated_value(name, options):
    problem = build(name, options)
    assert problem.reference is not None
    for point in problem.reference.params:
        x, unflatten = flatten(point)
        f = lambda v: problem.objective(unflatten(v))  # noqa: E731
        # exact: the reference's f is this Horner rule at x (polynomials), or integer arithmetic (Trid's x* are
        # integers, goldfield's (+-1, +-1))
        assert f(x) == problem.reference.fun
        # g = 0 exactly at integer x*; a polynomial's x* is a root of f' polished by Newton to where f' rounds (terms
        # up to 17 on the quartic at |x*| = 1.3): autograd's f' is within that rounding of 0, twice, plus f'' eps |x*|
        assert np.linalg.norm(grad(f)(x)) <= rounding(20, 20)


def test_trid_reference_matches_a_direct_solve():
    # f = x^T A x - 2 sum x + d with A tridiagonal (1 on the diagonal, -1/2 beside it)
    for d in (2, 5, 10, 50):
        A = np.eye(d) - 0.5 * (np.eye(d, k=1) + np.eye(d, k=-1))
        x = np.linalg.solve(2 * A, 2 * np.ones(d))
        ref = build("trid", {"dim": d}).reference
        # the reference is the closed form i (d + 1 - i), in integers; a backward-stable dense solve is within
        # cond(A) rounding(3d) |x| of it (cond(A) = 1054 at d = 50)
        np.testing.assert_allclose(
            ref.params[0]["x"], x, rtol=0, atol=np.linalg.cond(A) * rounding(3 * d, np.abs(x).max())
        )
        # x A x: each entry of A x rounds at its 3 terms (<= 2 max|x|), weighted by |x| in the dot product; the sums
        # round at sum |x|, far less
        assert ref.fun == pytest.approx(x @ A @ x - 2 * x.sum() + d, abs=rounding(4, np.abs(x).max()) * np.abs(x).sum())
    assert build("trid", {"dim": 10}).reference.fun == -210  # -d (d + 4)(d - 1) / 6: exact in integers


def test_polynomial_reference_cases():
    ref, _ = polynomial_minimum([3, 4, -3])
    # x = -4 / 6: one correctly rounded division, as -2 / 3 is; f by Horner: 4 roundings at terms up to 3
    assert ref.params[0]["x"] == -2 / 3 and ref.fun == pytest.approx(-13 / 3, rel=rounding(4))
    # quartic: lowest of the real critical points, checked on a fine grid
    coeffs = [1.0, 0.0, -3.0, 1.0, 2.0]
    ref, _ = polynomial_minimum(coeffs)
    grid = np.linspace(-3, 3, 600001)
    # the grid point nearest x* is within half its spacing: f there is at most f''(x*) (spacing / 2)^2 / 2 above f*
    # (1.8e-10); both f's round at terms up to 12 (x^4 + 3x^2 + |x| + 2 at |x| <= 1.4)
    f2 = np.polyval(np.polyder(coeffs, 2), ref.params[0]["x"])
    assert ref.fun == pytest.approx(
        np.polyval(coeffs, grid).min(), abs=f2 * (grid[1] - grid[0]) ** 2 / 8 + rounding(16, 12)
    )
    for coeffs, note in (
        ([1, 0, 0], ""),
        ([2, 1, 0, 0], "unbounded below"),
        ([-1, 0, 0], "unbounded below"),
        ([5], "constant"),
    ):
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
        (
            {"name": "polynomial", "coeffs": [0, 1]},
            "problem.coeffs: the leading (highest-degree) coefficient must be non-zero",
        ),
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
OPTIONS_FOR = {
    "expression": {
        "expr": "sin(x) * y**2 + exp(0.1 * x * y) + sum(z**2)",
        "params": {"x": 0.5, "y": -1.0, "z": [1.0, 2.0]},
    }
}


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
            # central difference: truncation h^2 |f'''| / 6 (1.7e-13 |f'''| at |x_i| <= 1), within rel 1e-5 of g while
            # |f'''| <= 6e7 |g|; rounding eps S / h for f's terms of size S (2.2e-10 S), within 1e-6 max(1, |f|) while
            # S <= 4500 max(1, |f|) -- sums of squares and smooth models, whose terms cancel far less at these points.
            # A wrong derivative is off by O(|g|).
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
        if problem.bounds or problem.constraints:  # a constrained minimum: not stationary (KKT instead, checked in
            continue  # test_constrained_problems.py with the multipliers)
        # the gradient at a float point near a minimizer is rounding: at most 1e-6 max(1, |f*|), or for a built-in
        # problem 10 x the largest gradient at any float within 4 ulps of its stored minimizer, under every lower
        # NumPy SIMD level and another BLAS kernel (tests/tolerances.py "reference/NAME": Meyer's residuals of 1e4
        # with a Jacobian of 1e6 reach 1e-3 there, past the 8.8e-5 a fixed 1e-6 x f* allows)
        bound = 1e-6 * max(1.0, abs(problem.reference.fun))
        if f"reference/{name}" in tolerances.CASES and name not in OPTIONS_FOR:
            bound = max(bound, tolerances.measured(f"reference/{name}")["grad_norm"])
        assert np.linalg.norm(grad(f)(x)) <= bound


# ------------------------------------------------------------ seed numbers
def test_linear_regression_reproduces_seed_004():
    problem = build("linear_regression", {"bias": False})
    f = lambda w: problem.objective({"w": w})  # noqa: E731
    # the notebook's digits, computed with its BLAS: 50 sum y^2 over positive terms, y = X w + 0.1 + 0.1 n rounding at
    # |X w| <= 42 (FMA or not): ~20 roundings
    assert f(np.zeros(2)) == pytest.approx(4649826.583041586, rel=rounding(20))
    # printed to 15 digits (5e-15 relative); each entry sums 300 products whose sizes add up to 1.14x the entry
    np.testing.assert_allclose(
        grad(f)(np.zeros(2)), [-1053476.33939486, 1159525.45599207], rtol=5e-15 + 1.14 * rounding(300)
    )


def test_linear_regression_reference_solves_the_normal_equations():
    for bias in (True, False):
        entry = PROBLEMS.get("linear_regression")
        options = entry.options(bias=bias, n=50, dim=3, true_w=[1.0, 2.0, 3.0], data_seed=5)
        X, y = linear_regression_data(options)
        A = np.hstack([X, np.ones((50, 1))]) if bias else X
        theta = np.linalg.solve(A.T @ A, A.T @ y)
        ref = entry.build(options).reference.params[0]
        # lstsq (QR/SVD) against the normal equations: A^T A and A^T y sum 50 products, then a backward-stable solve,
        # all amplified by cond(A^T A) (12 with the bias column): normwise, cond rounding(2 * 50 + 12) |theta|
        tol = np.linalg.cond(A.T @ A) * rounding(2 * 50 + 12, np.abs(theta).max())
        np.testing.assert_allclose(ref["w"], theta[:3], rtol=0, atol=tol)
        if bias:
            assert ref["b"] == pytest.approx(theta[3], abs=tol)


def test_linear_regression_gd_closed_form_matches_the_shipped_config(workdir):
    """configs/linreg-nobias.yaml's expected values are the closed form of 299 gd steps."""
    import optrun

    rs = np.random.RandomState(0)
    X = rs.uniform(-5, 5, size=(300, 2))
    y = X @ np.array([4.2, -4.2]) + 0.1 + 0.1 * rs.randn(300)
    wstar = np.linalg.solve(X.T @ X, X.T @ y)
    w = wstar + np.linalg.matrix_power(np.eye(2) - 1e-6 * X.T @ X / 0.01, 299) @ (-wstar)
    result = optrun.run(
        {
            "problem": {"name": "linear_regression", "bias": False},
            "init": "zeros",
            "optimizer": {"name": "gd", "step_size": 1e-6},
            "stop": {"max_iter": 299, "grad_tol": None},
            "output": {"plots": False},
        }
    )
    # M^299 < 1e-36: both are w* = (X^T X)^-1 X^T y to rounding. The solve and gd's fixed point (where its computed
    # gradient vanishes) are each within cond(X^T X) rounding(2n) |w*| of it: sums of n = 300 products; gd's own
    # roundings in its last steps are damped by the contraction |M| = 0.76
    cond = np.linalg.cond(X.T @ X)
    np.testing.assert_allclose(result.params["w"], w, rtol=0, atol=2 * cond * rounding(2 * 300, np.abs(w).max()))
    assert result.trace["f"][0] == pytest.approx(4649826.583041586, rel=rounding(20))  # as in the test above


def test_logistic_regression_reproduces_seed_001(workdir):
    import optrun

    result = optrun.run(
        {
            "problem": "logistic_regression",
            "init": "zeros",
            "optimizer": {"name": "gd", "step_size": 0.01},
            "stop": {"max_iter": 100, "grad_tol": None},
            "output": {"plots": False},
        }
    )
    # f(0) = 4 log1p(exp(0)): log1p within 4 ulps of log 2 (SVML on AVX-512), and two roundings of the sum
    assert result.trace["f"][0] == pytest.approx(2.772588722239781, rel=rounding(6))
    # gd's map is nonexpansive here (0.01 |H| < 2): its errors add up over the 100 steps, each rounding w (|w| <= 1.1)
    # and 0.01 g (terms up to 10) by a few eps: |w - w_exact| <= 100 rounding(4, 1.1); f moves by |g| (< 1) times that
    run = 100 * rounding(4, 1.1)
    assert result.fun == pytest.approx(1.0672706757870165, abs=run + rounding(20, 3))
    # the notebook printed w to 8 decimals (+-5e-9)
    np.testing.assert_allclose(result.params["w"], [0.48307366, -0.37057217, 1.06937395], rtol=0, atol=5e-9 + run)


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
        # the loss is convex: near its minimizer |x - x*| <= |g(x)| / lambda_min (x2 for the curvature's change), for
        # BFGS's end (which may stop at SciPy's precision loss, short of gtol) and for the Newton reference alike
        lam = np.linalg.eigvalsh(hessian(f)(ref)).min()
        gap = 2 * (np.linalg.norm(grad(f)(solution.x)) + np.linalg.norm(grad(f)(ref))) / lam
        np.testing.assert_allclose(ref, solution.x, rtol=0, atol=gap)


@pytest.mark.slow
def test_gaussian_mle_reference_is_the_sample_mean_and_std():
    problem = build("gaussian_mle", {"n": 500, "data_seed": 3})
    x = np.random.default_rng(3).normal(-3.0, 2.0, 500)
    ref = problem.reference.params[0]
    assert ref["mu"] == x.mean() and ref["log_sigma"] == np.log(
        x.std()
    )  # the same NumPy calls on the same draws: exact
    from scipy.stats import norm

    # two formulas for the same 500 positive terms (|z| <= 4): each term ~6 roundings, exp(log sigma) and log within
    # 4 ulps, z^2 doubling z's error; pairwise sums of 500 within ~20 roundings: rounding(50) relative
    assert problem.reference.fun == pytest.approx(-norm.logpdf(x, x.mean(), x.std()).sum(), rel=rounding(50))


def test_styblinski_tang_and_decaying_cosine_constants():
    ref = build("styblinski_tang", {"dim": 3}).reference
    # Newton polishes t to where f' = 4t^3 - 32t + 5 rounds (terms up to 100): |t - t*| <= rounding(4, 100) / f''(t*),
    # f'' = 69, on this machine and the one that printed the 16 digits (+-5e-16)
    np.testing.assert_allclose(ref.params[0]["x"], -2.903534027771177, rtol=0, atol=2 * rounding(4, 100) / 69 + 5e-16)
    # f is stationary there; 0.5 (t^4 - 16 t^2 + 5 t) rounds ~8 times at terms adding up to 110, per dimension
    assert ref.fun == pytest.approx(-39.16616570377142 * 3, abs=3 * rounding(8, 110))
    note = build("decaying_cosine", {}).note
    assert "unbounded below" in note and "3.041924" in note and "-0.734058" in note


def test_himmelblau_minima_are_polished_to_machine_precision():
    problem = build("himmelblau", {})
    # f = r1^2 + r2^2, r = 0 at the minimum up to rounding: x^2 + y - 11 and x + y^2 - 7 round at terms up to 15
    # (|x|, |y| <= 3.8), and x, y as doubles move r by |dr/dx| eps |x| <= 7.6 * 3.8 eps: |r_i| <= rounding(4, 15).
    # A minimizer polished once less (1e-6 -> 1e-12) leaves f ~ 1e-22
    for point in problem.reference.params:
        assert problem.objective(point) <= 2 * rounding(4, 15) ** 2


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
    # central difference: f = 50 sum of 40 squared residuals, each within 3 roundings (the net's output, |yhat| < 1,
    # rounds far below |y| ~ 30) and summed pairwise: f within rounding(8, f), the difference of two over 2h; the
    # truncation h^2 |f'''| / 6 is below 1e-8 (|f'''| <= 1e4 along this entry for the smooth activations; relu's f is
    # piecewise quadratic in it, exact, while no pre-activation that moves with it crosses 0: the nearest is 6.6e-5
    # away at this start); entry 0 is the first bias, 0, so 0 +- h is exact
    assert grad(f)(x)[i] == pytest.approx((f(x + e) - f(x - e)) / (2 * h), abs=rounding(8, f(x)) / h + h**2 * 1e4 / 6)


def test_mlp_without_hidden_layers_is_linear_regression():
    from optrun.core.problems.models import mlp_predict

    X = np.random.default_rng(0).normal(size=(10, 2))
    layers = [{"w": np.array([[2.0], [-1.0]]), "b": np.array([0.5])}]
    # 2 x1 - x2 + 0.5 by a matrix product and by a matrix-vector one (FMA or not): a few roundings at terms up to 8
    np.testing.assert_allclose(mlp_predict(layers, X, np.tanh), X @ [2.0, -1.0] + 0.5, rtol=0, atol=rounding(4, 8))


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
        (
            {"name": "mlp_regression", "activation": "gelu"},
            "problem.activation: input should be 'tanh', 'relu', 'sigmoid' or 'softplus'",
        ),
        ({"name": "linear_regression", "dim": 3}, "true_w has 2 entries but dim is 3"),
        (
            {"name": "linear_regression", "n": 10, "data": {"path": "x.csv", "target": "y"}},
            "'n' only applies to synthetic data",
        ),
        ({"name": "linear_regression", "data": {"path": "x.csv"}}, "problem.data.target: is required but missing"),
        (
            {"name": "gaussian_mle", "data": {"path": "x.csv", "target": "y"}},
            "problem.data.target: unknown key 'target'",
        ),
        ({"name": "logistic_regression", "l2": -1.0}, "problem.l2: input should be greater than or equal to 0"),
        ({"name": "sum_of_squares", "dim": 0}, "problem.dim: input should be greater than or equal to 1"),
    ],
)
def test_more_option_errors(problem, expected, workdir):
    (workdir / "x.csv").write_text("x,y\n1,2\n")  # the file exists: these are errors in the options
    with pytest.raises(ConfigError) as info:
        load_config({"problem": problem, "optimizer": "gd"})
    assert expected in str(info.value)
