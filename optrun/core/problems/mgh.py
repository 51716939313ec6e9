"""The unconstrained test set of Moré, Garbow & Hillstrom, "Testing
Unconstrained Optimization Software", ACM TOMS 7(1), 17-41 (1981).

Each problem is the paper's sum of squares f(x) = sum_i r_i(x)^2: only its
residual function r, its standard starting point and the minimum the paper
reports are written here; :func:`least_squares` makes the Problem. The
paper's numbering is given with each (``MGH 1`` ... ``MGH 30``).

Where the paper gives f* but not the minimizer, the minimizer below was
polished to machine precision (Levenberg-Marquardt from the standard start,
then Gauss-Newton; ``tests/test_mgh.py`` redoes it) and f* is the value
there, which agrees with every digit the paper prints. Sizes for which the
paper gives no f* have no reference, only a note. Rosenbrock (MGH 1) and
Beale (MGH 5) are the existing ``rosenbrock`` and ``beale`` in classic.py.

The suite ``mgh`` (see :func:`optrun.core.problems.suite_members`) lists them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from optrun.core.options import NoOptions, Options
from optrun.core.problems import Problem, Reference, register_problem, register_suite
from optrun.core.problems.functions import BOTH


def least_squares(
    residuals: Callable[[Any], Any],
    start: Sequence[float] | np.ndarray,
    fun: float | None = None,
    minimizers: Sequence[Sequence[float]] | Callable[[], Sequence[np.ndarray]] = (),
    count: int | None = None,
    note: str = "",
    *,
    xp: Any,
) -> Problem:
    """The Problem ``f(x) = sum r(x)^2`` over one vector parameter ``x``:
    ``residuals(x)`` returns the 1-D array r (written with the array module ``xp``),
    ``start`` is the standard start, ``fun`` the known minimum (None: unknown,
    say why in ``note``) at ``minimizers`` (a list of points, or a function
    computing them on first use, with ``count`` of them)."""

    def objective(p):
        r = residuals(p["x"])
        return xp.sum(r * r)

    reference = None
    if fun is not None:
        if callable(minimizers):
            reference = Reference(
                fun=float(fun),
                params=lambda: tuple({"x": np.asarray(m, dtype=float)} for m in minimizers()),
                count=count if count is not None else 1,
            )
        else:
            reference = Reference(fun=float(fun), params=tuple({"x": np.asarray(m, dtype=float)} for m in minimizers))
    return Problem(objective=objective, start={"x": np.asarray(start, dtype=float)}, reference=reference, note=note)


def _unpublished(size: str, published: str) -> str:
    return f"the paper gives f* only for {published}; none is known for {size}"


# ------------------------------------------------------------------ MGH 2
@register_problem(
    "freudenstein_roth",
    description="MGH 2, Freudenstein and Roth: f* = 0 at (5, 4); a local minimum 48.9842 nearby",
    formula="r1 = -13 + x1 + ((5 - x2) x2 - 2) x2,  r2 = -29 + x1 + ((x2 + 1) x2 - 14) x2",
    parameters="x (2,)",
    options=NoOptions,
    backends=BOTH,
)
def freudenstein_roth(options: NoOptions, xp) -> Problem:
    def r(x):
        return xp.array(
            [-13.0 + x[0] + ((5.0 - x[1]) * x[1] - 2.0) * x[1], -29.0 + x[0] + ((x[1] + 1.0) * x[1] - 14.0) * x[1]]
        )

    return least_squares(
        r,
        [0.5, -2.0],
        0.0,
        [[5.0, 4.0]],
        note="also a local minimum f = 48.9842 at (11.4128, -0.896805) (the paper's)",
        xp=xp,
    )


# ------------------------------------------------------------------ MGH 3
@register_problem(
    "powell_badly_scaled",
    description="MGH 3, Powell badly scaled: f* = 0 at (1.098e-5, 9.106)",
    formula="r1 = 10^4 x1 x2 - 1,  r2 = exp(-x1) + exp(-x2) - 1.0001",
    parameters="x (2,)",
    options=NoOptions,
    backends=BOTH,
)
def powell_badly_scaled(options: NoOptions, xp) -> Problem:
    def r(x):
        return xp.array([1e4 * x[0] * x[1] - 1.0, xp.exp(-x[0]) + xp.exp(-x[1]) - 1.0001])

    return least_squares(r, [0.0, 1.0], 0.0, [[1.0981593296997979e-05, 9.106146739866686]], xp=xp)


# ------------------------------------------------------------------ MGH 4
@register_problem(
    "brown_badly_scaled",
    description="MGH 4, Brown badly scaled: f* = 0 at (1e6, 2e-6)",
    formula="r1 = x1 - 10^6,  r2 = x2 - 2 10^-6,  r3 = x1 x2 - 2",
    parameters="x (2,)",
    options=NoOptions,
    backends=BOTH,
)
def brown_badly_scaled(options: NoOptions, xp) -> Problem:
    def r(x):
        return xp.array([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0])

    return least_squares(r, [1.0, 1.0], 0.0, [[1e6, 2e-6]], xp=xp)


# ------------------------------------------------------------------ MGH 6
class JennrichSampsonOptions(Options):
    m: int = Field(10, ge=2, le=100_000)


@register_problem(
    "jennrich_sampson",
    description="MGH 6, Jennrich and Sampson: f* = 124.362 at x1 = x2 = 0.2578 (m = 10)",
    formula="r_i = 2 + 2i - (exp(i x1) + exp(i x2)),  i = 1..m",
    parameters="x (2,)",
    options=JennrichSampsonOptions,
    backends=BOTH,
)
def jennrich_sampson(options: JennrichSampsonOptions, xp) -> Problem:
    i = np.arange(1, options.m + 1, dtype=float)

    def r(x):
        return 2.0 + 2.0 * i - (xp.exp(i * x[0]) + xp.exp(i * x[1]))

    if options.m != 10:
        return least_squares(r, [0.3, 0.4], note=_unpublished(f"m = {options.m}", "m = 10"), xp=xp)
    return least_squares(r, [0.3, 0.4], JENNRICH_SAMPSON_FUN, [JENNRICH_SAMPSON_X], xp=xp)


# ------------------------------------------------------------------ MGH 7
@register_problem(
    "helical_valley",
    description="MGH 7, Fletcher and Powell's helical valley: f* = 0 at (1, 0, 0)",
    formula="r1 = 10 (x3 - 10 theta(x1, x2)),  r2 = 10 (sqrt(x1^2 + x2^2) - 1),  r3 = x3;  "
    "2 pi theta = arctan(x2/x1) (+ pi if x1 < 0)",
    parameters="x (3,)",
    options=NoOptions,
    backends=BOTH,
)
def helical_valley(options: NoOptions, xp) -> Problem:
    def r(x):
        theta = xp.arctan(x[1] / x[0]) / (2.0 * np.pi) + xp.where(x[0] < 0, 0.5, 0.0)
        return xp.array([10.0 * (x[2] - 10.0 * theta), 10.0 * (xp.sqrt(x[0] ** 2 + x[1] ** 2) - 1.0), x[2]])

    return least_squares(r, [-1.0, 0.0, 0.0], 0.0, [[1.0, 0.0, 0.0]], xp=xp)


# ------------------------------------------------------------------ MGH 8
BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39])


@register_problem(
    "bard",
    description="MGH 8, Bard: f* = 8.21487e-3; a local minimum 17.4286 at x1 = 0.8406, x2, x3 -> -inf",
    formula="r_i = y_i - (x1 + u_i / (v_i x2 + w_i x3)),  u_i = i, v_i = 16 - i, w_i = min(u_i, v_i),  i = 1..15",
    parameters="x (3,)",
    options=NoOptions,
    backends=BOTH,
)
def bard(options: NoOptions, xp) -> Problem:
    u = np.arange(1, 16, dtype=float)
    v = 16.0 - u
    w = np.minimum(u, v)

    def r(x):
        return BARD_Y - (x[0] + u / (v * x[1] + w * x[2]))

    return least_squares(
        r,
        [1.0, 1.0, 1.0],
        BARD_FUN,
        [BARD_X],
        note="also a local minimum f = 17.4286 at x1 = 0.8406, x2, x3 -> -inf (the paper's)",
        xp=xp,
    )


# ------------------------------------------------------------------ MGH 9
GAUSSIAN_Y = np.array(
    [
        0.0009,
        0.0044,
        0.0175,
        0.0540,
        0.1295,
        0.2420,
        0.3521,
        0.3989,
        0.3521,
        0.2420,
        0.1295,
        0.0540,
        0.0175,
        0.0044,
        0.0009,
    ]
)


@register_problem(
    "gaussian",
    description="MGH 9, Gaussian: f* = 1.12793e-8",
    formula="r_i = x1 exp(-x2 (t_i - x3)^2 / 2) - y_i,  t_i = (8 - i)/2,  i = 1..15",
    parameters="x (3,)",
    options=NoOptions,
    backends=BOTH,
)
def gaussian(options: NoOptions, xp) -> Problem:
    t = (8.0 - np.arange(1, 16, dtype=float)) / 2.0

    def r(x):
        return x[0] * xp.exp(-x[1] * (t - x[2]) ** 2 / 2.0) - GAUSSIAN_Y

    return least_squares(r, [0.4, 1.0, 0.0], GAUSSIAN_FUN, [GAUSSIAN_X], xp=xp)


# ----------------------------------------------------------------- MGH 10
MEYER_Y = np.array(
    [
        34780.0,
        28610.0,
        23650.0,
        19630.0,
        16370.0,
        13720.0,
        11540.0,
        9744.0,
        8261.0,
        7030.0,
        6005.0,
        5147.0,
        4427.0,
        3820.0,
        3307.0,
        2872.0,
    ]
)


@register_problem(
    "meyer",
    description="MGH 10, Meyer: f* = 87.9458 (badly scaled: x ~ (0.0056, 6181, 345))",
    formula="r_i = x1 exp(x2 / (t_i + x3)) - y_i,  t_i = 45 + 5i,  i = 1..16",
    parameters="x (3,)",
    options=NoOptions,
    backends=BOTH,
)
def meyer(options: NoOptions, xp) -> Problem:
    t = 45.0 + 5.0 * np.arange(1, 17, dtype=float)

    def r(x):
        return x[0] * xp.exp(x[1] / (t + x[2])) - MEYER_Y

    return least_squares(r, [0.02, 4000.0, 250.0], MEYER_FUN, [MEYER_X], xp=xp)


# ----------------------------------------------------------------- MGH 12
class Box3DOptions(Options):
    m: int = Field(10, ge=3, le=100_000)


@register_problem(
    "box_3d",
    description="MGH 12, Box three-dimensional: f* = 0 at (1, 10, 1), (10, 1, -1) and every (t, t, 0)",
    formula="r_i = exp(-t_i x1) - exp(-t_i x2) - x3 (exp(-t_i) - exp(-10 t_i)),  t_i = 0.1 i,  i = 1..m",
    parameters="x (3,)",
    options=Box3DOptions,
    backends=BOTH,
)
def box_3d(options: Box3DOptions, xp) -> Problem:
    t = 0.1 * np.arange(1, options.m + 1, dtype=float)

    def r(x):
        return xp.exp(-t * x[0]) - xp.exp(-t * x[1]) - x[2] * (np.exp(-t) - np.exp(-10.0 * t))

    return least_squares(
        r,
        [0.0, 10.0, 20.0],
        0.0,
        [[1.0, 10.0, 1.0], [10.0, 1.0, -1.0]],
        note="also f = 0 on the whole line x1 = x2, x3 = 0 (the paper's)",
        xp=xp,
    )


# ----------------------------------------------------------------- MGH 13
def _powell_blocks(x, xp):
    """The residuals of Powell's singular function on each block of 4 (MGH 13 and 22)."""
    x1, x2, x3, x4 = x[0::4], x[1::4], x[2::4], x[3::4]
    return xp.concatenate(
        [x1 + 10.0 * x2, np.sqrt(5.0) * (x3 - x4), (x2 - 2.0 * x3) ** 2, np.sqrt(10.0) * (x1 - x4) ** 2]
    )


