"""Plots: valid, non-blank PNGs of the expected size, for finished,
interrupted and killed runs, redrawn by `optrun plot`; SVG and PDF plots
(output.plot_format, compare --out) drawn from the run's data."""

import os
import re
import signal

import numpy as np
import pytest
from typer.testing import CliRunner

import optrun
from optrun.cli import app
from optrun.core.problems import PROBLEMS, Problem, Reference, register_problem
from optrun.plots.figures import log_safe_gap
from optrun.plots.runs import draw_run_plots

pytestmark = pytest.mark.slow  # every test draws PNGs with matplotlib: not in the fast subset (pytest -m "not slow")

SIZES = {"loss.png": (600, 800), "params.png": (500, 800), "fit.png": (600, 700)}


def image(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path)


def assert_real_plot(path, size=None):
    pixels = image(path)
    if size:
        assert pixels.shape[:2] == size, (path.name, pixels.shape)
    rgb = pixels[..., :3]
    assert rgb.std() > 0.03, f"{path.name} looks blank"
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50, f"{path.name} has almost no content"


def pngs(run_dir):
    return sorted(p.name for p in run_dir.glob("*.png"))


def run(config, *overrides):
    return optrun.run(config, list(overrides))


def test_two_parameter_problem_gets_every_plot(workdir):
    result = run({"problem": "himmelblau", "optimizer": {"name": "adam", "step_size": 0.05}, "stop": {"max_iter": 300}})
    assert pngs(result.run_dir) == ["landscape.png", "loss.png", "params.png"]
    assert_real_plot(result.run_dir / "loss.png", SIZES["loss.png"])
    assert_real_plot(result.run_dir / "params.png", SIZES["params.png"])
    assert_real_plot(result.run_dir / "landscape.png", (600, 700))


def test_one_parameter_landscape_and_a_two_vector(workdir):
    curve = run({"problem": "polynomial", "optimizer": {"name": "gd", "step_size": 0.05}, "stop": {"max_iter": 50}})
    assert_real_plot(curve.run_dir / "landscape.png", (500, 800))
    vector = run({"problem": "rosenbrock", "optimizer": "lbfgs", "stop": {"max_iter": 50}})
    assert_real_plot(vector.run_dir / "landscape.png", (600, 700))


def test_no_landscape_beyond_two_free_parameters(workdir):
    result = run({"problem": {"name": "trid", "dim": 3}, "optimizer": "gd", "stop": {"max_iter": 20}})
    assert pngs(result.run_dir) == ["loss.png", "params.png"]


def test_fixed_parameter_gives_a_curve_of_the_free_one(workdir):
    result = run({"problem": "goldfield", "fix": {"y": 1.2}, "optimizer": "gd", "stop": {"max_iter": 30}})
    assert_real_plot(result.run_dir / "landscape.png", (500, 800))


@pytest.mark.parametrize(
    "problem", ["linear_regression", "logistic_regression", "gaussian_mle", {"name": "mlp_regression", "n": 50}]
)
def test_fit_plots(workdir, problem):
    result = run({"problem": problem, "optimizer": {"name": "adam", "step_size": 0.01}, "stop": {"max_iter": 30}})
    assert "fit.png" in pngs(result.run_dir)
    assert_real_plot(result.run_dir / "fit.png", SIZES["fit.png"])


def test_params_plot_says_what_was_left_out(workdir, monkeypatch):
    import matplotlib.axes

    titles = []
    original = matplotlib.axes.Axes.set_title
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "set_title",
        lambda self, text, *a, **k: (titles.append(text), original(self, text, *a, **k))[1],
    )
    run({"problem": {"name": "trid", "dim": 20}, "optimizer": "gd", "stop": {"max_iter": 5}})
    assert any("first 12 of 20; 8 left out" in t for t in titles)


def test_no_params_plot_without_parameter_columns(workdir):
    result = run({"problem": {"name": "trid", "dim": 200}, "optimizer": "gd", "stop": {"max_iter": 5}})
    assert pngs(result.run_dir) == ["loss.png"]


@pytest.fixture
def interrupting_problem():
    calls = {"n": 0}

    @register_problem("test_plot_interrupt", description="interrupts", formula="x^2 + y^2", parameters="x, y")
    def build(options):
        def f(p):
            calls["n"] += 1
            if calls["n"] == 25:  # a real Ctrl-C arrives mid-run (raising KeyboardInterrupt is user code's failure)
                os.kill(os.getpid(), signal.SIGINT)
            return p["x"] ** 2 + p["y"] ** 2

        return Problem(objective=f, start={"x": 1.0, "y": -2.0}, reference=Reference(0.0, ({"x": 0.0, "y": 0.0},)))

    yield "test_plot_interrupt"
    PROBLEMS.unregister("test_plot_interrupt")


