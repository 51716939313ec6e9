"""A run's feasible region on its landscape plot (:mod:`optrun.plots.landscape`):
the box (a rectangle, or its finite sides as lines), each constraint's
boundary (c = 0, evaluated on the plot's own points through
:attr:`optrun.core.feasible.Constraint.flat`), and the infeasible side
shaded, with a legend entry naming each."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from optrun.plots.quiet import contained

if TYPE_CHECKING:
    from optrun.engine.prepare import Prepared

BOUNDARY_COLORS = ("tab:red", "magenta", "cyan", "yellow", "tab:brown", "lime")  # one per constraint, in order
SHADE = dict(colors=["white"], alpha=0.45, hatches=["//"])  # the infeasible side


def constraint_values(prep: Prepared, constraint: Any, points: np.ndarray) -> np.ndarray:
    """c at each row of ``points`` (free vectors): in one call (jax: vmapped)
    when that call gives what point-by-point calls give at a few of the
    points, else point by point; NaN where c raises. Contained as
    :func:`evaluate` is."""
    at = np.unique(np.linspace(0, len(points) - 1, 5).astype(int))  # the points checked one by one
    with contained():
        try:
            if prep.config.backend == "jax":
                import jax

                values = np.asarray(jax.jit(jax.vmap(constraint.flat))(points), dtype=float)
            else:
                values = np.asarray(constraint.flat(points.T), dtype=float)
            check = np.array([constraint.value(x) for x in points[at]])
            if values.shape == (len(points),) and np.allclose(values[at], check, rtol=1e-9, atol=1e-12, equal_nan=True):
                return values
        except Exception:  # not vectorised: a constraint that sums, a parameter of its own shape
            pass
        values = np.full(len(points), np.nan)
        for i, x in enumerate(points):
            try:
                values[i] = constraint.value(x)
            except Exception:  # outside c's domain: no boundary drawn there
                pass
    return values


EXTENT_GRID = 41  # points per axis of the coarse grid that looks for a bounded feasible region near the path


def region_extent(prep: Prepared, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The corners of the feasible points (in the box, every inequality met;
    an equality's curve is not looked for) of a coarse grid over [low, high],
    one cell wider; None when no point is feasible or the feasible points
    reach the grid's edge (a region unbounded or larger than the window:
    the plot's view does not grow for it)."""
    feasible = prep.feasible
    assert feasible is not None
    axes = [np.linspace(a, b, EXTENT_GRID if len(low) == 2 else 10 * EXTENT_GRID) for a, b in zip(low, high)]
    grids = np.meshgrid(*axes)
    points = np.stack([g.ravel() for g in grids], axis=1)
    ok = np.ones(len(points), dtype=bool)
    if feasible.box is not None:
        ok &= np.all((feasible.box.lower <= points) & (points <= feasible.box.upper), axis=1)
    for c in feasible.constraints:
        if c.type == "ineq":
            with np.errstate(invalid="ignore"):
                ok &= constraint_values(prep, c, points) >= 0  # (NaN: not feasible)
    inside = ok.reshape(grids[0].shape)
    edge = inside[[0, -1]].any() or (inside.ndim == 2 and inside[:, [0, -1]].any())
    if not ok.any() or edge:
        return None
    cell = (np.asarray(high) - np.asarray(low)) / (len(axes[0]) - 1)
    return points[ok].min(axis=0) - cell, points[ok].max(axis=0) + cell


def _bound_text(low: float, high: float, name: str) -> str:
    if np.isfinite(low) and np.isfinite(high):
        return f"{low:g} <= {name} <= {high:g}"
    return f"{name} >= {low:g}" if np.isfinite(low) else f"{name} <= {high:g}" if np.isfinite(high) else ""


