"""The benchmark views of ``optrun bench``, computed (NumPy only; drawn by
:mod:`optrun.plots.bench`).

Costs are arrays of shape (problems, solvers): the cost (evaluations, or
seconds) solver s needed to reach a target on problem p, ``inf`` when it
never did. A "problem" here is one instance: a (problem, start) pair.

- Performance profile (Dolan & Moré, Math. Program. 91, 2002): the ratio
  r[p, s] = t[p, s] / min_s t[p, s], and rho_s(alpha) = the fraction of
  problems with r[p, s] <= alpha. A problem no solver solved gives ``inf``
  for every solver. A solver that cannot run a problem (bench.csv status
  ``not_applicable``: it cannot take the problem's bounds or constraints)
  has no cost there, so ``inf``: the problem stays in its denominator and
  counts as not solved, as Dolan & Moré count a failure (r = r_M); a run
  with bounds or constraints reaches a target only at a feasible point
  (:mod:`optrun.engine.bench_csv`).
- Data profile (Moré & Wild, SIAM J. Optim. 20, 2009): d_s(kappa) = the
  fraction of problems with t[p, s] / (n_p + 1) <= kappa, the cost counted
  in simplex gradients (n_p + 1 evaluations), Moré and Wild's unit. The
  evaluations are the trace's ``nfev``, function values as SciPy counts them
  (README, "How evaluations are counted"): a gradient (``njev``) is not
  counted, as in Moré and Wild's derivative-free setting, so a gradient
  method's cost is its f evaluations; the bench's ``budget.max_fev`` caps the
  same count.
- Runtime ECDF (Hansen et al., COCO): the fraction of (problem, target)
  pairs a solver reached within a budget, the costs pooled over problems
  and targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def target_name(tau: float) -> str:
    """How a target names its bench.csv columns: 0.1, 0.001, 1e-06."""
    return f"{tau:g}"


def cost_matrix(rows: list[dict[str, Any]], optimizers: Sequence[str], column: str):
    """From bench.csv's rows: the (instances, optimizers) costs of one nfev_to_/time_to_ column (inf:
    not reached, or no row), with the instances (problem, start) and their dimensions."""
    instances = sorted({(r["problem"], r["start"]) for r in rows}, key=lambda key: (key[0], key[1]))
    index = {key: i for i, key in enumerate(instances)}
    solver = {name: j for j, name in enumerate(optimizers)}
    costs = np.full((len(instances), len(optimizers)), np.inf)
    dims = np.ones(len(instances))
    for r in rows:
        i = index[(r["problem"], r["start"])]
        dims[i] = r["dimension"] or 1
        if r["optimizer"] in solver and r.get(column) is not None:
            costs[i, solver[r["optimizer"]]] = r[column]
    return costs, dims, instances


def performance_ratios(costs: np.ndarray) -> np.ndarray:
    """r[p, s] = t[p, s] / min over solvers of t[p, s]; ``inf`` where the
    solver failed (and for every solver on a problem none solved). A cost
    of 0 (a time of 0 s: a start already at the target) counts as the
    smallest positive cost in ``costs``, so ratios stay finite."""
    costs = np.asarray(costs, dtype=float)
    if costs.ndim != 2:
        raise ValueError(f"costs must be a (problems, solvers) array, got shape {costs.shape}")
    positive = costs[np.isfinite(costs) & (costs > 0)]
    costs = np.maximum(costs, positive.min() if positive.size else 1.0)
    ratios = np.full(costs.shape, np.inf)
    for p, row in enumerate(costs):
        finite = np.isfinite(row)
        if finite.any():
            ratios[p, finite] = row[finite] / row[finite].min()
    return ratios


def fraction_at_most(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each column of ``values`` (problems, solvers) and each threshold,
    the fraction of rows with value <= threshold: shape (thresholds, solvers)."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    thresholds = np.asarray(thresholds, dtype=float)
    if values.shape[0] == 0:
        return np.zeros((thresholds.size, values.shape[1]))
    return (values[None, :, :] <= thresholds[:, None, None]).mean(axis=1)


def performance_profile(costs: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """rho_s(alpha) for each alpha: shape (alphas, solvers)."""
    return fraction_at_most(performance_ratios(costs), alphas)


def data_profile(costs: np.ndarray, dims: np.ndarray, kappas: np.ndarray) -> np.ndarray:
    """d_s(kappa) for each kappa (in simplex gradients): shape (kappas, solvers)."""
    costs = np.asarray(costs, dtype=float)
    dims = np.asarray(dims, dtype=float)
    return fraction_at_most(costs / (dims[:, None] + 1.0), kappas)


def runtime_ecdf(costs: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """The fraction of entries of ``costs`` (any shape but the last axis,
    the solvers) at most each budget: shape (budgets, solvers)."""
    costs = np.asarray(costs, dtype=float)
    return fraction_at_most(costs.reshape(-1, costs.shape[-1]), budgets)


def breakpoints(values: np.ndarray, low: float | None = None) -> np.ndarray:
    """The sorted distinct finite values (from ``low`` on): where a profile
    steps, so evaluating there draws it exactly."""
    values = np.asarray(values, dtype=float).ravel()
    points = np.unique(values[np.isfinite(values)])
    if low is not None:
        points = np.unique(np.concatenate([[low], points[points >= low]]))
    return points


def target_costs(f: np.ndarray, cost: np.ndarray, threshold: float) -> float:
    """The cost at the first trace row whose f is at most ``threshold`` (``inf`` if none)."""
    f = np.asarray(f, dtype=float)
    hit = np.flatnonzero(np.isfinite(f) & (f <= threshold))
    return float(cost[hit[0]]) if hit.size else float("inf")


def threshold(tau: float, f_star: float | None, f0: float | None, f_low: float | None) -> float | None:
    """The f a run must reach for target ``tau``: f* + tau max(1, |f*|) when
    f* is known; else f_L + tau (f0 - f_L), Moré & Wild's convergence test
    (f0 the start's value, f_L the lowest f any run of the instance found);
    None when neither can be defined."""
    if f_star is not None and np.isfinite(f_star):
        return float(f_star + tau * max(1.0, abs(f_star)))
    if f0 is None or f_low is None or not (np.isfinite(f0) and np.isfinite(f_low)):
        return None
    return float(f_low + tau * (f0 - f_low))
