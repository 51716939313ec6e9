"""optrun.core.derivatives: values against closed forms and the notebooks'
printed numbers, gradients and Hessians against finite differences, the
JVP- and VJP-built Jacobians against each other and a closed form, and bad
input as one-line ConfigErrors."""

import dataclasses

import numpy as np
import pytest
import scipy.special
from tolerances import rounding

from optrun.core import derivatives as D
from optrun.core.errors import ConfigError
from optrun.core.options import validate
from optrun.core.problems import PROBLEMS


def build(name, **options):
    entry = PROBLEMS.get(name)
    return entry.build(validate(entry.options, options, "problem"))


def expression(expr, **params):
    return build("expression", expr=expr, params=params)


# ------------------------------------------------------------ the notebooks' numbers
def test_polynomial_at_3_seed_000():
    """3x^2 + 4x - 3 at 3: f' = 6x + 4 = 22 (dpolynomial(3.0)), f'' = 6."""
    for problem in (build("polynomial"), expression("3 * x**2 + 4 * x - 3", x=0.0)):
        result = D.derivatives(problem, {"x": 3.0}, order=3)
        assert result.name == "x" and result.at == 3.0
        assert result.values == (36.0, 22.0, 6.0, 0.0)


def test_cube_at_4_seed_003():
    """print(f(4.0)), jax.grad(f)(4.0), ... four times: 64, 48, 24, 6, 0."""
    result = D.derivatives(expression("x**3", x=4.0), order=4)
    assert result.values == (64.0, 48.0, 24.0, 6.0, 0.0)
    assert D.derivatives(expression("x**3", x=4.0), order=6).values[5:] == (0.0, 0.0)


def test_sin_plus_product_at_3_1_seed_001():
    """g(x1, x2) = sin(x1) + x1 x2 at (3, 1): the notebook's printed value,
    forward-mode partials, and its forward differences with h = 1e-7."""
    problem = expression("sin(x1) + x1*x2", x1=3.0, x2=1.0)
    result = D.gradient(problem)
    assert result.value == 3.1411200080598674
    # df/dx1 = cos(3) + 1 = 0.01: NumPy's cos (libm, or SVML on AVX-512) is within 4 ulps of |cos 3| < 1, and the
    # cancellation leaves that error absolute: 4 eps, 1e-13 relative to 0.01
    assert result.grad == {"x1": pytest.approx(0.010007503399554585, abs=rounding(4)), "x2": 3.0}
    assert result.grad["x1"] == pytest.approx(np.cos(3.0) + 1.0, abs=rounding(4))
    assert result.labels == ("x1", "x2") and result.flat == (result.grad["x1"], 3.0)
    check = D.fd_check(problem)
    h = 1e-7
    i = check.steps.index(h)

    # notebook: fin diff 0.010007497053265979 vs 0.010007503399554585 (6.346288605740824e-09),
    # and 2.9999999995311555 vs 3.0 (4.688445187639445e-10); the error is the larger one.
    # Its digits are rounding: truncation h/2 |f''| = 7.1e-9, plus f(x + h e_i) - f(x) (f ~ 3.14) rounded to ulps of
    # pi, over h. The same operations here give the same number (exact); the notebook's, computed with a sin whose
    # last bit may differ, moves f(x + h e_i) and f(x) by an ulp each: 2 ulp(f) / h = 8.9e-9.
    def f(x1, x2):
        return np.sin(x1) + x1 * x2

    g = (np.cos(3.0) + 1.0, 3.0)
    same = max(abs((f(3.0 + h, 1.0) - f(3.0, 1.0)) / h - g[0]), abs((f(3.0, 1.0 + h) - f(3.0, 1.0)) / h - g[1]))
    assert check.forward.errors[i] == same
    assert check.forward.errors[i] == pytest.approx(6.346288605740824e-09, abs=2 * np.spacing(result.value) / h)
    hessian = D.hessian(problem)
    # -sin(3) on both sides, each within 4 ulps
    assert hessian.array.tolist() == [[pytest.approx(-np.sin(3.0), rel=rounding(8)), 1.0], [1.0, 0.0]]


