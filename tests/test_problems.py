"""Problems: gradients against finite differences, references against
independent computations."""

import numpy as np
import pytest
from autograd import grad
from autograd.misc.flatten import flatten

from optrun.config import load_config
from optrun.errors import ConfigError
from optrun.problems import PROBLEMS
from optrun.problems.seeds import polynomial_minimum

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