def test_plots_for_an_interrupted_run_and_redraw_equals_the_original(workdir, interrupting_problem):
    result = run({"problem": interrupting_problem, "optimizer": {"name": "gd", "step_size": 0.01}})
    assert result.status == "interrupted"
    original = pngs(result.run_dir)
    assert original == ["landscape.png", "loss.png", "params.png"]
    for name in original:
        (result.run_dir / name).unlink()
    redraw = CliRunner().invoke(app, ["plot", str(result.run_dir)])
    assert redraw.exit_code == 0, redraw.stderr
    assert pngs(result.run_dir) == original
    for name in original:
        assert_real_plot(result.run_dir / name)


def test_killed_run_without_summary_can_still_be_plotted(workdir):
    result = run({"problem": "booth", "optimizer": "gd", "stop": {"max_iter": 40}})
    (result.run_dir / "summary.json").unlink()
    for png in result.run_dir.glob("*.png"):
        png.unlink()
    written, warnings = draw_run_plots(result.run_dir)
    assert sorted(p.name for p in written) == ["landscape.png", "loss.png", "params.png"]
    assert warnings == []


def test_plot_command_errors(workdir):
    result = CliRunner().invoke(app, ["plot", "nowhere"])
    assert result.exit_code == 2 and "nowhere: not a run directory" in result.stderr
    (workdir / "empty").mkdir()
    result = CliRunner().invoke(app, ["plot", "empty"])
    assert result.exit_code == 2 and "no config.yaml or trace.csv" in result.stderr


def test_a_failing_plot_is_a_warning_and_the_rest_are_drawn(workdir, monkeypatch):
    import optrun.plots.runs

    def broken(*args):
        raise RuntimeError("no canvas")

    monkeypatch.setattr(optrun.plots.runs, "plot_params", broken)
    result = run({"problem": "booth", "optimizer": "gd", "stop": {"max_iter": 10}})
    assert pngs(result.run_dir) == ["landscape.png", "loss.png"]
    assert any("params.png: plot not drawn: RuntimeError: no canvas" in w for w in result.warnings)
    assert (result.run_dir / "summary.json").exists()


def test_log_safe_gap_floors_exact_zeros_at_the_smallest_positive_gap():
    [a, b] = log_safe_gap(np.array([1.0, 1e-10, 0.0]), np.array([-1e-20, 1e-12]))
    assert a.tolist() == [1.0, 1e-10, 1e-20] and b.tolist() == [1e-20, 1e-12]


def test_a_plot_that_cannot_be_redrawn_is_kept(workdir):
    @register_problem("test_plot_vanishing", description="bowl", formula="x^2 + y^2", parameters="x, y")
    def build(options):
        return Problem(objective=lambda p: p["x"] ** 2 + p["y"] ** 2, start={"x": 1.0, "y": -2.0})

    result = run({"problem": "test_plot_vanishing", "optimizer": "gd", "stop": {"max_iter": 10}})
    PROBLEMS.unregister("test_plot_vanishing")  # as when redrawing from a folder without the problem file
    assert (result.run_dir / "landscape.png").exists()
    written, warnings = draw_run_plots(result.run_dir)
    assert sorted(p.name for p in written) == ["loss.png", "params.png"]
    assert warnings and "the problem could not be rebuilt" in warnings[0]
    assert (result.run_dir / "landscape.png").exists()  # not lost


# ------------------------------------------- issue 18: plots read at a glance
@pytest.fixture
def figures(monkeypatch):
    """Every figure saved while the test runs (inspected after it is written)."""
    import matplotlib.figure

    saved = []
    original = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(
        matplotlib.figure.Figure, "savefig", lambda self, *a, **k: (saved.append(self), original(self, *a, **k))[1]
    )
    return saved


def figure_titled(figures, words):
    [fig] = [f for f in figures if any(words in ax.get_title() for ax in f.axes)]
    return fig, next(ax for ax in fig.axes if words in ax.get_title())


def inside_figure(fig, text):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    box = text.get_window_extent(FigureCanvasAgg(fig).get_renderer())
    return box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y0 >= 0 and box.y1 <= fig.bbox.height


