"""The plots of a run with bounds or constraints (issue 34): the landscape
draws the box and each constraint's boundary (c = 0) with the infeasible
side shaded and a legend entry naming each, and its view holds the box or
the feasible region and the path; the loss plot adds the largest violation.
Checked on the drawn artists (their gids, data and paths), not pixels."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.path import Path as MplPath

import optrun
from optrun.config import load_config
from optrun.core.rundir import read_run
from optrun.engine.prepare import prepare
from optrun.plots import region
from optrun.plots.landscape import plot_landscape
from optrun.plots.runs import plot_loss

DISC = {"type": "ineq", "expr": "1 - x[0]**2 - x[1]**2"}
BOX = {"x": [[-1.5, 0.5], [-0.5, 1.5]]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two recorded runs (no plots): rosenbrock in a box with projected gd, and in the unit disc with SLSQP."""
    out = str(tmp_path_factory.mktemp("runs"))
    box = optrun.run(
        {
            "problem": "rosenbrock",
            "optimizer": {"name": "gd", "step_size": 1e-3},
            "bounds": BOX,
            "stop": {"max_iter": 300},
            "output": {"plots": False, "dir": out},
        }
    )
    disc = optrun.run(
        {
            "problem": "rosenbrock",
            "optimizer": "slsqp",
            "constraints": [DISC],
            "stop": {"max_iter": 100},
            "output": {"plots": False, "dir": out},
        }
    )
    return {"box": box.run_dir, "disc": disc.run_dir}


def landscape_of(config_or_dir):
    """The landscape drawn into a new figure's axes: (axes, the run read back, its Prepared)."""
    run = read_run(config_or_dir)
    prep = prepare(load_config(config_or_dir / "config.yaml"))
    ax = Figure(figsize=(7, 6)).add_subplot()
    assert plot_landscape(run, prep, None, ax)
    return ax, run, prep


def by_gid(ax, gid):
    return [a for a in [*ax.collections, *ax.patches, *ax.lines] if a.get_gid() == gid]


def shaded(contours, point) -> bool:
    """Whether the filled contour set covers ``point`` (even-odd over its rings: the box is a hole in the shading)."""
    rings = [ring for path in contours.get_paths() for ring in path.to_polygons()]
    return sum(MplPath(ring).contains_point(point) for ring in rings) % 2 == 1


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.mark.slow
def test_the_box_is_a_rectangle_its_outside_shaded_and_the_view_holds_it(runs):
    ax, run, _ = landscape_of(runs["box"])
    (rectangle,) = by_gid(ax, "box")
    assert rectangle.get_xy() == (-1.5, -0.5) and (rectangle.get_width(), rectangle.get_height()) == (2.0, 2.0)
    (shade,) = by_gid(ax, "infeasible")
    assert not any(shaded(shade, p) for p in [(0.0, 0.0), (-1.4, 1.4), (0.45, -0.45)])  # inside the box
    assert all(shaded(shade, p) for p in [(0.7, 0.0), (-1.7, 0.5), (0.0, 1.7), (0.0, -0.7)])  # beyond each side
    (x_low, x_high), (y_low, y_high) = ax.get_xlim(), ax.get_ylim()
    assert x_low < -1.5 and x_high > 0.5 and y_low < -0.5 and y_high > 1.5
    x0, x1 = run.trace["x[0]"], run.trace["x[1]"]  # the projected path: in the box, and in the view
    assert x0.min() >= -1.5 and x0.max() <= 0.5 and x1.min() >= -0.5 and x1.max() <= 1.5
    assert "box: -1.5 <= x[0] <= 0.5, -0.5 <= x[1] <= 1.5" in legend_texts(ax) and "infeasible" in legend_texts(ax)


@pytest.mark.slow
def test_the_disc_boundary_is_the_zero_contour_of_c_on_the_unit_circle(runs):
    ax, run, _ = landscape_of(runs["disc"])
    (boundary,) = by_gid(ax, "constraint 0")
    assert list(boundary.levels) == [0.0]
    vertices = np.vstack([path.vertices for path in boundary.get_paths()])
    radius = np.hypot(vertices[:, 0], vertices[:, 1])
    assert np.abs(radius - 1.0).max() < 2e-3  # c interpolated linearly on a ~0.03 mesh: within h^2 of the circle
    # the whole circle is in view (SLSQP's first steps, 200 units away, are left out: a note says so)
    assert vertices[:, 0].min() < -0.999 and vertices[:, 0].max() > 0.999 and vertices[:, 1].min() < -0.999
    assert any("2 far steps of the path out of view" in t.get_text() for t in ax.texts)
    (shade,) = by_gid(ax, "infeasible")
    assert not shaded(shade, (0.0, 0.0)) and not shaded(shade, (0.6, -0.6)) and shaded(shade, (-1.2, 1.0))
    assert "1 - x[0]**2 - x[1]**2 >= 0" in legend_texts(ax)
    end = run.trace["x[0]"][-1], run.trace["x[1]"][-1]  # the end, on the circle, in view
    (x_low, x_high), (y_low, y_high) = ax.get_xlim(), ax.get_ylim()
    assert x_low < end[0] < x_high and y_low < end[1] < y_high and np.hypot(*end) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.slow