@register_problem(
    "powell_singular",
    description="MGH 13, Powell singular: f* = 0 at the origin, where the Hessian is singular",
    formula="r1 = x1 + 10 x2,  r2 = sqrt(5) (x3 - x4),  r3 = (x2 - 2 x3)^2,  r4 = sqrt(10) (x1 - x4)^2",
    parameters="x (4,)",
    options=NoOptions,
    backends=BOTH,
)
def powell_singular(options: NoOptions, xp) -> Problem:
    return least_squares(lambda x: _powell_blocks(x, xp), [3.0, -1.0, 0.0, 1.0], 0.0, [np.zeros(4)], xp=xp)


# ----------------------------------------------------------------- MGH 14
@register_problem(
    "wood",
    description="MGH 14, Wood: f* = 0 at (1, 1, 1, 1)",
    formula="r1 = 10 (x2 - x1^2), r2 = 1 - x1, r3 = sqrt(90) (x4 - x3^2), r4 = 1 - x3, "
    "r5 = sqrt(10) (x2 + x4 - 2), r6 = (x2 - x4) / sqrt(10)",
    parameters="x (4,)",
    options=NoOptions,
    backends=BOTH,
)
def wood(options: NoOptions, xp) -> Problem:
    def r(x):
        return xp.array(
            [
                10.0 * (x[1] - x[0] ** 2),
                1.0 - x[0],
                np.sqrt(90.0) * (x[3] - x[2] ** 2),
                1.0 - x[2],
                np.sqrt(10.0) * (x[1] + x[3] - 2.0),
                (x[1] - x[3]) / np.sqrt(10.0),
            ]
        )

    return least_squares(r, [-3.0, -1.0, -3.0, -1.0], 0.0, [np.ones(4)], xp=xp)


