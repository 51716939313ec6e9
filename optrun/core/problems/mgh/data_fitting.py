"""The Moré-Garbow-Hillstrom problems that fit a model to data points t_i
(and observations y_i, where the paper tabulates them): MGH 6, 8, 9, 10, 12,
15, 16, 17, 18 and 20.

The paper gives f* for these but not the minimizer: the minimizers at the
end of this module were polished to machine precision (Levenberg-Marquardt
from the standard start, then Gauss-Newton; ``tests/test_mgh.py`` redoes
it), and each f* is the value there, which agrees with every digit the paper
prints. Sizes for which the paper gives no f* have no reference, only a
note.

The data tables are laid out in rows between ``# fmt: off`` and
``# fmt: on``, so the formatter does not put one number per line.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from optrun.core.options import NoOptions, Options
from optrun.core.problems import Problem, register_problem
from optrun.core.problems.functions import BOTH
from optrun.core.problems.mgh.sum_of_squares import least_squares, unpublished


# ------------------------------------------------------------------ MGH 6
class JennrichSampsonOptions(Options):
    m: int = Field(10, ge=2, le=100_000, description="the number of residuals r_i, i = 1..m; f* is known for m = 10")


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
        return least_squares(r, [0.3, 0.4], note=unpublished(f"m = {options.m}", "m = 10"), xp=xp)
    return least_squares(r, [0.3, 0.4], JENNRICH_SAMPSON_FUN, [JENNRICH_SAMPSON_X], xp=xp)


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
# fmt: off
GAUSSIAN_Y = np.array([
    0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
    0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009,
])
# fmt: on


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
# fmt: off
MEYER_Y = np.array([
    34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0, 11540.0, 9744.0,
    8261.0, 7030.0, 6005.0, 5147.0, 4427.0, 3820.0, 3307.0, 2872.0,
])
# fmt: on


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
    m: int = Field(10, ge=3, le=100_000, description="the number of residuals, at t_i = 0.1 i, i = 1..m")


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
    m: int = Field(
        20, ge=4, le=100_000, description="the number of residuals, at t_i = i/5, i = 1..m; f* is known for m = 20"
    )


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
        return least_squares(r, start, note=unpublished(f"m = {options.m}", "m = 20"), xp=xp)
    return least_squares(r, start, BROWN_DENNIS_FUN, [BROWN_DENNIS_X], xp=xp)


# ----------------------------------------------------------------- MGH 17
# fmt: off
OSBORNE1_Y = np.array([
    0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751,
    0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490,
    0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406,
])
# fmt: on


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
    m: int = Field(13, ge=6, le=100_000, description="the number of residuals, at t_i = 0.1 i, i = 1..m")


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
    n: int = Field(
        6,
        ge=2,
        le=31,
        description="the length of x: the coefficients of a polynomial of degree n - 1; f* is known for n = 6, 9, 12",
    )


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
        return least_squares(r, np.zeros(n), note=unpublished(f"n = {n}", "n = 6, 9 and 12"), xp=xp)
    fun, x = WATSON[n]
    return least_squares(r, np.zeros(n), fun, [x], xp=xp)


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
# fmt: off
WATSON: dict[int, tuple[float, list[float]]] = {
    6: (0.002287670053552444, [
        -0.01572508640145847, 1.0124348693691099, -0.23299162595673736, 1.260430087799607,
        -1.5137289227222777, 0.9929964324311333,
    ]),
    9: (1.3997601381044563e-06, [
        -1.530703652138945e-05, 0.9997897039319487, 0.014763963693542681, 0.14634232829951208,
        1.000821103004019, -2.617731140517348, 4.104403164476662, -3.1436122785549534,
        1.052626408009759,
    ]),
    12: (4.722381105316154e-10, [
        -6.638060466973116e-09, 1.0000016441178612, -0.0005639322101906264, 0.3478205405007555,
        -0.1567315040656331, 1.0528151770527743, -3.2472711529895695, 7.288434897037273,
        -10.271848240226962, 9.074113646256167, -4.541375466348211, 1.012011888490593,
    ]),
}
# fmt: on
