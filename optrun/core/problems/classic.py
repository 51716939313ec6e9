"""Classic test functions from the optimization literature (Surjanovic and
Bingham's Virtual Library of Simulation Experiments); ``optrun describe NAME``
shows each formula, start and minimum."""

from __future__ import annotations

import numpy as np

from optrun.core.problems import NoOptions, Problem, Reference, register_problem, vector_problem
from optrun.core.problems.functions import BOTH, DimOptions


@register_problem(
    "rosenbrock",
    description="Rosenbrock's banana valley: minimum at ones, f* = 0",
    formula="f(x) = sum_{i<d} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2",
    parameters="x (dim,)",
    options=DimOptions,
    backends=BOTH,
)
def rosenbrock(options: DimOptions, xp) -> Problem:
    d = options.dim

    def f(x):
        return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    start = np.array([-1.2, 1.0]) if d == 2 else np.zeros(d)
    return vector_problem(f, start, fun=0.0, minimizer=np.ones(d))


def _himmelblau(x, y):
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _polish(fun, x: np.ndarray, steps: int = 2) -> np.ndarray:
    """Newton steps on the gradient, to sharpen a minimizer known to 6 digits:
    quadratic convergence takes an error of 1e-6 to 1e-12 and then to machine
    precision in 2."""
    from autograd import grad, hessian

    g, h = grad(fun), hessian(fun)
    for _ in range(steps):
        gx = g(x)
        if not np.any(gx):
            break
        x = x - np.linalg.solve(h(x), gx)
    return x


@register_problem(
    "himmelblau",
    description="Himmelblau's function: four minima with f* = 0",
    formula="f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
    parameters="x, y",
    options=NoOptions,
    backends=BOTH,
    vectorized=True,  # elementwise in its scalar parameters: the landscape evaluates a mesh in one call
)
def himmelblau(options: NoOptions, xp) -> Problem:
    # The three irrational minima are quoted to 6 digits in the literature;
    # polish them to machine precision on the gradient.
    quoted = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]
    fun = lambda v: _himmelblau(v[0], v[1])  # noqa: E731

    def minima():
        return tuple({"x": float(x), "y": float(y)} for x, y in (_polish(fun, np.array(q)) for q in quoted))

    return Problem(
        objective=lambda p: _himmelblau(p["x"], p["y"]),
        start={"x": 0.0, "y": 0.0},
        reference=Reference(fun=0.0, params=minima, count=len(quoted)),
    )


@register_problem(
    "beale",
    description="Beale's function: a narrow curved valley, minimum (3, 0.5)",
    formula="f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
    parameters="x, y",
    options=NoOptions,
    backends=BOTH,
    vectorized=True,  # elementwise in its scalar parameters: the landscape evaluates a mesh in one call
)
def beale(options: NoOptions, xp) -> Problem:
    def f(p):
        x, y = p["x"], p["y"]
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2

    return Problem(
        objective=f, start={"x": 1.0, "y": 1.0}, reference=Reference(fun=0.0, params=({"x": 3.0, "y": 0.5},))
    )


@register_problem(
    "booth",
    description="Booth's function: a convex quadratic, minimum (1, 3)",
    formula="f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2",
    parameters="x, y",
    options=NoOptions,
    backends=BOTH,
    vectorized=True,  # elementwise in its scalar parameters: the landscape evaluates a mesh in one call
)
def booth(options: NoOptions, xp) -> Problem:
    def f(p):
        x, y = p["x"], p["y"]
        return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2

    # the minimum solves the 2x2 linear system x + 2y = 7, 2x + y = 5
    x, y = np.linalg.solve([[1.0, 2.0], [2.0, 1.0]], [7.0, 5.0])
    return Problem(
        objective=f, start={"x": 0.0, "y": 0.0}, reference=Reference(fun=0.0, params=({"x": float(x), "y": float(y)},))
    )


def styblinski_tang_root() -> float:
    """The global minimizer of the 1-D term 0.5 (t^4 - 16 t^2 + 5 t): the
    lowest real root of its derivative 4t^3 - 32t + 5."""
    roots = np.roots([4.0, 0.0, -32.0, 5.0])
    real = np.sort(roots[np.abs(roots.imag) < 1e-12].real)
    t = real[0]
    for _ in range(3):  # Newton polish on the cubic
        t -= (4 * t**3 - 32 * t + 5) / (12 * t**2 - 32)
    return float(t)


@register_problem(
    "styblinski_tang",
    description="Styblinski-Tang: separable, many local minima; global at x_i = -2.9035...",
    formula="f(x) = 0.5 * sum (x_i^4 - 16 x_i^2 + 5 x_i)",
    parameters="x (dim,)",
    options=DimOptions,
    backends=BOTH,
)
def styblinski_tang(options: DimOptions, xp) -> Problem:
    d = options.dim

    def f(x):
        return 0.5 * xp.sum(x**4 - 16 * x**2 + 5 * x)

    t = styblinski_tang_root()
    per_dim = 0.5 * (t**4 - 16 * t**2 + 5 * t)
    return vector_problem(f, np.full(d, 0.5), fun=per_dim * d, minimizer=np.full(d, t))