def test_goldfield_signed_gradient_at_3_4_seed_000():
    """dgoldfield(3.0, 4.0): (4x - 4y, -4x + 4y^3) = (-4, 244), signed."""
    result = D.gradient(build("goldfield"), {"x": 3.0, "y": 4.0})
    assert result.value == 2 * 9 - 4 * 12 + 4**4 + 2
    assert result.grad == {"x": -4.0, "y": 244.0}
    h = D.hessian(build("goldfield"), {"x": 3.0, "y": 4.0})
    assert h.labels == ("x", "y") and h.array.tolist() == [[4.0, -4.0], [-4.0, 12 * 16.0]]


def test_derivative_curves_are_derivatives_at_each_grid_value():
    """The derivatives.png curve: one row per grid value, what derivatives() gives there, the other parameters held."""
    problem = expression("sin(x1) * x1 + x1 * x2**2", x1=0.5, x2=2.0)
    grid = [-1.0, 0.0, 0.75, 3.0]
    rows = D.derivative_curves(problem, {"x2": 1.5}, 3, "x1", grid)
    assert rows.shape == (4, 4)
    for s, row in zip(grid, rows):
        assert tuple(row) == D.derivatives(problem, {"x1": s, "x2": 1.5}, order=3, name="x1").values
    # f = x sin x + 2.25 x and its first three derivatives in closed form
    x = np.array(grid)
    closed = np.stack(
        [
            x * np.sin(x) + 2.25 * x,
            np.sin(x) + x * np.cos(x) + 2.25,
            2 * np.cos(x) - x * np.sin(x),
            -3 * np.sin(x) - x * np.cos(x),
        ],
        axis=1,
    )
    # ~20 operations on autograd's side (three reverse passes) and 6 here, on terms no larger than 10 (|x| <= 3,
    # 2.25 |x| <= 6.75), sin and cos within 4 ulps each: rounding(32, 10) absolute
    np.testing.assert_allclose(rows, closed, rtol=0, atol=rounding(32, 10))


@pytest.mark.slow  # imports jax
def test_derivative_curves_on_jax_equal_autograd():
    from optrun.core.backend import get_backend
    from optrun.core.problems import PROBLEMS

    entry = PROBLEMS.get("expression")
    options = validate(
        entry.options, {"expr": "sin(x1) * x1 + x1 * x2**2", "params": {"x1": 0.5, "x2": 2.0}}, "problem"
    )
    grid = np.linspace(-2.0, 2.0, 7)
    rows = {
        name: D.derivative_curves(
            entry.make(options, get_backend(name)), {"x2": 1.5}, 4, "x1", grid, backend=get_backend(name)
        )
        for name in ("autograd", "jax")
    }
    # the same derivatives (up to the fourth: ~50 operations each) evaluated in another order, XLA's sin and cos
    # within a few ulps of NumPy's, on terms no larger than 10 (|x| <= 2): rounding(64, 10) absolute
    np.testing.assert_allclose(rows["jax"], rows["autograd"], rtol=0, atol=rounding(64, 10))


def test_gradient_is_nested_like_the_parameters():
    problem = build("mlp_regression")
    start = problem.initial(0)
    result = D.gradient(problem, start)
    assert [sorted(layer) for layer in result.grad["layers"]] == [["b", "w"], ["b", "w"]]
    for layer, g in zip(start["layers"], result.grad["layers"]):
        assert g["w"].shape == layer["w"].shape and g["b"].shape == layer["b"].shape
    assert result.labels[0] == "layers[0].b[0]" and len(result.flat) == len(result.labels)
    flat = np.concatenate([np.ravel(layer[k]) for layer in result.grad["layers"] for k in ("b", "w")])
    assert np.array_equal(flat, result.flat)


# ------------------------------------------------------------ against finite differences
SCALAR_CASES = [
    ("goldfield", {}, {"x": 0.3, "y": -0.7}),
    ("rosenbrock", {}, None),
    ("himmelblau", {}, {"x": 1.0, "y": 1.5}),
    ("trid", {"dim": 4}, {"x": [0.5, -1.0, 2.0, 0.25]}),
    ("logistic_regression", {}, None),
    ("decaying_cosine", {}, {"x": 2.0}),
]


