"""The Moré-Garbow-Hillstrom problems of variable size n (an option): MGH
21, 22, 23, 25, 26 and 30, with what their minimizers need computed (the
penalty I minimizer from a cubic, the Broyden tridiagonal root by Newton's
method).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from optrun.core.options import Options
from optrun.core.problems import Problem, register_problem
from optrun.core.problems.functions import BOTH
from optrun.core.problems.mgh.small import powell_blocks
from optrun.core.problems.mgh.sum_of_squares import least_squares


# ----------------------------------------------------------------- MGH 21
class EvenOptions(Options):
    n: int = Field(10, ge=2, le=1_000_000, description="the length of x, even: n/2 Rosenbrock pairs")

    @field_validator("n")
    @classmethod
    def _even(cls, n: int) -> int:
        if n % 2:
            raise ValueError("must be even")
        return n


@register_problem(
    "extended_rosenbrock",
    description="MGH 21, extended Rosenbrock: n/2 Rosenbrock valleys, f* = 0 at ones",
    formula="r_{2i-1} = 10 (x_{2i} - x_{2i-1}^2),  r_{2i} = 1 - x_{2i-1},  i = 1..n/2",
    parameters="x (n,)",
    options=EvenOptions,
    backends=BOTH,
)
def extended_rosenbrock(options: EvenOptions, xp) -> Problem:
    n = options.n

    def r(x):
        return xp.concatenate([10.0 * (x[1::2] - x[0::2] ** 2), 1.0 - x[0::2]])

    return least_squares(r, np.tile([-1.2, 1.0], n // 2), 0.0, [np.ones(n)], xp=xp)


# ----------------------------------------------------------------- MGH 22
class MultipleOf4Options(Options):
    n: int = Field(12, ge=4, le=1_000_000, description="the length of x, a multiple of 4: n/4 Powell singular blocks")

    @field_validator("n")
    @classmethod
    def _multiple_of_4(cls, n: int) -> int:
        if n % 4:
            raise ValueError("must be a multiple of 4")
        return n


@register_problem(
    "extended_powell",
    description="MGH 22, extended Powell singular: n/4 Powell singular blocks, f* = 0 at the origin",
    formula="per block of 4: r1 = x1 + 10 x2,  r2 = sqrt(5) (x3 - x4),  r3 = (x2 - 2 x3)^2,  r4 = sqrt(10) (x1 - x4)^2",
    parameters="x (n,)",
    options=MultipleOf4Options,
    backends=BOTH,
)
def extended_powell(options: MultipleOf4Options, xp) -> Problem:
    n = options.n
    return least_squares(
        lambda x: powell_blocks(x, xp), np.tile([3.0, -1.0, 0.0, 1.0], n // 4), 0.0, [np.zeros(n)], xp=xp
    )


# ----------------------------------------------------------------- MGH 23
class Penalty1Options(Options):
    n: int = Field(4, ge=1, le=1_000_000, description="the length of x; there are n + 1 residuals")


PENALTY1_A = 1e-5


def penalty1_minimizer(n: int) -> float:
    """Every x_i is the same t at the minimum (the gradient equations give
    x_i (a + 2 (sum x^2 - 1/4)) = a for every i): t minimizes the 1-D
    n a (t - 1)^2 + (n t^2 - 1/4)^2, the real root of its cubic derivative."""
    a = PENALTY1_A
    # d/dt: 2 n a (t - 1) + 4 n t (n t^2 - 1/4) = 0  <=>  4n t^3 + (2a - 1) t - 2a = 0
    roots = np.roots([4.0 * n, 0.0, 2.0 * a - 1.0, -2.0 * a])
    real = roots[np.abs(roots.imag) < 1e-12].real
    value = lambda t: n * a * (t - 1.0) ** 2 + (n * t * t - 0.25) ** 2  # noqa: E731
    t = real[np.argmin([value(s) for s in real])]
    for _ in range(3):  # Newton polish on the cubic
        t -= (4.0 * n * t**3 + (2.0 * a - 1.0) * t - 2.0 * a) / (12.0 * n * t * t + 2.0 * a - 1.0)
    return float(t)


@register_problem(
    "penalty1",
    description="MGH 23, penalty function I: f* = 2.24997e-5 (n = 4), 7.08765e-5 (n = 10)",
    formula="r_i = sqrt(1e-5) (x_i - 1),  i = 1..n;  r_{n+1} = sum x_j^2 - 1/4",
    parameters="x (n,)",
    options=Penalty1Options,
    backends=BOTH,
)
def penalty1(options: Penalty1Options, xp) -> Problem:
    n = options.n

    def r(x):
        return xp.concatenate([np.sqrt(PENALTY1_A) * (x - 1.0), xp.array([xp.sum(x * x) - 0.25])])

    t = penalty1_minimizer(n)
    fun = n * PENALTY1_A * (t - 1.0) ** 2 + (n * t * t - 0.25) ** 2
    return least_squares(r, np.arange(1, n + 1, dtype=float), fun, [np.full(n, t)], xp=xp)


# ----------------------------------------------------------------- MGH 25
class DimensionOptions(Options):
    n: int = Field(10, ge=1, le=1_000_000, description="the number of variables: the length of x")


@register_problem(
    "variably_dimensioned",
    description="MGH 25, variably dimensioned: f* = 0 at ones",
    formula="r_i = x_i - 1,  i = 1..n;  r_{n+1} = sum j (x_j - 1),  r_{n+2} = (sum j (x_j - 1))^2",
    parameters="x (n,)",
    options=DimensionOptions,
    backends=BOTH,
)
def variably_dimensioned(options: DimensionOptions, xp) -> Problem:
    n = options.n
    j = np.arange(1, n + 1, dtype=float)

    def r(x):
        s = xp.sum(j * (x - 1.0))
        return xp.concatenate([x - 1.0, xp.array([s, s * s])])

    return least_squares(r, 1.0 - j / n, 0.0, [np.ones(n)], xp=xp)


# ----------------------------------------------------------------- MGH 26
@register_problem(
    "trigonometric",
    description="MGH 26, trigonometric: f* = 0 (at the origin, among others)",
    formula="r_i = n - sum_j cos(x_j) + i (1 - cos(x_i)) - sin(x_i),  i = 1..n",
    parameters="x (n,)",
    options=DimensionOptions,
    backends=BOTH,
)
def trigonometric(options: DimensionOptions, xp) -> Problem:
    n = options.n
    i = np.arange(1, n + 1, dtype=float)

    def r(x):
        c = xp.cos(x)
        return n - xp.sum(c) + i * (1.0 - c) - xp.sin(x)

    return least_squares(
        r,
        np.full(n, 1.0 / n),
        0.0,
        [np.zeros(n)],
        note="f = 0 wherever every x_i is a multiple of 2 pi (and elsewhere); local minima too: from the standard "
        "start with n = 10, Newton and BFGS stop at f = 2.79506e-5 (computed here, not the paper's)",
        xp=xp,
    )


# ----------------------------------------------------------------- MGH 30
def _broyden_tridiagonal(x, xp):
    padded = xp.concatenate([xp.zeros(1), x, xp.zeros(1)])
    return (3.0 - 2.0 * x) * x - padded[:-2] - 2.0 * padded[2:] + 1.0


def _solve_tridiagonal(below: np.ndarray, diagonal: np.ndarray, above: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Thomas' algorithm (no pivoting: Broyden's Jacobian near its root is diagonally dominant)."""
    n = diagonal.size
    d, b = diagonal.astype(float), rhs.astype(float)
    for i in range(1, n):
        w = below[i - 1] / d[i - 1]
        d[i] -= w * above[i - 1]
        b[i] -= w * b[i - 1]
    x = np.empty(n)
    x[-1] = b[-1] / d[-1]
    for i in range(n - 2, -1, -1):
        x[i] = (b[i] - above[i] * x[i + 1]) / d[i]
    return x


