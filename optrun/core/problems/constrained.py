"""Problems with known constrained minima: Rosenbrock on a box and in the
unit disc, and Hock-Schittkowski problems 21, 35 and 71 (W. Hock and
K. Schittkowski, "Test Examples for Nonlinear Programming Codes", Lecture
Notes in Economics and Mathematical Systems 187, Springer 1981).

Each declares its own feasible set (``Problem(bounds=..., constraints=...)``,
SciPy's convention ``c(x) >= 0`` / ``c(x) == 0``) and its reference is the
constrained minimum. The minimizers below were polished to full precision
(Newton's method on the KKT system, in 40-digit arithmetic, and SciPy's SLSQP
at ftol 1e-16 as a cross-check); each comment gives the literature value and
how many digits agree. The formulas index from 0, as the constraint labels
and a config's ``expr`` do (the paper's x1 is x[0]).

The suite ``constrained`` lists all five.
"""

from __future__ import annotations

import numpy as np

from optrun.core.feasible import ConstraintSpec
from optrun.core.options import NoOptions
from optrun.core.problems import Problem, Reference, register_problem, register_suite
from optrun.core.problems.functions import BOTH


def _problem(
    f, start, fun: float, minimizer, bounds: list | None, constraints: tuple[ConstraintSpec, ...] = (), note: str = ""
) -> Problem:
    """One vector parameter ``x``: ``f(x)``, the start, the constrained minimum,
    bounds as one ``[low, high]`` pair per entry (None: open; ``bounds=None``: no box)
    and constraints on ``x``."""
    return Problem(
        objective=lambda p: f(p["x"]),
        start={"x": np.array(start, dtype=float)},
        reference=Reference(fun=fun, params=({"x": np.array(minimizer, dtype=float)},)),
        bounds={"x": bounds} if bounds is not None else {},
        constraints=constraints,
        note=note,
    )


def _on_x(fun):
    """A constraint of the vector ``x`` as a function of the parameters."""
    return lambda p: fun(p["x"])


def _rosenbrock(x):
    return 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2


# ------------------------------------------------------------ Rosenbrock, box
@register_problem(
    "rosenbrock-box",
    description="Rosenbrock on the box [-1.5, 0.5]^2: f* = 0.25 at (0.5, 0.25), on the side x[0] = 0.5",
    formula="f(x) = 100 (x[1] - x[0]^2)^2 + (1 - x[0])^2,  -1.5 <= x[0] <= 0.5,  -1.5 <= x[1] <= 0.5",
    parameters="x (2,)",
    options=NoOptions,
    backends=BOTH,
)
def rosenbrock_box(options: NoOptions, xp) -> Problem:
    # Exact: for x[0] <= 0.5, (1 - x[0])^2 >= 0.25 with equality only at x[0] = 0.5,
    # where x[1] = 0.25 zeroes the first term. The lower sides (-1.5) only make
    # the box finite, so that plots draw it. The start is the standard
    # (-1.2, 1) moved into the box: (-1.2, 0.5).
    return _problem(_rosenbrock, [-1.2, 0.5], 0.25, [0.5, 0.25], [[-1.5, 0.5], [-1.5, 0.5]])


# ----------------------------------------------------------- Rosenbrock, disc
@register_problem(
    "rosenbrock-disc",
    description="Rosenbrock in the unit disc: f* = 0.0456748 at (0.786415, 0.617698), on the circle",
    formula="f(x) = 100 (x[1] - x[0]^2)^2 + (1 - x[0])^2,  s.t. 1 - x[0]^2 - x[1]^2 >= 0",
    parameters="x (2,)",
    options=NoOptions,
    backends=BOTH,
)
def rosenbrock_disc(options: NoOptions, xp) -> Problem:
    # MathWorks' fmincon example ("Solve a Constrained Nonlinear Problem"):
    # f* = 0.045674824758137 at (0.786415, 0.617698). Polished: f* agrees to 6
    # significant digits (0.0456748), the minimizer to all 6 quoted; the
    # multiplier of the disc is 0.1214966 (> 0: active).
    return _problem(
        _rosenbrock,
        [0.0, 0.0],
        0.04567480871950023,
        [0.7864151541684278, 0.6176983125233935],
        None,
        (ConstraintSpec("ineq", _on_x(lambda x: 1.0 - x[0] ** 2 - x[1] ** 2), "1 - x[0]**2 - x[1]**2"),),
    )