@pytest.mark.parametrize("name, options, at", SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
def test_gradient_and_hessian_agree_with_finite_differences(name, options, at):
    problem = build(name, **options)
    result = D.gradient(problem, at)
    check = D.fd_check(problem, at)
    assert check.mode == "entries" and check.autodiff == result.flat and check.value == result.value
    scale = max(1.0, float(np.max(np.abs(result.flat))))
    # A best error is at most the error at any one step. Central at h = 1e-5: truncation h^2 |f'''| / 6 plus rounding
    # eps |f| / h, 1.7e-11 |f'''| + 2.2e-11 |f|; forward at h = 1e-8: h |f''| / 2 + 2 eps |f| / h, 5e-9 |f''| + 4.4e-8 |f|.
    # These cases have |f| <= 87, |f''| <= 1330 and |f'''| <= 2900 (Rosenbrock at its start, 2400 |x|, where scale = 216):
    # central <= 5e-8 <= 1e-7 scale and forward <= 1e-5 <= 1e-5 scale; the directional (central) check, <= 1e-9 scale,
    # or 1e-7 relative to a directional derivative that is not small.
    assert check.central.best_error <= 1e-7 * scale
    assert check.forward.best_error <= 1e-5 * scale
    assert check.central.best_error <= check.forward.best_error  # the central scheme is second order
    assert check.directional.relative_error <= 1e-7 or check.directional.best_error <= 1e-9 * scale

    # the Hessian against central differences of the autodiff gradient, column by column
    h = D.hessian(problem, at)
    assert h.labels == result.labels and h.value == result.value
    point = D.point(problem, at)
    from autograd.misc import flatten

    x, unflatten = flatten(point)
    step = 1e-5
    columns = []
    for i in range(x.size):
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        columns.append(
            (np.array(D.gradient(problem, unflatten(up)).flat) - np.array(D.gradient(problem, unflatten(down)).flat))
            / (2 * step)
        )
    fd = np.column_stack(columns)
    # truncation h^2/6 |f''''| (at most 2400 here: Rosenbrock's 100 x^4) plus rounding: the gradient's entries are sums
    # of terms no larger than |x| |H| (polynomials of degree <= 4) or 3 (the logistic and cosine cases), each evaluation
    # within 4 eps of those, two evaluations over 2h
    terms = max(3.0, float(np.abs(x).max()) * float(np.abs(h.array).max()))
    assert np.allclose(h.array, fd, rtol=0, atol=step**2 / 6 * 2400 + rounding(4, terms) / step)
    # H_ij and H_ji: the same few products summed in another order (reverse over reverse), terms <= 2 |H| here
    assert np.allclose(h.array, h.array.T, rtol=0, atol=rounding(16, max(1.0, float(np.abs(h.array).max()))))


def test_fd_check_steps_and_best_step():
    problem = expression("exp(x) * sin(y)", x=0.5, y=1.0)
    check = D.fd_check(problem)
    assert check.steps == D.STEPS == tuple(10.0**-k for k in range(1, 13))
    assert len(check.forward.errors) == len(check.central.errors) == len(check.directional.estimates) == 12
    # textbook optima: forward ~ sqrt(eps) ~ 1e-8, central ~ eps^(1/3) ~ 1e-5 (a decade either way: near the optimum
    # the errors are rounding, which another CPU may tip to a neighbouring step)
    assert 1e-9 <= check.forward.best_step <= 1e-7
    assert 1e-7 <= check.central.best_step <= 1e-4
    assert check.forward.errors[0] > 1e-3  # h = 0.1: truncation error
    assert check.forward.best_error == min(check.forward.errors)
    assert check.central.best_error == min(check.central.errors)
    d = check.directional
    # v / |v| and its norm again: two divisions, two squares, a sum and a square root
    assert np.linalg.norm(d.direction) == pytest.approx(1.0, abs=rounding(6))
    # g . v: two products and a sum in whatever order (and FMA) the BLAS takes, each within eps/2 of sum |g_i v_i|
    assert d.autodiff == pytest.approx(
        np.dot(check.autodiff, d.direction), abs=rounding(3, np.dot(np.abs(check.autodiff), np.abs(d.direction)))
    )
    assert d.errors == tuple(abs(e - d.autodiff) for e in d.estimates)
    # central at h = 1e-5: 1.7e-11 |f'''| + 2.2e-11 |f|, with |f'''| <= 8 e^0.5 = 13 and |f| = 1.4: 2.5e-10,
    # relative to |g . v| = 0.31 here, 8e-10
    assert d.best_error == min(d.errors) and d.relative_error < 1e-9
    custom = D.fd_check(problem, steps=[1e-3, 1e-6])
    assert custom.steps == (1e-3, 1e-6) and len(custom.central.errors) == 2


def test_fd_check_along_a_seeded_direction_for_many_parameters():
    problem = build("mlp_regression")
    a = D.fd_check(problem, seed=3)
    b = D.fd_check(problem, seed=3)
    c = D.fd_check(problem, seed=4)
    assert a.mode == "direction" and len(a.labels) > D.MAX_FD_ENTRIES
    assert a.directional.direction == b.directional.direction != c.directional.direction
    assert a.central.errors == a.directional.errors  # in this mode the central scheme is the directional check
    # at h = 1e-4: rounding eps |f| / h plus truncation h^2 |f'''_v| / 6, relative to g . v; f = 1.2e7, g . v = 4.9e4
    # here: 5.4e-10 + 3.4e-14 |f'''_v|, under 1e-7 while |f'''_v| < 2.9e6 (the best error found, 6.4e-10, is the rounding)
    assert a.directional.relative_error < 1e-7
    assert D.fd_check(problem, max_entries=100).mode == "entries"


def test_fd_check_of_a_linear_function_is_exact_at_some_step():
    check = D.fd_check(expression("2*x - 3*y", x=1.0, y=2.0), steps=[0.5, 0.25])
    assert check.central.best_error == 0.0 and check.forward.best_error == 0.0


# ------------------------------------------------------------ Jacobians, JVPs, VJPs
def closed_form(x, y):
    return np.array([[y, x], [1.0, np.cos(y)], [np.exp(x - y), -np.exp(x - y)]])


def test_jacobians_from_jvps_and_vjps_agree_with_each_other_and_the_closed_form():
    problem = expression(["x * y", "x + sin(y)", "exp(x - y)"], x=1.0, y=2.0)
    by_columns = D.jacobian(problem, by="jvp")
    by_rows = D.jacobian(problem, by="vjp")
    assert by_columns.by == "jvp" and by_columns.passes == 2  # n forward passes
    assert by_rows.by == "vjp" and by_rows.passes == 3  # m reverse passes
    assert by_columns.rows == by_rows.rows == ("f[0]", "f[1]", "f[2]")
    assert by_columns.columns == by_rows.columns == ("x", "y")
    # NumPy's sin and exp on both sides, and 1 + sin(2) rounds once: a rounding apart at most
    assert by_columns.value == by_rows.value == pytest.approx((2.0, 1.0 + np.sin(2.0), np.exp(-1.0)), rel=rounding(2))
    # each entry is one elementary derivative (y, x, 1, cos y, +-exp(x - y)) times a seed of 1 (exact), NumPy's cos
    # and exp on both sides: a rounding apart at most
    assert np.allclose(by_columns.array, by_rows.array, rtol=rounding(2), atol=0)
    assert np.allclose(by_columns.array, closed_form(1.0, 2.0), rtol=rounding(2), atol=0)
    assert D.jacobian(problem).by == "jvp"  # n = 2 < m = 3: fewer passes forward
    at = {"x": -0.5, "y": 0.25}
    assert np.allclose(D.jacobian(problem, at).array, closed_form(-0.5, 0.25), rtol=rounding(2), atol=0)


def test_wide_jacobian_prefers_vjps_and_array_parameters_are_labelled():
    problem = expression(["sum(z**2) * w", "z[0] * z[2] - w"], z=[1.0, 2.0, 3.0], w=0.5)
    j = D.jacobian(problem)
    assert j.by == "vjp" and j.passes == 2  # m = 2 < n = 4
    assert j.columns == ("w", "z[0]", "z[1]", "z[2]")  # flatten order: names sorted
    expected = np.array([[14.0, 1.0, 2.0, 3.0], [-1.0, 3.0, 0.0, 1.0]])
    # polynomials in small integers and 0.5: every operation is exact in binary
    assert np.array_equal(j.array, expected)
    assert np.array_equal(D.jacobian(problem, by="jvp").array, expected)


def test_one_jvp_and_one_vjp():
    problem = expression(["x * y", "x + sin(y)", "exp(x - y)"], x=1.0, y=2.0)
    J = closed_form(1.0, 2.0)
    forward = D.jvp(problem, None, {"x": 0.5, "y": -2.0})
    assert forward.mode == "jvp" and forward.vector == (0.5, -2.0) and forward.labels == ("f[0]", "f[1]", "f[2]")
    # J v, entries y/2 - 2x, 1/2 - 2 cos y, 2.5 exp(x - y): the scalings by 1/2 and 2 are exact, the sum (or the product
    # by 2.5) rounds once on each side; NumPy's cos and exp on both
    assert np.allclose(forward.result, J @ [0.5, -2.0], rtol=rounding(2), atol=0)
    assert D.jvp(problem, None, [0.5, -2.0]).result == forward.result  # a flat list in label order
    # a column of J: one elementary derivative times 1 (the other times 0)
    assert D.jvp(problem, None, {"y": 1.0}).result == pytest.approx(
        tuple(J[:, 1]), rel=rounding(2)
    )  # names left out are 0
    reverse = D.vjp(problem, None, [1.0, 0.0, 2.0])
    assert reverse.mode == "vjp" and reverse.vector == (1.0, 0.0, 2.0) and reverse.labels == ("x", "y")
    # u^T J with u = (1, 0, 2): exact products, and y + 2 exp(x - y), x - 2 exp(x - y) round once on each side
    assert np.allclose(reverse.result, np.array([1.0, 0.0, 2.0]) @ J, rtol=rounding(2), atol=0)
    assert reverse.value == forward.value


@pytest.mark.slow
def test_gammaln_has_forward_and_reverse_mode():
    problem = expression(["gammaln(x) * y", "lgamma(x + y)"], x=2.5, y=1.5)
    j = D.jacobian(problem, by="jvp")
    # every entry is one SciPy function value (digamma, gammaln: the rules call SciPy) times y or a seed of 1: the
    # same values here, a rounding or two apart
    assert np.allclose(j.array, D.jacobian(problem, by="vjp").array, rtol=rounding(4), atol=0)
    expected = [
        [scipy.special.digamma(2.5) * 1.5, scipy.special.gammaln(2.5)],
        [scipy.special.digamma(4.0), scipy.special.digamma(4.0)],
    ]
    assert np.allclose(j.array, expected, rtol=rounding(4), atol=0)
    # higher derivatives (reverse over reverse) and forward over reverse, as a Hessian-vector product would need:
    # each is SciPy's gammaln, psi or polygamma(n, .) times seeds of 1, as here
    values = D.derivatives(expression("gammaln(x)", x=2.5), order=3).values
    assert np.allclose(
        values,
        [scipy.special.gammaln(2.5)] + [scipy.special.polygamma(k, 2.5) for k in range(3)],
        rtol=rounding(4),
        atol=0,
    )
    from autograd import grad, make_jvp

    from optrun.core.problems.formula import gammaln  # registers the forward-mode rules on first use

    assert make_jvp(grad(gammaln))(2.5)(1.0)[1] == pytest.approx(scipy.special.polygamma(1, 2.5), rel=rounding(4))
    assert make_jvp(grad(grad(gammaln)))(2.5)(1.0)[1] == pytest.approx(scipy.special.polygamma(2, 2.5), rel=rounding(4))


def test_a_scalar_problem_is_the_one_row_case():
    problem = expression("sin(x1) + x1*x2", x1=3.0, x2=1.0)
    g = D.gradient(problem)
    for by in ("jvp", "vjp"):
        j = D.jacobian(problem, by=by)
        assert j.rows == ("f",) and j.value == (g.value,)
        # forward and reverse mode sum the same terms of size 1 (cos 3 + 1 = 0.01): a rounding of those, absolute
        assert j.matrix[0] == pytest.approx(g.flat, abs=rounding(2))
    assert D.jvp(problem, None, [1.0, 0.0]).result == pytest.approx((g.flat[0],), abs=rounding(2))
    assert D.vjp(problem, None, [2.0]).result == pytest.approx(tuple(2 * v for v in g.flat), abs=rounding(2, 2))


# ------------------------------------------------------------ points and results
def test_point_overrides_names_and_keeps_the_rest():
    problem = build("goldfield")
    assert D.point(problem) == {"x": 0.1, "y": -0.1}
    assert D.point(problem, {"y": 2}) == {"x": 0.1, "y": 2.0}
    assert D.point(problem, {"x": 1}, base={"x": 5.0, "y": 6.0}) == {"x": 1.0, "y": 6.0}
    assert D.gradient(problem, {"y": 2}).value == D.gradient(problem, {"x": 0.1, "y": 2.0}).value


def test_results_are_frozen_dataclasses():
    problem = expression("x**2 + y", x=1.0, y=2.0)
    vector = expression(["x", "y"], x=1.0, y=2.0)
    results = [
        D.gradient(problem),
        D.hessian(problem),
        D.derivatives(problem, order=1, name="x"),
        D.fd_check(problem),
        D.jacobian(vector),
        D.jvp(vector, None, [1, 0]),
        D.vjp(vector, None, [1, 0]),
    ]
    for result in results:
        assert dataclasses.is_dataclass(result) and not isinstance(result, dict)
        field = dataclasses.fields(result)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(result, field, None)


# ------------------------------------------------------------ bad input
SIN = ("sin(x1) + x1*x2", {"x1": 3.0, "x2": 1.0})
VEC = (["x*y", "x + sin(y)", "exp(x - y)"], {"x": 1.0, "y": 2.0})

BAD = [
    ("unknown-at", SIN, lambda p: D.gradient(p, {"z": 1}), "at: unknown parameter 'z' (parameters: x1, x2)"),
    ("at-shape", SIN, lambda p: D.gradient(p, {"x1": [1, 2]}), "at.x1: must be a number, got shape (2,)"),
    ("at-string", SIN, lambda p: D.hessian(p, {"x1": "a"}), "at.x1: must be a number, got 'a'"),
    ("at-not-mapping", SIN, lambda p: D.gradient(p, [1, 2]), "at: must be a mapping of parameter names to values"),
    ("at-nan", SIN, lambda p: D.gradient(p, {"x1": float("nan")}), "at.x1: must be finite numbers"),
    ("order-0", SIN, lambda p: D.derivatives(p, order=0, name="x1"), "order: must be an integer from 1 to 10, got 0"),
    (
        "order-big",
        SIN,
        lambda p: D.derivatives(p, order=11, name="x1"),
        "order: must be an integer from 1 to 10, got 11",
    ),
    (
        "order-float",
        SIN,
        lambda p: D.derivatives(p, order=2.0, name="x1"),
        "order: must be an integer from 1 to 10, got 2.0",
    ),
    (
        "order-two-params",
        SIN,
        lambda p: D.derivatives(p, order=2),
        "order: derivatives up to order 2 are for one scalar parameter, and it has 2 parameters (x1, x2); name one of the scalar parameters: x1, x2",
    ),
    (
        "order-unknown",
        SIN,
        lambda p: D.derivatives(p, order=2, name="q"),
        "order: unknown parameter 'q' (parameters: x1, x2)",
    ),
    (
        "order-vector-param",
        ("sum(z**2)", {"z": [1.0, 2.0]}),
        lambda p: D.derivatives(p, order=2),
        "order: derivatives up to order 2 are for one scalar parameter, and its parameter 'z' has shape (2,)",
    ),
    (
        "order-named-vector",
        ("sum(z**2) + w", {"z": [1.0, 2.0], "w": 1.0}),
        lambda p: D.derivatives(p, order=1, name="z"),
        "order: derivatives up to order 1 are for one scalar parameter, and 'z' has shape (2,) (scalar parameters: w)",
    ),
    (
        "jvp-length",
        VEC,
        lambda p: D.jvp(p, None, [1, 2, 3]),
        "jvp: must have 2 entries, one per parameter entry (x, y); got 3",
    ),
    ("jvp-unknown", VEC, lambda p: D.jvp(p, None, {"q": 1}), "jvp: unknown parameter 'q' (parameters: x, y)"),
    ("jvp-shape", VEC, lambda p: D.jvp(p, None, {"x": [1, 2]}), "jvp.x: must be a number, got shape (2,)"),
    (
        "jvp-text",
        VEC,
        lambda p: D.jvp(p, None, "1,2"),
        "jvp: must be a list of 2 numbers, one per parameter entry (x, y); got '1,2'",
    ),
    (
        "vjp-length",
        VEC,
        lambda p: D.vjp(p, None, [1, 2]),
        "vjp: must have 3 entries, one per output (f[0], f[1], f[2]); got 2",
    ),
    ("vjp-nested", VEC, lambda p: D.vjp(p, None, [[1, 2, 3]]), "vjp: must be a flat list of 3 numbers"),
    ("vjp-nan", VEC, lambda p: D.vjp(p, None, [1, float("nan"), 2]), "vjp: must be finite numbers"),
    (
        "by",
        VEC,
        lambda p: D.jacobian(p, by="rows"),
        "by: must be 'jvp' (column by column) or 'vjp' (row by row), got 'rows'",
    ),
    (
        "vector-gradient",
        VEC,
        lambda p: D.gradient(p),
        "problem: is a vector function R^2 -> R^3: it has no single value to minimize",
    ),
    ("vector-hessian", VEC, lambda p: D.hessian(p), "problem: is a vector function R^2 -> R^3"),
    ("vector-order", VEC, lambda p: D.derivatives(p, order=1, name="x"), "problem: is a vector function R^2 -> R^3"),
    ("vector-fd", VEC, lambda p: D.fd_check(p), "problem: is a vector function R^2 -> R^3"),
    ("steps-empty", SIN, lambda p: D.fd_check(p, steps=[]), "steps: must be 1 to 200 finite step sizes h > 0, got []"),
    (
        "steps-negative",
        SIN,
        lambda p: D.fd_check(p, steps=[0.1, -1]),
        "steps: must be 1 to 200 finite step sizes h > 0",
    ),
    ("steps-text", SIN, lambda p: D.fd_check(p, steps="ab"), "steps: must be a list of step sizes h > 0, got 'ab'"),
    ("max-entries", SIN, lambda p: D.fd_check(p, max_entries=-1), "max_entries: must be an integer >= 0, got -1"),
]


@pytest.mark.parametrize("expr, call, expected", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_a_one_line_config_error(expr, call, expected):
    problem = expression(expr[0], **expr[1])
    with pytest.raises(ConfigError) as info:
        call(problem)
    message = str(info.value)
    assert expected in message and "\n" not in message and info.value.exit_code == 2


def test_matrices_are_bounded():
    with pytest.raises(
        ConfigError, match=r"hessian: the Hessian would have 2000 x 2000 = 4000000 entries; the limit is 1000000"
    ):
        D.hessian(build("trid", dim=2000))


# ------------------------------------------------------------ issue 28: the work is bounded before it starts
def test_a_jacobian_of_too_many_passes_is_refused_before_any_pass():
    """2 outputs of 5000 entries: 2 VJPs are fine; 5000 JVPs (5000 passes over 5000 entries) are refused."""
    problem = expression(["sum(x**2)", "sum(sin(x))"], x=[0.5] * 5000)
    assert D.jacobian(problem, by="vjp").passes == 2
    with pytest.raises(ConfigError, match=r"^jacobian: the Jacobian built from JVPs would take 5000 passes over 5000 "):
        D.jacobian(problem, by="jvp")


def test_the_cost_of_an_order_is_estimated_from_the_operations_of_f():
    """x**3 is one operation (the power; a scalar formula is no longer summed): order 9 is within the limit."""
    problem = expression("x**3", x=2.0)
    assert D.derivative_operations(problem, None) == 1
    assert D.derivatives(problem, order=9).values[:4] == (8.0, 12.0, 12.0, 6.0)
    wide = expression("sin(x) * exp(x) + x**3 / (1 + x**2) - cos(2*x)", x=1.3)
    with pytest.raises(ConfigError, match=r"^order: f\^\(8\) of this objective \(11 operations\) .* ask for order 7"):
        D.derivatives(wide, order=8)
    assert D.affordable_order(12, 10) == 7 and D.affordable_order(12, 10, points=102, budget=20_000) == 2