def broyden_tridiagonal_root(n: int) -> np.ndarray:
    """The zero of the residuals Newton's method reaches from the standard
    start (a tridiagonal Jacobian: cheap even for large n)."""
    x = np.full(n, -1.0)
    for _ in range(100):
        # the Jacobian: -1 below the diagonal, 3 - 4 x_i on it, -2 above
        step = _solve_tridiagonal(
            np.full(n - 1, -1.0), 3.0 - 4.0 * x, np.full(n - 1, -2.0), _broyden_tridiagonal(x, np)
        )
        x = x - step
        if np.max(np.abs(step)) < 1e-15 * max(1.0, np.max(np.abs(x))):
            break
    return x


@register_problem(
    "broyden_tridiagonal",
    description="MGH 30, Broyden tridiagonal: f* = 0 (a root of the residuals)",
    formula="r_i = (3 - 2 x_i) x_i - x_{i-1} - 2 x_{i+1} + 1,  x_0 = x_{n+1} = 0,  i = 1..n",
    parameters="x (n,)",
    options=DimensionOptions,
    backends=BOTH,
)
def broyden_tridiagonal(options: DimensionOptions, xp) -> Problem:
    n = options.n
    return least_squares(
        lambda x: _broyden_tridiagonal(x, xp),
        np.full(n, -1.0),
        0.0,
        lambda: [broyden_tridiagonal_root(n)],
        count=1,
        note="the minimizer is the root Newton's method reaches from the standard start, computed on first use",
        xp=xp,
    )