# ----------------------------------------------------------------------- HS21
@register_problem(
    "hs21",
    description="Hock-Schittkowski 21: a quadratic, one linear inequality and a box; f* = -99.96 at (2, 0). "
    "The start (-1, -1) is outside the box (init.clip_to_bounds)",
    formula="f(x) = 0.01 x[0]^2 + x[1]^2 - 100,  s.t. 10 x[0] - x[1] - 10 >= 0,  2 <= x[0] <= 50,  -50 <= x[1] <= 50",
    parameters="x (2,)",
    options=NoOptions,
    backends=BOTH,
)
def hs21(options: NoOptions, xp) -> Problem:
    # Exact (the paper's f* = -99.96 at (2, 0)): only the lower side x[0] >= 2 is
    # active (multiplier 0.04); the inequality is 10 there. The paper's start
    # (-1, -1) is kept, outside the box on purpose.
    return _problem(
        lambda x: 0.01 * x[0] ** 2 + x[1] ** 2 - 100.0,
        [-1.0, -1.0],
        -99.96,
        [2.0, 0.0],
        [[2.0, 50.0], [-50.0, 50.0]],
        (ConstraintSpec("ineq", _on_x(lambda x: 10.0 * x[0] - x[1] - 10.0), "10*x[0] - x[1] - 10"),),
    )


# ----------------------------------------------------------------------- HS35
@register_problem(
    "hs35",
    description="Hock-Schittkowski 35 (Beale's): a convex quadratic, one linear inequality, x >= 0; "
    "f* = 1/9 at (4/3, 7/9, 4/9)",
    formula="f(x) = 9 - 8 x[0] - 6 x[1] - 4 x[2] + 2 x[0]^2 + 2 x[1]^2 + x[2]^2 + 2 x[0] x[1] + 2 x[0] x[2],  "
    "s.t. 3 - x[0] - x[1] - 2 x[2] >= 0,  x >= 0",
    parameters="x (3,)",
    options=NoOptions,
    backends=BOTH,
)
def hs35(options: NoOptions, xp) -> Problem:
    # Exact (the paper's f* = 1/9 at (4/3, 7/9, 4/9)): the inequality is active
    # with multiplier 2/9, the bounds are not.
    def f(x):
        return (
            9.0
            - 8.0 * x[0]
            - 6.0 * x[1]
            - 4.0 * x[2]
            + 2.0 * x[0] ** 2
            + 2.0 * x[1] ** 2
            + x[2] ** 2
            + 2.0 * x[0] * x[1]
            + 2.0 * x[0] * x[2]
        )

    return _problem(
        f,
        [0.5, 0.5, 0.5],
        1.0 / 9.0,
        [4.0 / 3.0, 7.0 / 9.0, 4.0 / 9.0],
        [[0.0, None]] * 3,
        (ConstraintSpec("ineq", _on_x(lambda x: 3.0 - x[0] - x[1] - 2.0 * x[2]), "3 - x[0] - x[1] - 2*x[2]"),),
    )


# ----------------------------------------------------------------------- HS71
@register_problem(
    "hs71",
    description="Hock-Schittkowski 71: a product inequality, a sphere equality and a box; "
    "f* = 17.0140173 at (1, 4.7430, 3.8211, 1.3794)",
    formula="f(x) = x[0] x[3] (x[0] + x[1] + x[2]) + x[2],  s.t. x[0] x[1] x[2] x[3] - 25 >= 0,  "
    "x[0]^2 + x[1]^2 + x[2]^2 + x[3]^2 - 40 == 0,  1 <= x <= 5",
    parameters="x (4,)",
    options=NoOptions,
    backends=BOTH,
)
def hs71(options: NoOptions, xp) -> Problem:
    # The paper: f* = 17.0140173 at (1, 4.7429994, 3.8211503, 1.3794082).
    # Polished: f* = 17.014017289156 agrees to all 9 published digits; the
    # minimizer to 7 significant digits in x[1] and x[2] (4.742999|6, 3.821150|0)
    # and all 8 in x[3]. Active: x[0] >= 1 (multiplier 1.0879), the inequality
    # (0.5523) and the equality (-0.1615).
    return _problem(
        lambda x: x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2],
        [1.0, 5.0, 5.0, 1.0],
        17.014017289156303,
        [1.0, 4.742999637264417, 3.8211499841848737, 1.3794082931726723],
        [[1.0, 5.0]] * 4,
        (
            ConstraintSpec("ineq", _on_x(lambda x: x[0] * x[1] * x[2] * x[3] - 25.0), "x[0]*x[1]*x[2]*x[3] - 25"),
            ConstraintSpec(
                "eq",
                _on_x(lambda x: x[0] ** 2 + x[1] ** 2 + x[2] ** 2 + x[3] ** 2 - 40.0),
                "x[0]**2 + x[1]**2 + x[2]**2 + x[3]**2 - 40",
            ),
        ),
    )


# ------------------------------------------------------------------ the suite
register_suite(
    "constrained",
    ["rosenbrock-box", "rosenbrock-disc", "hs21", "hs35", "hs71"],
    description="Problems with known constrained minima: Rosenbrock on a box and in the unit disc, "
    "Hock-Schittkowski 21, 35 and 71, from the published starts (rosenbrock-box's (-1.2, 1) and hs21's (-1, -1) "
    "lie outside their boxes: rosenbrock-box starts at (-1.2, 0.5), and a run of hs21 moves its start inside "
    "with init.clip_to_bounds)",
)
