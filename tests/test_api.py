"""optrun.run: the Python entry point runs exactly what the CLI runs."""

import json

import numpy as np
import pytest
import yaml
from tolerances import rounding

import optrun
from optrun.core.errors import ConfigError
from optrun.core.problems import PROBLEMS, Problem, register_problem

POLY = {
    "name": "poly",
    "problem": "polynomial",
    "init": {"kind": "values", "values": {"x": 3.0}},
    "optimizer": {"name": "gd", "step_size": 0.01},
    "stop": {"max_iter": 200, "grad_tol": None},
    "output": {"plots": False},
}


def test_seed_000_polynomial_descent(workdir):
    result = optrun.run(POLY)
    # closed form of the notebook's loop: x_k = -2/3 + (11/3) 0.94^k
    k = np.arange(201)
    x = -2 / 3 + 11 / 3 * 0.94**k
    assert result.status == "max_iter" and result.nit == 200
    # each step rounds x - 0.01 (6x + 4) (|x| <= 3.7; the gradient's roundings are scaled by 0.01), and the closed form
    # rounds too: under rounding(4, 4) a step, which the contraction by 0.94 adds up to at most / (1 - 0.94)
    near = rounding(4, 4) / 0.06
    assert result.params["x"] == pytest.approx(-0.666651184, abs=0.5e-9 + near)  # the notebook printed 9 decimals
    np.testing.assert_allclose(result.trace["x"], x, rtol=0, atol=near)
    # f moves by |f'| <= 22 times that, and Horner's rule and the closed form round terms of up to 42
    np.testing.assert_allclose(result.trace["f"], 3 * x**2 + 4 * x - 3, rtol=0, atol=22 * near + rounding(8, 42))
    # |6x + 4| moves by 6 times that; both sides round terms of up to 22
    np.testing.assert_allclose(result.trace["grad_norm"], np.abs(6 * x + 4), rtol=0, atol=6 * near + rounding(8, 22))
    assert result.trace["nfev"].tolist() == list(range(1, 202))
    # x* = -4 / (2 * 3): one division, correctly rounded, of the exact -2/3; f* by Horner's rule at x*, a few
    # roundings of values up to 13/3
    assert result.reference.fun == pytest.approx(-13 / 3, rel=rounding(4)) and result.reference.params == [
        {"x": -2 / 3}
    ]
    assert result.gap == pytest.approx(result.fun + 13 / 3, abs=rounding(5, 13 / 3))  # f* as above, and a subtraction


