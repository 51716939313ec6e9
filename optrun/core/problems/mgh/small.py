"""The Moré-Garbow-Hillstrom problems of fixed size with no data: MGH 2, 3,
4, 7, 13 and 14 (2 to 4 variables, a few residuals written out one by one).

Powell's singular residuals (:func:`powell_blocks`) are also the blocks of
the extended Powell function in :mod:`~optrun.core.problems.mgh.variable_size`.
"""

from __future__ import annotations

import numpy as np

from optrun.core.options import NoOptions
from optrun.core.problems import Problem, register_problem
from optrun.core.problems.functions import BOTH
from optrun.core.problems.mgh.sum_of_squares import least_squares


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


# ----------------------------------------------------------------- MGH 13
def powell_blocks(x, xp):
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
    return least_squares(lambda x: powell_blocks(x, xp), [3.0, -1.0, 0.0, 1.0], 0.0, [np.zeros(4)], xp=xp)


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
