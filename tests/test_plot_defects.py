"""Issue 30, point 5: the plot defects, each read back from the drawn figure
(its lines, legend, axis scale, tick labels and their boxes as the renderer
placed them)."""

import re
from pathlib import Path

import numpy as np
import pytest
from test_plots import outside_figure

import optrun
from optrun.core.problems import PROBLEMS, Problem, Reference, register_problem
from optrun.core.rundir import read_run

pytestmark = pytest.mark.slow  # every test draws figures with matplotlib

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def renderer_of(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.canvas.draw()
    return (fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)).get_renderer()


def titled(figures, words):
    [fig] = [f for f in figures if any(words in ax.get_title() for ax in f.axes)]
    return fig, next(ax for ax in fig.axes if words in ax.get_title())


def tick_labels(ax, which, renderer):
    """The visible tick labels of one axis (major and minor) and their boxes, in view."""
    axis = getattr(ax, f"{which}axis")
    low, high = sorted(axis.get_view_interval())
    ticks = [*axis.get_major_ticks(), *axis.get_minor_ticks()]
    found = []
    for tick in ticks:
        if tick.label1.get_visible() and tick.label1.get_text() and low <= tick.get_loc() <= high:
            found.append((tick.label1.get_text(), tick.label1.get_window_extent(renderer)))
    return found


def overlapping(boxes):
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1 :] if box_a.overlaps(box_b)]


def test_params_of_the_network_config_are_one_line_per_array_each_in_its_own_colour(workdir, drawn):
    from matplotlib.colors import to_rgba

    optrun.run(CONFIGS / "mlp-gd.yaml", ["stop.max_iter=20"])
    fig, ax = titled(drawn, "parameter")
    lines = ax.get_legend().get_lines()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["‖layers[0].b‖ (10)", "‖layers[0].w‖ (20)", "‖layers[1].b‖ (1)", "‖layers[1].w‖ (10)"]
    assert len({to_rgba(line.get_color()) for line in lines}) == len(lines)
    assert "41 parameters in 4 arrays" in ax.get_title()
    trace = read_run(next((workdir / "outputs" / "mlp-gd").iterdir())).trace
    w0 = np.array([trace[f"layers[0].w[{i},{j}]"] for i in range(2) for j in range(10)])
    [curve] = [line for line in ax.get_lines() if line.get_label() == "‖layers[0].w‖ (20)"]
    np.testing.assert_allclose(curve.get_ydata(), np.sqrt((w0**2).sum(axis=0)), rtol=1e-12)
    legend = ax.get_legend().get_window_extent(renderer_of(fig))
    assert legend.x0 >= ax.get_window_extent().x1  # beside the axes, not over the curves
    assert outside_figure(fig) == ([], [])


def test_twelve_parameter_paths_have_twelve_colours(workdir, drawn):
    from matplotlib.colors import to_rgba

    optrun.run({"problem": {"name": "trid", "dim": 12}, "optimizer": "gd", "stop": {"max_iter": 5}})
    fig, ax = titled(drawn, "parameter paths")
    assert len({to_rgba(line.get_color()) for line in ax.get_lines()}) == 12
    assert outside_figure(fig) == ([], [])


def compare_axes(runs):
    from optrun.plots.compare import draw_compare
    from optrun.plots.figures import subplots

    fig, ax = subplots(figsize=(9, 5.5), layout="constrained")
    draw_compare(runs, ax)
    renderer_of(fig)
    return fig, ax


def test_a_compare_of_different_problems_scales_each_run_with_no_offset(workdir):
    network = optrun.run(CONFIGS / "mlp-gd.yaml", ["stop.max_iter=30", "output.plots=false"])
    trid = optrun.run({"problem": "trid", "optimizer": "gd", "stop": {"max_iter": 30}, "output": {"plots": False}})
    runs = [read_run(network.run_dir), read_run(trid.run_dir)]
    _, ax = compare_axes(runs)
    assert ax.yaxis.get_offset_text().get_text() == ""
    for run, line in zip(runs, ax.get_lines()):
        f = run.trace["f"]
        np.testing.assert_allclose(line.get_ydata(), (f - f.min()) / (f[0] - f.min()), rtol=1e-12)
    assert "f₀" in ax.get_ylabel()