# ----------------------------------------------------------------- MGH 15
KOWALIK_OSBORNE_Y = np.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246])
KOWALIK_OSBORNE_U = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])


@register_problem(
    "kowalik_osborne",
    description="MGH 15, Kowalik and Osborne: f* = 3.07505e-4; a local minimum 1.02734e-3 at infinity",
    formula="r_i = y_i - x1 (u_i^2 + u_i x2) / (u_i^2 + u_i x3 + x4),  i = 1..11",
    parameters="x (4,)",
    options=NoOptions,
    backends=BOTH,
)
def kowalik_osborne(options: NoOptions, xp) -> Problem:
    u = KOWALIK_OSBORNE_U

    def r(x):
        return KOWALIK_OSBORNE_Y - x[0] * (u**2 + u * x[1]) / (u**2 + u * x[2] + x[3])

    return least_squares(
        r,
        [0.25, 0.39, 0.415, 0.39],
        KOWALIK_OSBORNE_FUN,
        [KOWALIK_OSBORNE_X],
        note="also a local minimum f = 1.02734e-3 at (+inf, -14.07, -inf, -inf) (the paper's)",
        xp=xp,
    )


# ----------------------------------------------------------------- MGH 16
class BrownDennisOptions(Options):
    m: int = Field(20, ge=4, le=100_000)


