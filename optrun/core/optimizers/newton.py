"""Newton's method with Levenberg-Marquardt damping and a gradient fallback.

Each update solves ``(H + lambda I) p = -g`` at the current point and steps
``step_size * p``:

* ``solver: cholesky`` forms the Hessian (``oracle.hessian``) and factorizes
  ``H + lambda I`` by Cholesky; ``solver: cg`` never forms it: conjugate
  gradients (``scipy.sparse.linalg.cg``) on a ``LinearOperator`` made of
  Hessian-vector products (``oracle.hvp``). Both count in the oracle's ``nhev``.
* ``lambda`` starts at ``damping`` (0: the pure Newton step). When the
  factorization fails (``H + lambda I`` is not positive definite; with CG:
  the solve meets negative curvature along one of its search directions,
  does not converge, or gives no descent direction), ``lambda`` is
  raised to ``max(lambda * damping_increase, min_damping)`` and the solve
  retried, at most ``max_damping_tries`` times.
* If no ``lambda`` worked (``max_damping_tries: 0`` falls back at once), the
  step is along the negative gradient, ``-step_size * g``.

On a convex quadratic, ``step_size: 1`` (the default) reaches the minimum in
one step.

``step_size`` and ``clip_grad_norm`` are the registry's generic transforms
(:mod:`optrun.core.optimizers`): ``step_size`` may be a schedule (update t
steps ``step_size(t) * p``), and with ``clip_grad_norm`` the solve uses the
clipped gradient, so ``p`` (linear in ``g``) shrinks by the same factor,
``clip_grad_norm / |g|``, as does the fallback step.

``solver: cholesky`` holds about ``DENSE_COPIES`` dense n x n float arrays at
once (the Hessian, its symmetrized copy, ``H + lambda I``, the factor). Before
the run starts, a size whose estimate exceeds ``MEMORY_FRACTION`` of the
available memory is refused (use ``solver: cg``), instead of swapping or
being killed mid-run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import Field

from optrun.core.errors import ConfigError
from optrun.core.optimizers import StepRule, register_optimizer
from optrun.core.optimizers.schedules import StepSize
from optrun.core.options import Options

DENSE_COPIES = 5  # n x n float64 arrays alive at once with solver: cholesky
MEMORY_FRACTION = 0.5  # of the available memory, at most, for them

# solve(lam, grad) -> p with (H + lam I) p = -g, or None if that failed
Solve = Callable[[float, np.ndarray], "np.ndarray | None"]


class NewtonOptions(Options):
    step_size: StepSize = Field(1.0, description="x <- x + step_size * p (a number or a schedule)")
    solver: Literal["cholesky", "cg"] = Field(
        "cholesky", description="cholesky: the full Hessian; cg: conjugate gradients on Hessian-vector products"
    )
    damping: float = Field(0.0, ge=0, description="lambda added to the Hessian's diagonal first")
    min_damping: float = Field(1e-3, gt=0, description="the smallest nonzero lambda tried after a failure")
    damping_increase: float = Field(10.0, gt=1, description="factor on lambda after a failure")
    max_damping_tries: int = Field(10, ge=0, le=100, description="raises of lambda before falling back to -g")
    cg_rtol: float = Field(1e-10, gt=0, lt=1, description="relative residual tolerance of CG (solver: cg)")
    cg_maxiter: int | None = Field(None, ge=1, description="CG iterations per solve (default: scipy's, 10 n)")
    clip_grad_norm: float | None = Field(None, gt=0, description="rescale the gradient to at most this 2-norm")


class NewtonState(NamedTuple):
    damping: float  # the lambda the last update used (nan if it fell back to -g)
    fallback: bool  # the last update stepped along -g


def _cholesky(options: NewtonOptions, oracle: Any, x: np.ndarray) -> Solve:
    hess = oracle.hessian(x)
    hess = 0.5 * (hess + hess.T)
    finite = bool(np.all(np.isfinite(hess)))
    eye = np.eye(x.size)

    def solve(lam, grad):
        if not finite:
            return None
        try:
            lower = np.linalg.cholesky(hess + lam * eye)
        except np.linalg.LinAlgError:
            return None
        return -np.linalg.solve(lower.T, np.linalg.solve(lower, grad))

    return solve


def _cg(options: NewtonOptions, oracle: Any, x: np.ndarray) -> Solve:
    from scipy.sparse.linalg import LinearOperator, cg

    n = x.size

    def solve(lam, grad):
        # CG multiplies the operator with its search directions v; v.(H + lam I)v <= 0 on any
        # of them is negative curvature: the damped Hessian is not positive definite
        lowest = [math.inf]

        def matvec(v):
            v = np.ravel(v)
            hv = oracle.hvp(x, v) + lam * v
            vv = float(v @ v)
            if vv > 0:
                lowest[0] = min(lowest[0], float(v @ hv) / vv)
            return hv

        op = LinearOperator((n, n), matvec=matvec, dtype=float)
        p, info = cg(op, -grad, rtol=options.cg_rtol, atol=0.0, maxiter=options.cg_maxiter)
        if info != 0 or not lowest[0] > 0 or not np.all(np.isfinite(p)) or (grad @ p >= 0 and grad.any()):
            return None
        return p

    return solve


SOLVERS: dict[str, Callable[[NewtonOptions, Any, np.ndarray], Solve]] = {"cholesky": _cholesky, "cg": _cg}


def available_memory() -> int:
    """Bytes this process can still allocate: MemAvailable, or less under a cgroup limit."""
    candidates = []
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    candidates.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            candidates.append(max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    if not candidates:
        try:
            candidates.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            return 1 << 62  # unknown: do not refuse
    return min(candidates)


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


def refuse_dense(n: int, copies: int, what: str, instead: str, path: str) -> None:
    """Refuse, before the run starts, a method that keeps ``copies`` dense
    n x n matrices when they cannot fit in the available memory."""
    need = copies * 8 * float(n) * float(n)
    available = available_memory()
    if need > MEMORY_FRACTION * available:
        raise ConfigError(
            f"{what} of the {n} free parameters: about {_bytes(need)} of working memory, "
            f"more than {MEMORY_FRACTION:.0%} of the {_bytes(available)} available; {instead}",
            path=path,
        )


def check_size(options: NewtonOptions, n: int) -> None:
    """Refuse a dense Hessian that cannot fit, before the run starts."""
    if options.solver == "cholesky":
        refuse_dense(
            n,
            DENSE_COPIES,
            f"cholesky forms the dense {n} x {n} Hessian",
            "use solver: cg (Hessian-vector products, no dense matrix) or a first-order optimizer",
            "optimizer.solver",
        )


@register_optimizer(
    "newton",
    options=NewtonOptions,
    description="Newton's method: (H + lambda I) p = -g with lambda raised until positive definite "
    "(Levenberg-Marquardt), else p = -g; x <- x + step_size * p",
    needs=("gradient", "Hessian"),
    check=check_size,
    transforms=("step_size", "clip_grad_norm"),
    reference="Nocedal & Wright, Numerical Optimization (2006), Algorithm 3.3 (Cholesky with added multiple "
    "of the identity; here lambda starts at damping and grows by damping_increase); solver: cg solves with "
    "scipy.sparse.linalg.cg on Hessian-vector products",
)
def newton(options: NewtonOptions, oracle) -> StepRule:
    prepare = SOLVERS[options.solver]

    def init(x0):
        return NewtonState(damping=options.damping, fallback=False)

    def update(grad, state, x, step_size):
        solve = prepare(options, oracle, x)
        lam = options.damping
        for _ in range(options.max_damping_tries + 1):
            p = solve(lam, grad)
            if p is not None:
                return step_size * p, NewtonState(damping=lam, fallback=False), step_size
            lam = max(lam * options.damping_increase, options.min_damping)
        return -step_size * grad, NewtonState(damping=math.nan, fallback=True), step_size

    return StepRule(init, update)
