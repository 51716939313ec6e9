"""Derivatives at a point: the automatic-differentiation half of the notebooks.

Library functions over a built :class:`~optrun.core.problems.Problem` and a
named point (a parameter mapping like the problem's start; names left out
keep the start, see :func:`point`):

- :func:`gradient`: f and the signed gradient, nested like the parameters;
- :func:`hessian`: the Hessian over the flattened parameters, labelled;
- :func:`derivatives`: f, f', ..., f^(K) in one scalar parameter
  (the backend's ``grad`` composed K times);
- :func:`fd_check`: forward and central differences for h = 1e-1 ... 1e-12
  (or the steps given; :func:`log_steps` spaces a range) against the
  autodiff gradient, per parameter entry (or along a seeded random
  direction when there are many): absolute and relative errors, the best h
  of each scheme and every entry's estimate there, the second difference
  against the Hessian's diagonal, the evaluations each needs, and a
  directional check grad . v against (f(x + hv) - f(x - hv)) / 2h;
- :func:`jacobian`, :func:`jvp`, :func:`vjp`: for a vector-valued problem
  (an ``expression`` with a list of formulas; a scalar problem is the
  1-row case): one forward-mode or reverse-mode product, and the Jacobian
  built column by column from n JVPs or row by row from m VJPs.

Every function differentiates with ``backend`` (an
:class:`optrun.core.backend.Backend`; default autograd), the one the problem
was built for: ``optrun grad`` passes the config's. Parameters are flattened
once, with the backend's ``ravel`` (``autograd.misc.flatten`` or jax's
``ravel_pytree``: dict keys sorted, the same order), so entries are labelled
by :func:`optrun.core.params.leaf_names` (``x``, ``w[0]``,
``layers[0].w[1,2]``). Results are small frozen dataclasses whose numbers
are plain floats and tuples (JSON-ready); bad input is a one-line
:class:`~optrun.core.errors.ConfigError` naming what is wrong and what is
allowed.

The modules, by what they compute (import the names from here):

- :mod:`~optrun.core.derivatives.results`: the result dataclasses;
- :mod:`~optrun.core.derivatives.flat`: the point, flattened once, and
  helpers the others share;
- :mod:`~optrun.core.derivatives.scalar`: gradient, Hessian, f..f^(K);
- :mod:`~optrun.core.derivatives.finite_differences`: the finite-difference check;
- :mod:`~optrun.core.derivatives.vector`: Jacobian, JVP, VJP;
- :mod:`~optrun.core.derivatives.cost`: the cost estimates and limits
  (``--order``, a Jacobian's passes) checked before the work starts.
"""

from optrun.core.derivatives.cost import GROWTH, MAX_ORDER_WORK, MAX_PASS_WORK, affordable_order, check_passes
from optrun.core.derivatives.finite_differences import MAX_FD_ENTRIES, MAX_STEPS, STEPS, fd_check, log_steps
from optrun.core.derivatives.flat import MAX_MATRIX, point
from optrun.core.derivatives.results import (
    Derivatives,
    DirectionalCheck,
    FDCheck,
    FDScheme,
    Gradient,
    Hessian,
    Jacobian,
    Product,
)
from optrun.core.derivatives.scalar import (
    MAX_ORDER,
    derivative_curves,
    derivative_operations,
    derivatives,
    gradient,
    hessian,
)
from optrun.core.derivatives.vector import jacobian, jvp, vjp

__all__ = [
    "GROWTH",
    "MAX_FD_ENTRIES",
    "MAX_MATRIX",
    "MAX_ORDER",
    "MAX_ORDER_WORK",
    "MAX_PASS_WORK",
    "MAX_STEPS",
    "STEPS",
    "Derivatives",
    "DirectionalCheck",
    "FDCheck",
    "FDScheme",
    "Gradient",
    "Hessian",
    "Jacobian",
    "Product",
    "affordable_order",
    "check_passes",
    "derivative_curves",
    "derivative_operations",
    "derivatives",
    "fd_check",
    "gradient",
    "hessian",
    "jacobian",
    "jvp",
    "log_steps",
    "point",
    "vjp",
]