@register_problem(
    "brown_dennis",
    description="MGH 16, Brown and Dennis: f* = 85822.2 (m = 20)",
    formula="r_i = (x1 + t_i x2 - exp(t_i))^2 + (x3 + x4 sin(t_i) - cos(t_i))^2,  t_i = i/5,  i = 1..m",
    parameters="x (4,)",
    options=BrownDennisOptions,
    backends=BOTH,
)
def brown_dennis(options: BrownDennisOptions, xp) -> Problem:
    t = np.arange(1, options.m + 1, dtype=float) / 5.0

    def r(x):
        return (x[0] + t * x[1] - np.exp(t)) ** 2 + (x[2] + x[3] * np.sin(t) - np.cos(t)) ** 2

    start = [25.0, 5.0, -5.0, -1.0]
    if options.m != 20:
        return least_squares(r, start, note=_unpublished(f"m = {options.m}", "m = 20"), xp=xp)
    return least_squares(r, start, BROWN_DENNIS_FUN, [BROWN_DENNIS_X], xp=xp)


# ----------------------------------------------------------------- MGH 17
OSBORNE1_Y = np.array(
    [
        0.844,
        0.908,
        0.932,
        0.936,
        0.925,
        0.908,
        0.881,
        0.850,
        0.818,
        0.784,
        0.751,
        0.718,
        0.685,
        0.658,
        0.628,
        0.603,
        0.580,
        0.558,
        0.538,
        0.522,
        0.506,
        0.490,
        0.478,
        0.467,
        0.457,
        0.448,
        0.438,
        0.431,
        0.424,
        0.420,
        0.414,
        0.411,
        0.406,
    ]
)


