"""Paths in a config are found from the config file, so a config runs the
same from any working folder (optrun/paths.py)."""

import json
import shutil

import numpy as np
import pytest
from helpers import REPO, run_cli
from tolerances import rounding

import optrun
from optrun.config import load_config
from optrun.core.errors import ConfigError
from optrun.core.paths import PathContext, project_root, search_dirs

RASTRIGIN = (REPO / "problems" / "example_rastrigin.py").read_text()


@pytest.fixture
def project(tmp_path):
    """A project: a root marker, data and a problem file at the top, configs below."""
    root = tmp_path / "proj"
    (root / "configs" / "deep").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'study'\n")
    (root / "data").mkdir()
    x = np.linspace(-1, 1, 12)
    (root / "data" / "d.csv").write_text("x,y\n" + "".join(f"{a!r},{3 * a + 1!r}\n" for a in x.tolist()))
    (root / "problems").mkdir()
    (root / "problems" / "rastrigin_here.py").write_text(RASTRIGIN.replace('"rastrigin"', '"rastrigin_here"'))
    (root / "configs" / "deep" / "fit.yaml").write_text(
        "problem: {name: linear_regression, sigma: 1.0, data: {path: data/d.csv, target: y}}\n"
        "optimizer: {name: newton}\noutput: {plots: false}\n"
    )
    (root / "configs" / "deep" / "user.yaml").write_text(
        "problem: {name: rastrigin_here, dim: 2}\ninit: {kind: values, values: {x: [0.3, -0.2]}}\n"
        "optimizer: {name: gd, step_size: 0.002}\nstop: {max_iter: 50}\noutput: {plots: false}\n"
    )
    yield root
    from optrun.core.problems import PROBLEMS

    if "rastrigin_here" in PROBLEMS:
        PROBLEMS.unregister("rastrigin_here")


def test_project_root_is_the_nearest_folder_with_a_marker(project, tmp_path):
    assert project_root(project / "configs" / "deep") == project
    assert search_dirs(project / "configs" / "deep") == [project / "configs" / "deep", project / "configs", project]
    lone = tmp_path / "lone" / "sub"
    lone.mkdir(parents=True)
    assert search_dirs(lone) == [lone.resolve()]  # in no project: only the config's folder


def test_the_config_folder_wins_over_its_parents(project):
    (project / "configs" / "deep" / "data").mkdir()
    near = project / "configs" / "deep" / "data" / "d.csv"
    shutil.copy(project / "data" / "d.csv", near)
    context = PathContext.for_config(project / "configs" / "deep" / "fit.yaml")
    assert context.resolve("data/d.csv") == str(near)
    assert context.resolve(str(project / "data" / "d.csv")) == str(project / "data" / "d.csv")  # absolute: as given


def test_data_paths_and_user_problems_do_not_depend_on_the_working_folder(project, tmp_path, monkeypatch):
    results = []
    for cwd in (project, project / "configs", tmp_path):
        monkeypatch.chdir(cwd)
        fit = optrun.run(project / "configs" / "deep" / "fit.yaml", [f"output.dir={tmp_path / 'out'}"])
        user = optrun.run(project / "configs" / "deep" / "user.yaml", [f"output.dir={tmp_path / 'out'}"])
        results.append((fit.fun, fit.params["w"], user.fun))
        assert fit.status == "converged"
        resolved = (fit.run_dir / "config.yaml").read_text()
        assert f"path: {project / 'data' / 'd.csv'}" in resolved  # the resolved config names the file it read
    assert results[0] == results[1] == results[2]
    # converged to grad_tol 1e-8 on the Hessian [[sum x^2, 0], [0, 12]] (sum x^2 = 4.73): within 1e-8 / 4.73 of the
    # least-squares line (1% for the gradient's rounding), which y = fl(3x + 1) moves from (3, 1) by an ulp or so
    x = np.linspace(-1, 1, 12)
    assert results[0][1] == pytest.approx([3.0], abs=1.01 * 1e-8 / np.sum(x**2) + rounding(4, 3))


def test_output_dir_stays_relative_to_the_working_folder(project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = optrun.run(project / "configs" / "deep" / "fit.yaml")
    assert result.run_dir.is_relative_to(tmp_path.resolve() / "outputs")


def test_a_missing_data_file_names_every_folder_looked_in(project):
    with pytest.raises(ConfigError) as info:
        load_config(project / "configs" / "deep" / "fit.yaml", ["problem.data.path=nope.csv"])
    deep = project / "configs" / "deep"
    assert str(info.value) == (
        f"{deep / 'fit.yaml'}: problem.data.path: data file 'nope.csv' not found (relative paths are looked up in the "
        f"config's folder and its parents up to the project root: {deep}, {project / 'configs'}, {project})"
    )


def test_an_unknown_problem_says_where_user_problems_were_looked_for(project):
    with pytest.raises(ConfigError) as info:
        load_config(project / "configs" / "deep" / "user.yaml", ["problem.name=rastrgin_here"])
    message = str(info.value)
    assert "did you mean 'rastrigin_here'" in message
    assert (
        f"user problems are loaded from problems/ folders in the config's folder and its parents up to the project root ({project / 'problems'})"
        in message
    )


def test_a_path_found_only_from_the_working_folder_still_works_with_a_warning(tmp_path, monkeypatch):
    (tmp_path / "cfgs").mkdir()
    (tmp_path / "d.csv").write_text("x,y\n0,1\n1,4\n2,7\n")
    (tmp_path / "cfgs" / "old.yaml").write_text(
        "problem: {name: linear_regression, sigma: 1.0, data: {path: d.csv, target: y}}\noptimizer: newton\noutput: {plots: false}\n"
    )
    monkeypatch.chdir(tmp_path)
    result = optrun.run(tmp_path / "cfgs" / "old.yaml")
    # y = 3x + 1 exactly; converged to grad_tol 1e-8 on the Hessian [[5, 3], [3, 3]] (lambda_min = 4 - sqrt(10))
    assert result.status == "converged" and result.params["w"] == pytest.approx(
        [3.0], abs=1.01 * 1e-8 / (4 - np.sqrt(10))
    )
    assert any("was found relative to the working folder only" in w and "cfgs" in w for w in result.warnings)


@pytest.mark.slow
def test_check_of_the_shipped_configs_passes_from_another_folder(tmp_path):
    configs = [REPO / "configs" / name for name in ("linreg-csv.yaml", "rastrigin-user-problem.yaml", "trid-gd.yaml")]
    result = run_cli(
        "check", *configs, "--workers", "2", "--junit", "report.xml", "--keep-runs", "outputs", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed, 0 failed" in result.stdout
    assert (tmp_path / "outputs").is_dir() and not (REPO / "configs" / "outputs").exists()
    summaries = [json.loads(p.read_text()) for p in (tmp_path / "outputs").rglob("summary.json")]
    assert sorted(s["name"] for s in summaries) == ["linreg-csv", "rastrigin-user-problem", "trid-gd"]