def test_a_same_problem_compare_names_a_step_size_that_is_a_number_in_one_run_and_a_schedule_in_the_other(workdir):
    base = {"problem": "trid", "stop": {"max_iter": 20}, "output": {"plots": False}}
    plain = optrun.run({**base, "optimizer": {"name": "gd", "step_size": 0.1}})
    scheduled = optrun.run(
        {**base, "optimizer": {"name": "gd", "step_size": {"schedule": "cosine", "value": 0.05, "decay_steps": 20}}}
    )
    fig, ax = compare_axes([read_run(plain.run_dir), read_run(scheduled.run_dir)])
    first, second = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "step_size=0.1" in first and "step_size={schedule: cosine" in second.replace("\n", " ")
    assert outside_figure(fig) == ([], [])


@pytest.fixture
def offset_problem():
    """f = 1234567.891 + 1000 (x^2 + y^2): colour-bar tick labels as wide as 1234567.891 allows."""

    @register_problem("test_wide_colorbar", description="wide", formula="c + x^2 + y^2", parameters="x, y")
    def build(options):
        return Problem(
            objective=lambda p: 1234567.891 + 1000 * (p["x"] ** 2 + p["y"] ** 2),
            start={"x": 1.0, "y": -2.0},
            reference=Reference(1234567.891, ({"x": 0.0, "y": 0.0},)),
        )

    yield "test_wide_colorbar"
    PROBLEMS.unregister("test_wide_colorbar")


def test_the_colour_bar_label_stays_inside_the_figure_with_wide_tick_labels(workdir, drawn, offset_problem):
    optrun.run({"problem": offset_problem, "optimizer": {"name": "gd", "step_size": 1e-4}, "stop": {"max_iter": 20}})
    fig, _ = titled(drawn, "landscape")
    assert len(fig.axes) == 2  # the plane and its colour bar
    labels = [ax.title.get_text() for ax in fig.axes[1:]] + [fig.axes[1].get_ylabel()]
    assert "f" in labels
    assert outside_figure(fig) == ([], [])
    renderer = renderer_of(fig)
    bar = fig.axes[1]
    offset = bar.yaxis.get_offset_text()
    assert offset.get_text()  # the case drawn: tick labels with an offset above the bar
    assert not bar.title.get_window_extent(renderer).overlaps(offset.get_window_extent(renderer))


def sweep_figure(monkeypatch, tmp_path, steps, gaps):
    import optrun.plots.figures as figures
    from optrun.plots.sweep import plot_sweep

    made = []
    original = figures.subplots
    monkeypatch.setattr(figures, "subplots", lambda *a, **k: (made.append(original(*a, **k)), made[-1])[1])
    rows = [
        {"status": "max_iter", "optimizer.step_size": s, "seed": 0, "f": 1.0 + g, "gap": g, "run_dir": None}
        for s, g in zip(steps, gaps)
    ]
    assert plot_sweep(rows, ["optimizer.step_size"], tmp_path / "sweep.png")
    fig, axes = made[0]
    return fig, axes[0][0]


@pytest.mark.parametrize(
    "steps, gaps",
    [
        (np.linspace(0.01, 0.03, 9), np.linspace(0.19, 0.21, 9)),  # within a factor of 3: no decade in view
        (np.geomspace(0.004, 0.3, 9), np.geomspace(0.3, 20, 9)),  # under three decades
    ],
)
def test_a_narrow_log_sweep_has_three_or_more_tick_labels_in_one_format_none_overlapping(
    workdir, monkeypatch, steps, gaps
):
    fig, ax = sweep_figure(monkeypatch, workdir, steps, gaps)
    renderer = renderer_of(fig)
    for which in "xy":
        labels = tick_labels(ax, which, renderer)
        texts = [text for text, _ in labels]
        assert len(labels) >= 3, (which, texts)
        assert overlapping(labels) == [], which
        assert not any("×" in t or "⁻" in t for t in texts), texts  # no powers of ten among plain numbers
        decimals = {len(t.split(".")[1]) if "." in t else 0 for t in texts}
        assert len(decimals) == 1, texts
        values = [float(t) for t in texts]
        ticks = sorted(tick.get_loc() for tick in getattr(ax, f"{which}axis").get_major_ticks())
        np.testing.assert_allclose(values, [t for t in ticks if float(f"{t:.6g}") in values], rtol=1e-9)
    assert outside_figure(fig) == ([], [])