def test_fit_title_with_a_long_name_fits_and_the_curve_is_the_fitted_density(workdir, figures):
    name = "gaussian-mle-with-a-very-long-descriptive-experiment-name-for-the-report-v2"
    result = run(
        {
            "name": name,
            "problem": "gaussian_mle",
            "optimizer": {"name": "adam", "step_size": 0.01},
            "stop": {"max_iter": 30},
        }
    )
    fig, ax = figure_titled(figures, "fitted density")
    assert inside_figure(fig, ax.title)
    assert "gaussian_mle / adam" in ax.get_title() and name[:20] in ax.get_title()
    [curve] = [line for line in ax.get_lines() if line.get_label().startswith("Normal(")]
    mu = result.summary.params["mu"]
    assert f"mu={mu:.4g}" in curve.get_label()
    x, y = curve.get_xydata().T
    # the density peaks at the fitted mean: the grid's highest point is within half a grid step of it (a step allows
    # for the grid's own rounding)
    assert x[np.argmax(y)] == pytest.approx(mu, abs=(x[1] - x[0]))


def test_converged_landscape_shows_the_end_over_the_known_minimum(workdir, figures):
    result = run({"problem": "himmelblau", "optimizer": "lbfgs", "stop": {"max_iter": 200}})
    assert result.status == "converged"
    fig, ax = figure_titled(figures, "landscape")
    lines = {line.get_label(): line for line in ax.get_lines()}
    end, minima = lines["end"], lines["known minima"]
    assert (
        end.get_zorder() > minima.get_zorder() and minima.get_markerfacecolor() == "none"
    )  # open rings under the star
    trace = optrun.plots.runs.read_run(result.run_dir).trace
    assert end.get_xydata()[0].tolist() == [trace["x"][-1], trace["y"][-1]]
    assert len(minima.get_xdata()) == 4  # Himmelblau's four minima
    assert inside_figure(fig, ax.title)


def test_a_gap_of_exactly_zero_is_noted_and_drawn_at_the_floor(workdir, figures):
    # exact arithmetic: f = |x|^2, g = 2x, so one gd step of 0.5 lands on x = x - x = 0, f = f* = 0, on any CPU
    result = run({"problem": "sum_of_squares", "optimizer": {"name": "gd", "step_size": 0.5}, "stop": {"max_iter": 50}})
    trace = optrun.plots.runs.read_run(result.run_dir).trace
    zero = np.flatnonzero(trace["gap"] == 0)
    assert zero.tolist() == [1], "one step reaches f* exactly"
    _, ax = figure_titled(figures, "objective")
    notes = [t.get_text() for t in ax.get_legend().get_texts()]  # in the legend, placed off the curve
    assert any(
        f"f - f* = 0 reached at iteration {int(trace['iter'][zero[0]])}, drawn at the floor" in n for n in notes
    ), notes
    floor = 1e-16 * max(1.0, abs(result.summary.reference.fun))
    [curve] = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert curve.get_ydata()[zero].tolist() == [floor] * zero.size
    positive = trace["gap"] != 0
    assert curve.get_ydata()[positive].tolist() == np.abs(trace["gap"][positive]).tolist()


def test_no_zero_gap_note_when_the_gap_stays_positive(workdir, figures):
    run({"problem": "booth", "optimizer": "gd", "stop": {"max_iter": 10}})
    _, ax = figure_titled(figures, "objective")
    assert not any("= 0 reached" in t.get_text() for t in ax.texts) and ax.get_legend() is None


# ------------------------------------------- issue 18, point 6: SVG and PDF
def svg_text(path):
    """The SVG's text (matplotlib writes it as <text> when svg.fonttype is none), after checking it is an SVG."""
    import html
    import re

    data = path.read_text(encoding="utf-8")
    assert data.startswith("<?xml") and "<svg" in data[:400], path.name
    return html.unescape(" ".join(re.findall(r"<(?:text|tspan)\b[^>]*>([^<>]+)<", data)))


def pdf_text(path):
    """The PDF's text (matplotlib writes each string as a TJ array of characters), after checking it is a PDF."""
    import re
    import zlib

    data = path.read_bytes()
    assert data.startswith(b"%PDF-"), path.name
    streams = []
    for start in re.finditer(rb"stream\r?\n", data):
        try:
            streams.append(zlib.decompressobj().decompress(data[start.end() :]))
        except zlib.error:  # not a compressed stream (fonts' own tables)
            pass
    content = b"".join(streams).decode("latin-1")
    strings = [
        "".join(re.findall(r"\(((?:\\.|[^\\)])*)\)", array)) for array in re.findall(r"\[(.*?)\]\s*TJ", content, re.S)
    ]
    return " ".join(s.replace("\\(", "(").replace("\\)", ")") for s in strings)