def draw_region(ax: Any, prep: Prepared, points: np.ndarray, names: list[str]) -> list[Any]:
    """The run's box (a rectangle, or its finite sides as lines) and each
    constraint's boundary (c = 0 on the plot's points: the mesh's zero
    contour, a curve's crossings), the infeasible side shaded (hatched;
    an equality has no side); returns the legend entries, which name each.
    Artists carry a gid: ``box``, ``constraint <i>``, ``infeasible``."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    feasible, two = prep.feasible, points.shape[1] == 2
    assert feasible is not None
    n = math.isqrt(len(points)) if two else len(points)
    grid = [points[:, j].reshape(n, n) for j in (0, 1)] if two else [points[:, 0]]
    line: dict[str, Any] = dict(linewidth=2, zorder=2.3)
    handles: list[Any] = []
    outside: list[np.ndarray] = []  # outside: per point, > 0 where a box side or an inequality is violated
    box = feasible.box
    if box is not None:
        lo, hi = box.lower, box.upper
        outside += [lo[j] - grid[j] for j in range(len(grid))] + [grid[j] - hi[j] for j in range(len(grid))]
        if two and np.isfinite([*lo, *hi]).all():
            ax.add_patch(Rectangle(tuple(lo), *(hi - lo), fill=False, edgecolor="black", gid="box", **line))
        else:  # the finite sides, as lines across the plot
            for j, side in enumerate(np.stack([lo, hi], axis=1)):
                for value in side[np.isfinite(side)]:
                    (ax.axvline if j == 0 else ax.axhline)(value, color="black", gid="box", **line)
        text = ", ".join(filter(None, (_bound_text(lo[j], hi[j], names[j]) for j in range(len(grid)))))
        handles.append(Line2D([], [], color="black", linewidth=2, label=f"box: {text}"))
    for i, c in enumerate(feasible.constraints):
        color = BOUNDARY_COLORS[i % len(BOUNDARY_COLORS)]
        style: Any = "-" if c.type == "ineq" else "--"  # an equality: dashed (it has no infeasible side)
        values = constraint_values(prep, c, points).reshape(grid[0].shape)
        if c.type == "ineq":
            outside.append(-values)
        signs = np.sign(values[np.isfinite(values)])
        crosses = signs.size > 0 and signs.min() <= 0 <= signs.max() and signs.min() != signs.max()
        if crosses and two:
            contour = ax.contour(
                *grid, values, levels=[0.0], colors=[color], linestyles=style, linewidths=2, zorder=2.3
            )
            contour.set_gid(f"constraint {i}")  # (contour takes linewidths: older matplotlib warns at linewidth)
        elif crosses:  # a curve: c changes sign between neighbouring points
            changes = (np.sign(values[:-1]) != np.sign(values[1:])) & np.isfinite(values[:-1] + values[1:])
            for k in np.flatnonzero(changes):
                x0, x1, v0, v1 = grid[0][k], grid[0][k + 1], values[k], values[k + 1]
                at = x0 if v0 == 0 else x0 + (x1 - x0) * v0 / (v0 - v1)
                ax.axvline(at, color=color, linestyle=style, gid=f"constraint {i}", **line)
        label = f"{c.label} {'>=' if c.type == 'ineq' else '=='} 0"
        label = (label if len(label) <= 48 else label[:45] + "...") + ("" if crosses else " (no boundary in view)")
        handles.append(Line2D([], [], color=color, linestyle=style, linewidth=2, label=label))
    if outside:
        worst = np.fmax.reduce(outside)  # nan (c raised) counts as neither side
        if np.nanmax(worst, initial=-np.inf) > 0:
            if two:
                lows = [float(np.nanmin(-worst)) - 1.0, 0.0]
                ax.contourf(*grid, -worst, levels=lows, zorder=2.1, **SHADE).set_gid("infeasible")
            else:
                where = dict(where=worst > 0, transform=ax.get_xaxis_transform(), zorder=2.1)
                ax.fill_between(grid[0], 0, 1, color="gray", alpha=0.25, hatch="//", gid="infeasible", **where)
            handles.append(Patch(facecolor="white", edgecolor="gray", alpha=0.7, hatch="//", label="infeasible"))
    return handles