def test_a_wide_log_axis_keeps_its_decade_labels():
    from optrun.plots.figures import log_scale, subplots

    fig, ax = subplots(figsize=(6, 4))
    ax.plot([0, 1], [1e-8, 1e2])
    log_scale(ax)
    labels = [text for text, _ in tick_labels(ax, "y", renderer_of(fig))]
    # at the decades (every one, or every other: matplotlib's choice for the axis' height)
    assert len(labels) >= 3 and all(re.fullmatch("10[⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]", label) for label in labels), labels


def test_the_zero_gap_note_is_in_a_legend_off_the_curve(workdir, drawn):
    optrun.run({"problem": "sum_of_squares", "optimizer": {"name": "gd", "step_size": 0.5}, "stop": {"max_iter": 50}})
    fig, ax = titled(drawn, "objective")
    legend = ax.get_legend()
    assert any("f - f* = 0 reached at iteration 1" in t.get_text() for t in legend.get_texts())
    assert not any("= 0 reached" in t.get_text() for t in ax.texts)
    renderer = renderer_of(fig)
    box = legend.get_window_extent(renderer)
    [curve] = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    points = ax.transData.transform(curve.get_xydata())
    assert not any(box.contains(x, y) for x, y in points)


@pytest.fixture
def high_reference():
    """f = (x - 1)^2 with f* said to be 1e-12: f ends a hair below the f* it is told."""

    @register_problem("test_high_reference", description="f* too high", formula="(x - 1)^2", parameters="x")
    def build(options):
        return Problem(
            objective=lambda p: (p["x"] - 1.0) ** 2, start={"x": 3.0}, reference=Reference(1e-12, ({"x": 1.0},))
        )

    yield "test_high_reference"
    PROBLEMS.unregister("test_high_reference")


def test_negative_gaps_are_marked_and_said(workdir, drawn, high_reference):
    result = optrun.run(
        {"problem": high_reference, "optimizer": {"name": "gd", "step_size": 0.25}, "stop": {"max_iter": 40}}
    )
    gap = read_run(result.run_dir).trace["gap"]
    below = gap < 0
    assert below.any()
    _, ax = titled(drawn, "objective")
    [marks] = [line for line in ax.get_lines() if line.get_marker() == "^"]
    assert marks.get_xydata()[:, 1].tolist() == np.abs(gap[below]).tolist()
    said = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(f"f < f* at {int(below.sum())} iterations" in t and "|f - f*| drawn" in t for t in said), said


def test_a_run_with_a_held_parameter_says_so_and_which_f_star_its_gap_is_to(workdir, drawn):
    optrun.run(CONFIGS / "goldfield-fix-y.yaml", ["stop.max_iter=30"])
    loss, ax = titled(drawn, "objective")
    assert "held fixed: y = 1.2" in ax.get_title()
    assert "every parameter free" in ax.get_ylabel()
    params, ax_p = titled(drawn, "parameter paths")
    assert "held fixed: y = 1.2" in ax_p.get_title()
    for fig in (loss, params):
        assert outside_figure(fig) == ([], [])


def test_a_compare_says_which_gaps_are_drawn_at_the_floor(workdir):
    zero = optrun.run(
        {"problem": "sum_of_squares", "optimizer": {"name": "gd", "step_size": 0.5}, "stop": {"max_iter": 5}}
    )
    positive = optrun.run({"problem": "booth", "optimizer": "gd", "stop": {"max_iter": 5}, "output": {"plots": False}})
    fig, ax = compare_axes([read_run(zero.run_dir), read_run(positive.run_dir)])
    floor = min(line.get_ydata().min() for line in ax.get_lines())
    assert f"f - f* = 0 in 1 run, drawn at {floor:.3g}" in ax.get_title()
    assert outside_figure(fig) == ([], [])