@pytest.mark.parametrize("fmt, text_of", [("svg", svg_text), ("pdf", pdf_text)])
def test_run_plots_in_svg_and_pdf_are_the_run_s(workdir, fmt, text_of):
    result = run(
        {
            "name": "vector-plots",
            "problem": "himmelblau",
            "optimizer": {"name": "adam", "step_size": 0.05},
            "stop": {"max_iter": 300},
            "output": {"plot_format": fmt},
        }
    )
    names = sorted(p.name for p in result.run_dir.iterdir() if p.suffix in (".png", ".svg", ".pdf"))
    assert names == [f"landscape.{fmt}", f"loss.{fmt}", f"params.{fmt}"]  # no PNG beside them
    title = f"vector-plots: himmelblau / adam ({result.status})"
    loss, params, landscape = (text_of(result.run_dir / f"{name}.{fmt}") for name in ("loss", "params", "landscape"))
    assert title in loss and "objective" in loss and "gradient norm" in loss and "f* = 0" in loss
    assert title in params and "parameter paths" in params
    assert title in landscape and "known minima" in landscape and "start" in landscape


def test_plot_redraws_in_the_run_s_format_and_the_same_run_gives_the_same_file(workdir):
    result = run({"problem": "booth", "optimizer": "gd", "stop": {"max_iter": 40}, "output": {"plot_format": "svg"}})
    first = (result.run_dir / "loss.svg").read_bytes()
    (result.run_dir / "loss.svg").unlink()
    redraw = CliRunner().invoke(app, ["plot", str(result.run_dir)])
    assert redraw.exit_code == 0, redraw.stderr
    assert [line.rsplit("/", 1)[1] for line in redraw.stdout.split()] == ["loss.svg", "params.svg", "landscape.svg"]
    assert (result.run_dir / "loss.svg").read_bytes() == first  # no date, no random ids: same run, same file
    assert not list(result.run_dir.glob("*.png"))


@pytest.mark.parametrize("fmt, text_of", [("svg", svg_text), ("pdf", pdf_text)])
def test_compare_writes_the_format_its_out_suffix_names(workdir, fmt, text_of):
    for name, step in (("slow-gd", 0.05), ("fast-gd", 0.1)):
        run(
            {
                "name": name,
                "problem": "trid",
                "optimizer": {"name": "gd", "step_size": step},
                "output": {"plots": False},
            }
        )
    dirs = [str(next((workdir / "outputs" / name).iterdir())) for name in ("slow-gd", "fast-gd")]
    result = CliRunner().invoke(app, ["compare", *dirs, "--out", f"study/trid.{fmt}"])
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (workdir / "study").iterdir()) == ["trid.csv", f"trid.{fmt}"]
    text = text_of(workdir / "study" / f"trid.{fmt}")
    assert "slow-gd [" in text and "fast-gd [" in text and "(step_size=0.05)" in text and "2 runs on trid" in text


def test_report_shows_svg_plots_and_draws_the_loss_of_a_pdf_run(workdir):
    svg = run(
        {"name": "s", "problem": "booth", "optimizer": "gd", "stop": {"max_iter": 20}, "output": {"plot_format": "svg"}}
    )
    pdf = run(
        {"name": "p", "problem": "booth", "optimizer": "gd", "stop": {"max_iter": 20}, "output": {"plot_format": "pdf"}}
    )
    result = CliRunner().invoke(app, ["report", str(svg.run_dir), str(pdf.run_dir), "--out", "r.html"])
    assert result.exit_code == 0, result.stderr
    page = (workdir / "r.html").read_text()
    assert page.count("src='data:image/svg+xml;base64,") == 3  # loss, landscape and params of the SVG run
    assert (
        "<figcaption>loss.svg</figcaption>" in page and "<figcaption>loss (drawn for the report)</figcaption>" in page
    )


# --------------------------------------------------- what a drawn figure shows


