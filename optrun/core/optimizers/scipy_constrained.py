"""SciPy's methods for bounded and constrained problems: TNC, SLSQP and trust-constr.

They run like every SciPy method here (:mod:`optrun.core.optimizers.scipy_methods`:
SciPy's own loop in a worker thread, one iterate per runner iteration, SciPy's
counts), with the run's bounds and constraints (``oracle.feasible``) passed
through as ``scipy.optimize.Bounds`` and SciPy's constraint dicts, whose
Jacobians come from the backend. trust-constr also gets the objective's
Hessian-vector products from the backend; the constraints' Hessians are
SciPy's own quasi-Newton (BFGS) estimates, as for any constraint given as a dict.
"""

from __future__ import annotations

from pydantic import Field

from optrun.core.optimizers.scipy_methods import _register
from optrun.core.options import Options


class TNCOptions(Options):
    gtol: float = Field(
        1e-10, ge=0, description="SciPy's gtol: stop when the projected gradient's largest entry is at most this"
    )
    ftol: float = Field(0.0, ge=0, description="SciPy's ftol: stop when the change in f is at most this (0: off)")
    xtol: float = Field(0.0, ge=0, description="SciPy's xtol: stop when the change in x is at most this (0: off)")


class SLSQPOptions(Options):
    ftol: float = Field(1e-10, gt=0, description="SciPy's ftol: the accuracy of f that ends the run (SLSQP's acc)")


class TrustConstrOptions(Options):
    gtol: float = Field(
        1e-10, gt=0, description="SciPy's gtol: stop when the Lagrangian's gradient norm is at most this"
    )
    xtol: float = Field(1e-10, gt=0, description="SciPy's xtol: stop when the trust radius is below this")
    barrier_tol: float = Field(
        1e-10, gt=0, description="SciPy's barrier_tol: the barrier parameter that ends the interior-point phase"
    )
    initial_tr_radius: float = Field(1.0, gt=0, description="the trust region's first radius")


_register(
    "tnc",
    "TNC",
    TNCOptions,
    ("gradient",),
    "SciPy TNC: truncated Newton with bounds",
    fev_limit="maxfun",
    iter_limit=None,
    stall_status=None,
    bounds=True,
    counting="TNC has no iteration limit in SciPy: the runner's max_iter rule stops it",
)
_register(
    "slsqp",
    "SLSQP",
    SLSQPOptions,
    ("gradient",),
    "SciPy SLSQP: sequential least squares programming, with bounds and constraints",
    stall_status=None,
    bounds=True,
    constraints=True,
)
_register(
    "trust-constr",
    "trust-constr",
    TrustConstrOptions,
    ("gradient", "hessp"),
    "SciPy trust-constr: trust-region SQP / interior point, with bounds and constraints",
    stall_status=None,
    bounds=True,
    constraints=True,
)