@pytest.mark.slow
def test_run_directory_contents(workdir):
    result = optrun.run({**POLY, "output": {"plots": True}}, ["stop.max_iter=20", "seed=4"])
    files = sorted(p.name for p in result.run_dir.iterdir())
    assert files == ["config.yaml", "landscape.png", "loss.png", "params.png", "summary.json", "trace.csv"]
    assert result.run_dir.parent == workdir / "outputs" / "poly"
    config = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert config["stop"]["max_iter"] == 20 and config["seed"] == 4
    assert config["optimizer"] == {"name": "gd", "step_size": 0.01, "clip_grad_norm": None}
    summary = json.loads((result.run_dir / "summary.json").read_text())
    for key in (
        "status",
        "message",
        "fun",
        "params",
        "grad_norm",
        "nit",
        "nfev",
        "njev",
        "best",
        "wall_time_s",
        "reference",
        "seed",
        "versions",
    ):
        assert key in summary, key
    assert summary["nit"] == 20 and summary["nfev"] == summary["njev"] == 21
    assert summary["best"] == {"fun": summary["fun"], "iter": 20}
    assert set(summary["versions"]) == {"python", "numpy", "autograd", "optrun"}
    assert (result.run_dir / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resolved_config_reruns_identically(workdir):
    first = optrun.run({**POLY, "init": {"kind": "normal"}, "seed": 11}, ["stop.max_iter=30"])
    second = optrun.run(first.run_dir / "config.yaml")
    for column in first.trace:
        if column != "time_s":
            np.testing.assert_array_equal(first.trace[column], second.trace[column])


def test_fix_holds_parameters_out_of_the_vector(workdir):
    # seed 000's one-axis robot: y fixed at 1.2, x_k = 1.2 - 1.1 * 0.96^k
    result = optrun.run(
        {
            "problem": "goldfield",
            "init": {"kind": "values", "values": {"x": 0.1}},
            "fix": {"y": 1.2},
            "optimizer": {"name": "gd", "step_size": 0.01},
            "stop": {"max_iter": 300, "grad_tol": None},
            "output": {"plots": False},
        }
    )
    # each step rounds x - 0.01 (4x - 4.8) (|x| <= 1.2), the closed form a few times: under rounding(4, 2) a step,
    # which the contraction by 0.96 adds up to at most / (1 - 0.96)
    near = rounding(4, 2) / 0.04
    assert result.params == {"x": pytest.approx(1.2 - 1.1 * 0.96**300, abs=near), "y": 1.2}
    assert set(result.trace["y"]) == {1.2}
    np.testing.assert_allclose(result.trace["x"], 1.2 - 1.1 * 0.96 ** np.arange(301), rtol=0, atol=near)
    # the gradient norm is of the free parameters only: |4x - 4y|. 4x and 4y = 4.8 are exact, their difference rounds
    # once as here, and sqrt(g * g) twice more
    np.testing.assert_allclose(result.trace["grad_norm"], np.abs(4 * result.trace["x"] - 4.8), rtol=rounding(2), atol=0)


def test_fix_errors(workdir):
    base = {"problem": "goldfield", "optimizer": "gd"}
    with pytest.raises(ConfigError, match=r"fix\.z: unknown parameter 'z' \(parameters: x, y\)"):
        optrun.run({**base, "fix": {"z": 1.0}})
    with pytest.raises(ConfigError, match="fix: every parameter is fixed"):
        optrun.run({**base, "fix": {"x": 1.0, "y": 1.0}})
    with pytest.raises(ConfigError, match=r"fix\.y: must be a number"):
        optrun.run({**base, "fix": {"y": [1.0, 2.0]}})
    assert not (workdir / "outputs").exists()


def test_config_errors_create_nothing(workdir):
    with pytest.raises(ConfigError):
        optrun.run({"problem": "trid", "optimizer": {"name": "gd", "step_size": -1.0}})
    with pytest.raises(ConfigError):
        optrun.run({"problem": "trid", "optimizer": "gd", "init": {"kind": "values", "values": {"x": [1.0]}}})
    assert list(workdir.iterdir()) == []


def test_param_columns_limit(workdir):
    result = optrun.run(
        {
            "problem": {"name": "trid", "dim": 150},
            "optimizer": "gd",
            "stop": {"max_iter": 3},
            "output": {"plots": False},
        }
    )
    assert list(result.trace) == ["iter", "f", "grad_norm", "step_size", "time_s", "nfev", "njev", "gap"]
    assert len(result.params["x"]) == 150
    result = optrun.run(
        {
            "problem": {"name": "trid", "dim": 150},
            "optimizer": "gd",
            "stop": {"max_iter": 3},
            "output": {"plots": False, "param_columns": 150},
        }
    )
    assert "x[149]" in result.trace


@pytest.fixture
def raising_problem():
    """A problem whose objective raises once x drops below 2."""

    @register_problem("test_raises", description="raises below 2", formula="(x-1)^2", parameters="x")
    def build(options):
        def f(p):
            if float(getattr(p["x"], "_value", p["x"])) < 2.0:
                raise ValueError("x left the domain")
            return (p["x"] - 1.0) ** 2

        return Problem(objective=f, start={"x": 3.0})

    yield "test_raises"
    PROBLEMS.unregister("test_raises")


def test_failed_run_is_recorded(workdir, raising_problem):
    result = optrun.run(
        {
            "problem": raising_problem,
            "optimizer": {"name": "gd", "step_size": 0.1},
            "stop": {"grad_tol": None},
            "output": {"plots": False},
        }
    )
    assert result.status == "failed" and not result.ok
    assert "ValueError: x left the domain while computing iteration 4" in result.message
    assert result.trace["iter"].tolist() == [0, 1, 2, 3]
    assert result.nit == 3


@pytest.mark.slow
def test_diverged_run_is_recorded(workdir):
    result = optrun.run(
        {"problem": "polynomial", "optimizer": {"name": "gd", "step_size": 1.0}, "output": {"plots": True}}
    )
    assert result.status == "diverged" and "divergence bound" in result.message
    assert result.best.iter == 0
    assert (result.run_dir / "summary.json").exists() and (result.run_dir / "loss.png").exists()


def test_time_limit_status(workdir):
    result = optrun.run(
        {
            "problem": {"name": "trid", "dim": 50},
            "optimizer": {"name": "gd", "step_size": 1e-9},
            "stop": {"max_iter": 10**9, "grad_tol": None, "time_limit": 0.3},
            "output": {"plots": False},
        }
    )
    assert result.status == "time_limit" and result.nit > 10
    assert 0.3 <= result.wall_time_s < 5


@pytest.mark.slow
def test_plot_failure_is_a_warning_not_a_lost_run(workdir, monkeypatch):
    import optrun.plots.runs

    def boom(run_dir, out):
        raise RuntimeError("no canvas")

    monkeypatch.setattr(optrun.plots.runs, "plot_loss", boom)
    result = optrun.run({**POLY, "output": {"plots": True}})
    assert result.status == "max_iter"
    assert result.warnings and "loss.png: plot not drawn: RuntimeError: no canvas" in result.warnings[0]
    assert (result.run_dir / "summary.json").exists()


def test_gap_column_when_the_minimum_is_known(workdir):
    result = optrun.run(POLY)
    # gap = f - f*, f* = -13/3 to rounding(4) relative (test_seed_000_polynomial_descent); each side's subtraction rounds
    np.testing.assert_allclose(
        result.trace["gap"], result.trace["f"] + 13 / 3, rtol=rounding(1), atol=rounding(4, 13 / 3)
    )
    header = (result.run_dir / "trace.csv").read_text().splitlines()[0].split(",")
    # the spec's columns, then the parameter columns right after njev, then gap
    assert header == ["iter", "f", "grad_norm", "step_size", "time_s", "nfev", "njev", "x", "gap"]
    unknown = optrun.run(
        {"problem": "decaying_cosine", "optimizer": "gd", "stop": {"max_iter": 5}, "output": {"plots": False}}
    )
    assert "gap" not in unknown.trace
    assert unknown.reference is None and unknown.gap is None and "unbounded below" in unknown.summary.reference_note


def test_ctrl_c_while_plotting_keeps_the_run(workdir, monkeypatch):
    import optrun.plots.runs

    def interrupted(run_dir, prep):
        raise KeyboardInterrupt

    monkeypatch.setattr(optrun.plots.runs, "draw_run_plots", interrupted)
    result = optrun.run({**POLY, "output": {"plots": True}})
    assert result.status == "max_iter" and (result.run_dir / "summary.json").exists()
    assert any("plots not drawn: interrupted" in w for w in result.warnings)


def test_files_get_the_usual_permissions(workdir):
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    result = optrun.run({**POLY, "output": {"plots": False}})
    for name in ("summary.json", "config.yaml", "trace.csv"):
        assert stat.S_IMODE((result.run_dir / name).stat().st_mode) == 0o666 & ~umask, name
