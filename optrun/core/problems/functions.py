"""Analytic test functions from the teaching notebooks: polynomial, trid,
goldfield, sum_of_squares and decaying_cosine, with their minima computed
in closed form or polished numerically."""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from optrun.core.options import Options
from optrun.core.problems import Problem, Reference, register_problem, vector_problem

BOTH = ("autograd", "jax")


# ----------------------------------------------------------------- polynomial
class PolynomialOptions(Options):
    coeffs: list[float] = Field(
        default_factory=lambda: [3.0, 4.0, -3.0],
        min_length=1,
        max_length=50,
        description="the coefficients, highest degree first (numpy.polyval's order): [3, 4, -3] is 3x^2 + 4x - 3; "
        "the first is non-zero unless it is the only one",
    )

    @field_validator("coeffs")
    @classmethod
    def _leading_nonzero(cls, coeffs: list[float]) -> list[float]:
        if len(coeffs) > 1 and coeffs[0] == 0:
            raise ValueError("the leading (highest-degree) coefficient must be non-zero")
        return coeffs


def polynomial_minimum(coeffs: list[float]) -> tuple[Reference | None, str]:
    """The global minimum of a polynomial, or why there is none."""
    c = np.asarray(coeffs, dtype=float)
    degree = len(c) - 1
    if degree == 0:
        return None, "constant: every x is a minimizer"
    if degree % 2 == 1 or c[0] < 0:
        return None, "unbounded below"
    if degree == 2:
        x = -c[1] / (2 * c[0])
    else:
        critical = np.roots(np.polyder(c))
        real = critical[np.abs(critical.imag) < 1e-9].real
        x = real[np.argmin(np.polyval(c, real))]
        # polish the root on the derivative with a few Newton steps
        d1, d2 = np.polyder(c), np.polyder(c, 2)
        for _ in range(3):
            if np.polyval(d2, x) != 0:
                x = x - np.polyval(d1, x) / np.polyval(d2, x)
    return Reference(fun=float(np.polyval(c, x)), params=({"x": float(x)},)), ""


@register_problem(
    "polynomial",
    description="A polynomial in one variable (3x^2 + 4x - 3 by default, as in the “Optimized Learning” notebook)",
    formula="f(x) = polyval(coeffs, x), highest degree first",
    parameters="x",
    options=PolynomialOptions,
    backends=BOTH,
    vectorized=True,  # elementwise in its scalar parameters: the landscape evaluates a mesh in one call
)
def polynomial(options: PolynomialOptions, xp) -> Problem:
    coeffs = list(options.coeffs)

    def f(p):
        value = 0.0
        for c in coeffs:  # Horner's rule: only + and *, so any backend differentiates it
            value = value * p["x"] + c
        return value

    reference, note = polynomial_minimum(coeffs)
    return Problem(objective=f, start={"x": 3.0}, reference=reference, note=note)


# ----------------------------------------------------------------------- trid
class DimOptions(Options):
    dim: int = Field(2, ge=1, le=1_000_000, description="the number of variables: the length of x")


@register_problem(
    "trid",
    description="The Trid function: convex quadratic with a closed-form minimum",
    formula="f(x) = sum_{i=1..d} (x_i - 1)^2 - sum_{i=2..d} x_i x_{i-1}",
    parameters="x (dim,)",
    options=DimOptions,
    backends=BOTH,
)
def trid(options: DimOptions, xp) -> Problem:
    d = options.dim

    def f(x):
        return xp.sum((x - 1.0) ** 2) - xp.sum(x[1:] * x[:-1])

    i = np.arange(1, d + 1, dtype=float)
    start = np.array([1.0, -1.0]) if d == 2 else np.zeros(d)
    return vector_problem(f, start, fun=-d * (d + 4) * (d - 1) / 6.0, minimizer=i * (d + 1 - i))


# ------------------------------------------------------------------ goldfield
@register_problem(
    "goldfield",
    description="The “Optimized Learning” notebook's gold field: two minima at (1, 1) and (-1, -1), a saddle at (0, 0)",
    formula="f(x, y) = 2x^2 - 4xy + y^4 + 2",
    parameters="x, y",
    backends=BOTH,
    vectorized=True,  # elementwise in its scalar parameters: the landscape evaluates a mesh in one call
)
def goldfield(options: Options, xp) -> Problem:
    def f(p):
        x, y = p["x"], p["y"]
        return 2 * x**2 - 4 * x * y + y**4 + 2

    minima = ({"x": 1.0, "y": 1.0}, {"x": -1.0, "y": -1.0})
    return Problem(
        objective=f, start={"x": 0.1, "y": -0.1}, reference=Reference(fun=float(f(minima[0])), params=minima)
    )


# ------------------------------------------------------------- sum_of_squares
class SumOfSquaresOptions(Options):
    dim: int = Field(
        4,
        ge=1,
        le=1_000_000,
        description="the length of x; the start is (-3, 4, -5, 6) for 4 "
        "(as in “Intro to neural net training with autograd”), else ones",
    )


@register_problem(
    "sum_of_squares",
    description="The squared 2-norm (the first objective of “Intro to neural net training with autograd”)",
    formula="f(x) = sum x_i^2",
    parameters="x (dim,)",
    options=SumOfSquaresOptions,
    backends=BOTH,
)
def sum_of_squares(options: SumOfSquaresOptions, xp) -> Problem:
    d = options.dim
    start = np.array([-3.0, 4.0, -5.0, 6.0]) if d == 4 else np.ones(d)
    return vector_problem(lambda x: xp.sum(x**2), start, fun=0.0, minimizer=np.zeros(d))


# ------------------------------------------------------------ decaying_cosine
def decaying_cosine_local_minimum() -> float:
    """f'(x) = -exp(-x/10) (cos(x)/10 + sin(x)) = 0  <=>  tan(x) = -1/10;
    the local minimum nearest the default start is x = pi - arctan(1/10)."""
    return float(np.pi - np.arctan(0.1))


@register_problem(
    "decaying_cosine",
    description="A cosine under a decaying exponential: a local minimum, unbounded below",
    formula="f(x) = exp(-x/10) cos(x)",
    parameters="x",
    backends=BOTH,
    vectorized=True,  # elementwise in its scalar parameters: the landscape evaluates a mesh in one call
)
def decaying_cosine(options: Options, xp) -> Problem:
    def f(p):
        return xp.exp(-p["x"] / 10.0) * xp.cos(p["x"])

    x = decaying_cosine_local_minimum()
    note = f"unbounded below as x -> -inf; local minimum at x = {x:.6f}, f = {np.exp(-x / 10.0) * np.cos(x):.6f}"
    return Problem(objective=f, start={"x": 2.0}, reference=None, note=note)