@register_problem(
    "osborne1",
    description="MGH 17, Osborne 1: f* = 5.46489e-5",
    formula="r_i = y_i - (x1 + x2 exp(-t_i x4) + x3 exp(-t_i x5)),  t_i = 10 (i - 1),  i = 1..33",
    parameters="x (5,)",
    options=NoOptions,
    backends=BOTH,
)
def osborne1(options: NoOptions, xp) -> Problem:
    t = 10.0 * np.arange(33, dtype=float)

    def r(x):
        return OSBORNE1_Y - (x[0] + x[1] * xp.exp(-t * x[3]) + x[2] * xp.exp(-t * x[4]))

    return least_squares(r, [0.5, 1.5, -1.0, 0.01, 0.02], OSBORNE1_FUN, [OSBORNE1_X], xp=xp)


# ----------------------------------------------------------------- MGH 18
class BiggsOptions(Options):
    m: int = Field(13, ge=6, le=100_000)


@register_problem(
    "biggs_exp6",
    description="MGH 18, Biggs EXP6: f* = 0 at (1, 10, 1, 5, 4, 3); a local minimum 5.65565e-3 (m = 13)",
    formula="r_i = x3 exp(-t_i x1) - x4 exp(-t_i x2) + x6 exp(-t_i x5) - y_i,  t_i = 0.1 i,  "
    "y_i = exp(-t_i) - 5 exp(-10 t_i) + 3 exp(-4 t_i),  i = 1..m",
    parameters="x (6,)",
    options=BiggsOptions,
    backends=BOTH,
)
def biggs_exp6(options: BiggsOptions, xp) -> Problem:
    t = 0.1 * np.arange(1, options.m + 1, dtype=float)
    y = np.exp(-t) - 5.0 * np.exp(-10.0 * t) + 3.0 * np.exp(-4.0 * t)

    def r(x):
        return x[2] * xp.exp(-t * x[0]) - x[3] * xp.exp(-t * x[1]) + x[5] * xp.exp(-t * x[4]) - y

    note = "the two exp terms with + sign can swap; the paper also reports a local minimum f = 5.65565e-3 for m = 13"
    return least_squares(
        r,
        [1.0, 2.0, 1.0, 1.0, 1.0, 1.0],
        0.0,
        [[1.0, 10.0, 1.0, 5.0, 4.0, 3.0], [4.0, 10.0, 3.0, 5.0, 1.0, 1.0]],
        note=note,
        xp=xp,
    )


# ----------------------------------------------------------------- MGH 20
class WatsonOptions(Options):
    n: int = Field(6, ge=2, le=31)


@register_problem(
    "watson",
    description="MGH 20, Watson: f* = 2.28767e-3 (n = 6), 1.39976e-6 (n = 9), 4.72238e-10 (n = 12)",
    formula="r_i = sum_{j=2..n} (j-1) x_j t_i^(j-2) - (sum_{j=1..n} x_j t_i^(j-1))^2 - 1,  t_i = i/29,  i = 1..29;  "
    "r30 = x1,  r31 = x2 - x1^2 - 1",
    parameters="x (n,)",
    options=WatsonOptions,
    backends=BOTH,
)
def watson(options: WatsonOptions, xp) -> Problem:
    n = options.n
    t = np.arange(1, 30, dtype=float) / 29.0
    powers = t[:, None] ** np.arange(n)  # t_i^(j-1), j = 1..n
    slopes = np.arange(1, n) * powers[:, : n - 1]  # (j-1) t_i^(j-2), j = 2..n

    def r(x):
        fit = xp.dot(slopes, x[1:]) - xp.dot(powers, x) ** 2 - 1.0
        return xp.concatenate([fit, xp.array([x[0], x[1] - x[0] ** 2 - 1.0])])

    if n not in WATSON:
        return least_squares(r, np.zeros(n), note=_unpublished(f"n = {n}", "n = 6, 9 and 12"), xp=xp)
    fun, x = WATSON[n]
    return least_squares(r, np.zeros(n), fun, [x], xp=xp)