def test_a_half_open_box_draws_its_finite_side_and_an_equality_a_dashed_line(tmp_path):
    result = optrun.run(
        {
            "problem": "rosenbrock",
            "optimizer": "slsqp",
            "bounds": {"x": [[None, None], [None, 0.9]]},
            "constraints": [{"type": "eq", "expr": "x[0] + x[1] - 1"}],
            "init": {"kind": "default", "clip_to_bounds": True},
            "stop": {"max_iter": 100},
            "output": {"plots": False, "dir": str(tmp_path)},
        }
    )
    ax, _, _ = landscape_of(result.run_dir)
    (side,) = by_gid(ax, "box")  # no rectangle: one horizontal line at x[1] = 0.9
    assert list(side.get_ydata()) == [0.9, 0.9]
    (line,) = by_gid(ax, "constraint 0")
    vertices = np.vstack([path.vertices for path in line.get_paths()])
    assert np.abs(vertices.sum(axis=1) - 1.0).max() < 1e-9  # x[0] + x[1] = 1 is linear: interpolated exactly
    (shade,) = by_gid(ax, "infeasible")  # above the side only (an equality has no infeasible side)
    assert shaded(shade, (0.0, 1.0)) and not shaded(shade, (0.0, 0.8)) and not shaded(shade, (2.0, 0.0))
    assert "box: x[1] <= 0.9" in legend_texts(ax) and "x[0] + x[1] - 1 == 0" in legend_texts(ax)


@pytest.mark.slow
def test_a_one_parameter_landscape_marks_the_sides_and_shades_beyond(tmp_path):
    result = optrun.run(
        {
            "problem": {"name": "expression", "expr": "(x - 2)**2", "params": {"x": -1.0}},
            "optimizer": "slsqp",
            "bounds": {"x": [-1.5, None]},
            "constraints": [{"type": "ineq", "expr": "0.5 - x"}],
            "output": {"plots": False, "dir": str(tmp_path)},
        }
    )
    ax, _, _ = landscape_of(result.run_dir)
    assert [list(line.get_xdata()) for line in by_gid(ax, "box")] == [[-1.5, -1.5]]
    (crossing,) = by_gid(ax, "constraint 0")
    assert crossing.get_xdata()[0] == pytest.approx(0.5, abs=1e-12)  # 0.5 - x is linear: interpolated exactly
    (shade,) = by_gid(ax, "infeasible")
    (x_low, x_high) = ax.get_xlim()
    assert x_low < -1.5 and x_high > 0.5  # both sides in view
    covered = np.vstack([path.vertices for path in shade.get_paths()])[:, 0]
    assert covered.min() < -1.5 and covered.max() > 0.5 and not ((covered > -1.49) & (covered < 0.49)).any()


def test_constraint_values_vectorised_or_point_by_point_agree_with_c():
    def prep_of(expr):
        config = {"problem": "rosenbrock", "optimizer": "slsqp", "constraints": [{"type": "ineq", "expr": expr}]}
        prep = prepare(load_config(config))
        return prep, prep.feasible.constraints[0]

    points = np.random.default_rng(0).uniform(-2, 2, size=(500, 2))
    expected = 1 - points[:, 0] ** 2 - points[:, 1] ** 2
    assert np.allclose(region.constraint_values(*prep_of(DISC["expr"]), points), expected, rtol=1e-12, atol=1e-12)
    # one call on the mesh would sum every point's squares: evaluated point by point instead
    assert np.allclose(region.constraint_values(*prep_of("1 - sum(x**2)"), points), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_the_loss_plot_of_a_constrained_run_has_a_violation_panel(runs, drawn, tmp_path):
    run = read_run(runs["disc"])
    assert plot_loss(run, tmp_path / "loss.png")
    (fig,) = drawn
    panel = fig.axes[2]
    assert panel.get_ylabel() == "largest violation" and panel.get_yscale() == "log"
    violation = run.trace["violation"]
    curve = next(line for line in panel.lines if line.get_label() == "largest violation")
    positive = violation > 0
    assert np.array_equal(curve.get_ydata()[positive], violation[positive])
    assert (curve.get_ydata()[~positive] < violation[positive].min()).all()  # 0 drawn at a floor below every value
    tol = next(line for line in panel.lines if line.get_label().startswith("feasibility_tol"))
    assert list(tol.get_ydata()) == [1e-6, 1e-6]
    box = read_run(runs["box"])
    drawn.clear()
    assert plot_loss(box, tmp_path / "box-loss.png")
    assert len(drawn[0].axes) == 2  # bounds alone: no violation column, no third panel


@pytest.mark.slow
def test_a_box_far_wider_than_the_path_does_not_shrink_the_view(tmp_path):
    """bounds of +-1000 (or +-1e300) around a path 2 units wide: the view is the path's, not the box's."""
    for side in (1e3, 1e300):
        result = optrun.run(
            {
                "problem": "rosenbrock",
                "optimizer": "lbfgs",
                "bounds": {"x": [-side, side]},
                "output": {"plots": False, "dir": str(tmp_path)},
            }
        )
        ax, _, _ = landscape_of(result.run_dir)
        (low, high), (bottom, top) = ax.get_xlim(), ax.get_ylim()
        assert -3 < low < -1.2 and 1 < high < 3 and -1 < bottom < 0 and 1 < top < 3, (
            side,
            ax.get_xlim(),
            ax.get_ylim(),
        )