def outside_figure(fig):
    """What of the drawn figure leaves it, measured by the renderer that drew
    it: the extent of everything drawn (ticks and their labels in view,
    titles, axis labels, legends, colorbars) against the figure's, in
    pixels, and the texts (not tick labels) beyond the edge."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = (fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)).get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    drawn = fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans)
    texts = []
    outside = (
        [round(v) for v in drawn.extents]
        if (drawn.x0 < -1 or drawn.y0 < -1 or drawn.x1 > width + 1 or drawn.y1 > height + 1)
        else []
    )
    for ax in fig.axes:
        for text in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts):
            if text.get_visible() and text.get_text().strip():
                box = text.get_window_extent(renderer)
                if box.x0 < -1 or box.y0 < -1 or box.x1 > width + 1 or box.y1 > height + 1:
                    texts.append((text.get_text(), [round(v) for v in box.extents]))
    return outside, texts


@pytest.mark.parametrize(
    "config",
    [
        # a gap and a gradient norm within one decade: labels between decades
        # (once 1.535×10³, which pushed "f - f*" off the figure)
        {"problem": {"name": "trid", "dim": 20}, "optimizer": "gd", "stop": {"max_iter": 50}},
        # diverged: an offset text (1e17) above the axes once pushed the three-line title off the top
        {
            "problem": "rosenbrock",
            "optimizer": "gd",
            "stop": {"max_iter": 200},
            "name": "a-rather-long-configuration-name-for-rosen",
        },
        # two free parameters, a colorbar, a wide range of gaps
        {"problem": "himmelblau", "optimizer": {"name": "adam", "step_size": 0.05}, "stop": {"max_iter": 300}},
        {"problem": "gaussian_mle", "optimizer": {"name": "adam", "step_size": 0.01}, "stop": {"max_iter": 30}},
    ],
)
def test_no_text_is_clipped_by_the_figure_edge(workdir, drawn, config):
    result = run({"name": "a-rather-long-configuration-name-for-this-run", **config})
    assert len(drawn) == len(pngs(result.run_dir)) >= 2
    for fig in drawn:
        assert outside_figure(fig) == ([], []), fig.axes[0].get_title()
        assert fig.axes[0].get_title().count("\n") >= 1  # the two-line title (run, then what is shown) is there


def test_log_axes_are_labelled_in_plain_text(workdir, drawn):
    from optrun.plots.figures import plain_log_label

    assert plain_log_label(r"$\mathdefault{10^{-3}}$") == "10⁻³"
    assert plain_log_label(r"$\mathdefault{2\times10^{1}}$") == "2×10¹"
    assert plain_log_label("0.5") == "0.5"
    run({"problem": "polynomial", "optimizer": {"name": "gd", "step_size": 0.05}, "stop": {"max_iter": 200}})
    loss = drawn[0]
    loss.canvas.draw()
    labels = [t.get_text() for ax in loss.axes for t in ax.get_yticklabels() if t.get_text()]
    # decades, in plain text (every one, or every few: matplotlib 3.8 strides further than 3.10 at this height)
    assert len(labels) >= 3 and all(re.fullmatch("10⁻?[⁰¹²³⁴⁵⁶⁷⁸⁹]+", label) for label in labels), labels
    assert not any("$" in label for label in labels)
    assert all(ax.get_yscale() == "log" for ax in loss.axes)


def test_the_optrun_command_draws_every_plot_in_a_lean_matplotlib(tmp_path):
    """`optrun run` (a process of its own, where optrun.entry ran) skips
    matplotlib's Artist.set docstrings and draws the same plots; a process
    that imports optrun as a library keeps matplotlib's help."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    config = repo / "configs" / "polynomial-gd.yaml"
    command = [sys.executable, "-m", "optrun", "run", str(config), "--quiet", "--set", f"output.dir={tmp_path}"]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = tmp_path.glob("*/*/")
    assert pngs(run_dir) == ["landscape.png", "loss.png", "params.png"]
    for name, size in (("loss.png", (600, 800)), ("params.png", (500, 800)), ("landscape.png", (500, 800))):
        assert_real_plot(run_dir / name, size)
    probe = (
        "import sys{}; from optrun.plots.figures import new_figure; new_figure(); import matplotlib.lines as lines; "
        "print('Properties' in (lines.Line2D.set.__doc__ or ''))"
    )
    lean = subprocess.run(
        [sys.executable, "-c", probe.format(", optrun.entry")], capture_output=True, text=True, cwd=repo
    )
    full = subprocess.run([sys.executable, "-c", probe.format("")], capture_output=True, text=True, cwd=repo)
    assert (lean.stdout.strip(), full.stdout.strip()) == ("False", "True"), lean.stderr + full.stderr