# ----------------------------------------------------------------- MGH 21
class EvenOptions(Options):
    n: int = Field(10, ge=2, le=1_000_000)

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
    n: int = Field(12, ge=4, le=1_000_000)

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
        lambda x: _powell_blocks(x, xp), np.tile([3.0, -1.0, 0.0, 1.0], n // 4), 0.0, [np.zeros(n)], xp=xp
    )


# ----------------------------------------------------------------- MGH 23
class Penalty1Options(Options):
    n: int = Field(4, ge=1, le=1_000_000)


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
    n: int = Field(10, ge=1, le=1_000_000)


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


# ------------------------------------------------- the minimizers the paper does not print
# Polished to machine precision (tests/test_mgh.py redoes it); each f* rounds to the paper's.
JENNRICH_SAMPSON_FUN, JENNRICH_SAMPSON_X = 124.36218235561486, [0.25782521367036404, 0.2578252136703641]
BARD_FUN, BARD_X = 0.008214877306578985, [0.082410559749789, 1.1330360920297227, 2.3436951786425366]
GAUSSIAN_FUN, GAUSSIAN_X = 1.127932769619216e-08, [0.39895613783875666, 1.0000190844878056, 0.0]  # x3 = 0 by symmetry
# Meyer is so badly scaled that rounding alone leaves a gradient of 1e-3 near its minimizer: this is
# the float point (among its neighbours a few ulps away) where the gradient is smallest (4e-7)
MEYER_FUN, MEYER_X = 87.94585517072022, [0.005609636471028176, 6181.346346286353, 345.2236346241358]
KOWALIK_OSBORNE_FUN, KOWALIK_OSBORNE_X = (
    0.0003075056038492381,
    [0.1928069345790379, 0.19128232873436693, 0.12305650692632075, 0.1360623306837948],
)
BROWN_DENNIS_FUN, BROWN_DENNIS_X = (
    85822.20162635634,
    [-11.594439904762163, 13.203630051207202, -0.40343948817685954, 0.2367787744557362],
)
OSBORNE1_FUN, OSBORNE1_X = (
    5.464894697482793e-05,
    [0.3754100521069522, 1.9358469127123932, -1.464687136613449, 0.012867534640057339, 0.022122699661672504],
)
WATSON: dict[int, tuple[float, list[float]]] = {
    6: (
        0.002287670053552444,
        [
            -0.01572508640145847,
            1.0124348693691099,
            -0.23299162595673736,
            1.260430087799607,
            -1.5137289227222777,
            0.9929964324311333,
        ],
    ),
    9: (
        1.3997601381044563e-06,
        [
            -1.530703652138945e-05,
            0.9997897039319487,
            0.014763963693542681,
            0.14634232829951208,
            1.000821103004019,
            -2.617731140517348,
            4.104403164476662,
            -3.1436122785549534,
            1.052626408009759,
        ],
    ),
    12: (
        4.722381105316154e-10,
        [
            -6.638060466973116e-09,
            1.0000016441178612,
            -0.0005639322101906264,
            0.3478205405007555,
            -0.1567315040656331,
            1.0528151770527743,
            -3.2472711529895695,
            7.288434897037273,
            -10.271848240226962,
            9.074113646256167,
            -4.541375466348211,
            1.012011888490593,
        ],
    ),
}


# ------------------------------------------------------------------ the suite
register_suite(
    "mgh",
    [
        "rosenbrock",
        "freudenstein_roth",
        "powell_badly_scaled",
        "brown_badly_scaled",
        "beale",
        "jennrich_sampson",
        "helical_valley",
        "bard",
        "gaussian",
        "meyer",
        "box_3d",
        "powell_singular",
        "wood",
        "kowalik_osborne",
        "brown_dennis",
        "osborne1",
        "biggs_exp6",
        "watson",
        "extended_rosenbrock",
        "extended_powell",
        "penalty1",
        "variably_dimensioned",
        "trigonometric",
        "broyden_tridiagonal",
    ],
    description="Moré, Garbow & Hillstrom (ACM TOMS 1981): the 18 fixed-size problems and 6 of variable size, standard starts",
)
