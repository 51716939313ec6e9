"""User problems from files in problems/, --problems DIR, and entry points."""

import sys
import textwrap

import pytest
from typer.testing import CliRunner

import optrun
from optrun.cli import app
from optrun.config import plugins
from optrun.core.problems import PROBLEMS

GOOD = """
from optrun import Problem, Reference, register_problem

@register_problem("{name}", description="shifted bowl", formula="(x - 3)^2", parameters="x")
def build(options):
    return Problem(objective=lambda p: (p["x"] - 3.0) ** 2, start={{"x": 0.0}},
                   reference=Reference(fun=0.0, params=({{"x": 3.0}},)))
"""


@pytest.fixture
def registered_names():
    names = []
    yield names
    for name in names:
        PROBLEMS.unregister(name)


def write(folder, filename, text):
    folder.mkdir(exist_ok=True)
    (folder / filename).write_text(textwrap.dedent(text))


def test_problem_files_register_and_broken_ones_are_reported(workdir, registered_names):
    folder = workdir / "problems"
    write(folder, "good.py", GOOD.format(name="user_bowl_a"))
    write(folder, "syntax.py", "def broken(:\n    pass\n")
    write(folder, "raises.py", "x = 1\nraise RuntimeError('boom')\n")
    write(folder, "_private.py", "raise SystemExit('never loaded')\n")
    registered_names.append("user_bowl_a")
    warnings = plugins.load_problem_files()
    assert "user_bowl_a" in PROBLEMS
    assert plugins.origin("problem", "user_bowl_a") == "problems/good.py"
    text = "\n".join(warnings)
    assert len(warnings) == 2
    assert "problems/syntax.py: not loaded: SyntaxError" in text and "(line 1)" in text
    assert "problems/raises.py: not loaded: RuntimeError: boom (line 2)" in text
    # the built-ins still work, and so does the user problem
    assert (
        optrun.run(
            {"problem": "trid", "optimizer": {"name": "gd", "step_size": 0.1}, "output": {"plots": False}}
        ).status
        == "converged"
    )
    result = optrun.run(
        {"problem": "user_bowl_a", "optimizer": {"name": "gd", "step_size": 0.1}, "output": {"plots": False}}
    )
    # converged: |2 (x - 3)| <= grad_tol 1e-8 (x - 3 is exact near 3), so |x - 3| <= 1e-8 / 2
    assert result.status == "converged" and result.params["x"] == pytest.approx(3.0, abs=1e-8 / 2)


def test_cli_lists_and_runs_user_problems_with_warnings(workdir, registered_names):
    folder = workdir / "mine"
    write(folder, "bowl.py", GOOD.format(name="user_bowl_b"))
    write(folder, "bad.py", "import not_a_module_anywhere\n")
    registered_names.append("user_bowl_b")
    runner = CliRunner()
    listed = runner.invoke(app, ["list-problems", "--problems", str(folder)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "user_bowl_b" in listed.stdout
    assert "bad.py: not loaded: ModuleNotFoundError" in listed.stderr
    (workdir / "c.yaml").write_text(
        "problem: user_bowl_b\noptimizer: {name: gd, step_size: 0.1}\noutput: {plots: false}\n"
    )
    ran = runner.invoke(app, ["run", "c.yaml", "--problems", str(folder), "--json"])
    assert ran.exit_code == 0, ran.stderr
    described = runner.invoke(app, ["describe", "user_bowl_b", "--problems", str(folder)], env={"COLUMNS": "200"})
    assert described.exit_code == 0 and str(folder / "bowl.py") in described.stdout


def test_missing_problems_folder_is_reported(workdir):
    result = CliRunner().invoke(app, ["list-problems", "--problems", "nowhere"])
    assert result.exit_code == 0 and "nowhere: --problems folder not found" in result.stderr


def test_entry_point_group(workdir, monkeypatch, registered_names):
    site = workdir / "site"
    dist = site / "optrun_demo_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: optrun-demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[optrun.problems]\ndemo = optrun_demo_plugin_mod\n")
    (site / "optrun_demo_plugin_mod.py").write_text(GOOD.format(name="user_bowl_ep"))
    monkeypatch.syspath_prepend(str(site))
    registered_names.append("user_bowl_ep")
    warnings = plugins.load_entry_points()
    assert "user_bowl_ep" in PROBLEMS, warnings
    assert plugins.origin("problem", "user_bowl_ep") == "entry point demo = optrun_demo_plugin_mod"
    sys.modules.pop("optrun_demo_plugin_mod", None)


def test_the_shipped_example_problem_file():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    examples = sorted((repo / "problems").glob("example_*.py"))
    assert examples
    warnings = plugins.load_problem_files(repo / "problems")
    assert not warnings
    assert "rastrigin" in PROBLEMS


# ------------------------------------------------ user code that exits, blocks or is too big
def test_files_that_exit_at_import_are_load_failures_not_exits(workdir):
    folder = workdir / "problems"
    write(folder, "a_exit0.py", "import sys\nx = 1\nsys.exit(0)\n")
    write(folder, "b_exit_text.py", "raise SystemExit('bye')\n")
    write(folder, "c_ctrl_c.py", "raise KeyboardInterrupt\n")
    write(folder, "d_generator_exit.py", "raise GeneratorExit\n")
    warnings = plugins.load_problem_files()  # returns: none of them ended this process
    assert warnings == [
        "problems/a_exit0.py: not loaded: SystemExit(0) raised while loading (line 3); a problem file must not exit (optrun goes on without it)",
        "problems/b_exit_text.py: not loaded: SystemExit('bye') raised while loading (line 1); a problem file must not exit (optrun goes on without it)",
        "problems/c_ctrl_c.py: not loaded: KeyboardInterrupt() raised while loading (line 1); a problem file must not exit (optrun goes on without it)",
        "problems/d_generator_exit.py: not loaded: GeneratorExit() raised while loading (line 1); a problem file must not exit (optrun goes on without it)",
    ]
    assert not [name for name in sys.modules if name.startswith("optrun_user_problems.") and "exit" in name]


def test_fifos_and_oversized_files_are_not_loaded(workdir):
    import os

    folder = workdir / "problems"
    folder.mkdir()
    os.mkfifo(folder / "blocks.py")  # importing it would wait for a writer forever
    (folder / "huge.py").write_text("x = 1\n" + "#" * plugins.MAX_FILE_BYTES)
    warnings = plugins.load_problem_files()
    assert warnings == [
        "problems/blocks.py: not loaded: not a regular file (a FIFO, device or socket named *.py)",
        "problems/huge.py: not loaded: larger than 1 MB (the limit for a problem file)",
    ]


def test_an_entry_point_that_exits_is_a_load_failure(workdir, monkeypatch):
    site = workdir / "site"
    dist = site / "optrun_exiting_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: optrun-exiting-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[optrun.problems]\nexiting = optrun_exiting_plugin_mod:register\n")
    (site / "optrun_exiting_plugin_mod.py").write_text("import sys\n\ndef register():\n    sys.exit(3)\n")
    monkeypatch.syspath_prepend(str(site))
    warnings = plugins.load_entry_points()
    assert any(
        w.startswith(
            "entry point exiting = optrun_exiting_plugin_mod:register: not loaded: SystemExit(3) raised while loading"
        )
        for w in warnings
    ), warnings
    sys.modules.pop("optrun_exiting_plugin_mod", None)


@pytest.mark.slow
def test_cli_a_problem_file_that_exits_never_decides_the_exit_status(tmp_path):
    from helpers import run_cli

    write(tmp_path / "problems", "mine.py", "import sys\nsys.exit(0)\n")
    (tmp_path / "builtin.yaml").write_text(
        "problem: trid\noptimizer: {name: gd, step_size: 0.1}\noutput: {plots: false}\n"
    )
    (tmp_path / "mine.yaml").write_text("problem: mine\noptimizer: gd\n")
    ran = run_cli("run", "builtin.yaml", "--quiet", cwd=tmp_path)
    assert ran.returncode == 0 and (tmp_path / "outputs" / "builtin").is_dir()  # the run happened
    assert ran.stderr.strip() == (
        "warning: problems/mine.py: not loaded: SystemExit(0) raised while loading (line 2); "
        "a problem file must not exit (optrun goes on without it)"
    )
    failed = run_cli("run", "mine.yaml", cwd=tmp_path)
    assert failed.returncode == 2, failed.stderr  # not the file's 0
    warning, error = failed.stderr.strip().splitlines()
    assert warning.startswith("warning: problems/mine.py: not loaded: SystemExit(0)")
    assert error.startswith("error: mine.yaml: problem.name: unknown problem 'mine'")
    assert "Traceback" not in failed.stderr


@pytest.mark.slow
def test_cli_a_real_ctrl_c_while_problem_files_load_stops_optrun(tmp_path):
    import signal
    import subprocess
    import time

    from helpers import REPO

    write(
        tmp_path / "problems",
        "slow.py",
        "import pathlib, time\npathlib.Path('loading').write_text('')\ntime.sleep(60)\n",
    )
    (tmp_path / "c.yaml").write_text("problem: trid\noptimizer: gd\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "optrun", "run", "c.yaml"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "loading").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stderr.strip() == "error: interrupted while loading user problem files; nothing was run"
    assert not (tmp_path / "outputs").exists()


SIGN_GD = """
import numpy as np
from typing import NamedTuple
from pydantic import Field
from optrun.core.optimizers import Optimizer, register_optimizer
from optrun.core.options import Options

class SignOptions(Options):
    step_size: float = Field(0.01, gt=0)

class SignState(NamedTuple):
    step_size: float

@register_optimizer("{name}", options=SignOptions, description="sign gradient descent")
def make(options, oracle=None):
    return Optimizer(lambda x0: SignState(options.step_size), lambda g, s, x: (-options.step_size * np.sign(g), s))
"""


@pytest.mark.parametrize("group", ["optrun.optimizers", "optrun.initializers", "optrun.schedules"])
def test_every_registry_has_an_entry_point_group(workdir, monkeypatch, group):
    from optrun.core.initializers import INITIALIZERS
    from optrun.core.optimizers import OPTIMIZERS
    from optrun.core.optimizers.schedules import SCHEDULES

    module = f"optrun_ep_{group.split('.')[1]}"
    code = {
        "optrun.optimizers": SIGN_GD.format(name="ep_signgd"),
        "optrun.initializers": "from optrun.core.initializers import register_initializer\nfrom optrun.core.options import NoOptions\n"
        "@register_initializer('ep_halves', description='halves', options=NoOptions)\n"
        "def halves(options, start, rng):\n    return {k: v * 0.5 for k, v in start.items()}\n",
        "optrun.schedules": "from optrun.core.optimizers.schedules import ScheduleOptions, register_schedule\n"
        "@register_schedule('ep_flat', options=ScheduleOptions, description='flat')\n"
        "def flat(options, t):\n    return options.value\n",
    }[group]
    registry, name = {
        "optrun.optimizers": (OPTIMIZERS, "ep_signgd"),
        "optrun.initializers": (INITIALIZERS, "ep_halves"),
        "optrun.schedules": (SCHEDULES, "ep_flat"),
    }[group]
    site = workdir / "site"
    dist = site / f"{module}-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{group}]\nmine = {module}\n")
    (site / f"{module}.py").write_text(code)
    monkeypatch.syspath_prepend(str(site))
    try:
        warnings = plugins.load_entry_points()
        assert name in registry, warnings
    finally:
        registry.unregister(name)
        sys.modules.pop(module, None)


def test_an_optimizer_in_a_problem_file_is_listed_and_runs(workdir):
    from optrun.core.optimizers import OPTIMIZERS

    write(workdir / "problems", "sign.py", SIGN_GD.format(name="file_signgd"))
    try:
        listed = CliRunner().invoke(app, ["list-optimizers"])
        assert listed.exit_code == 0 and "file_signgd" in listed.stdout
        (workdir / "c.yaml").write_text(
            "problem: trid\noptimizer: {name: file_signgd, step_size: 0.01}\nstop: {max_iter: 20}\n"
            "output: {plots: false}\n"
        )
        ran = CliRunner().invoke(app, ["run", "c.yaml", "--quiet"])
        assert ran.exit_code == 0, ran.stderr
    finally:
        OPTIMIZERS.unregister("file_signgd")


def test_a_user_entry_that_takes_a_built_in_name_is_an_error_not_a_silent_built_in(workdir):
    write(workdir / "problems", "clash.py", GOOD.format(name="trid"))
    (workdir / "c.yaml").write_text("problem: trid\noptimizer: gd\n")
    for args in (["list-problems"], ["run", "c.yaml"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            "error: problems/clash.py: registers the problem 'trid', a name that is already taken (a built-in or another "
            "user file): give it another name"
        )
    assert plugins.origin("problem", "trid") == "built-in"
    assert not (workdir / "outputs").exists()


def test_problem_files_written_for_the_old_module_paths_still_load(workdir, registered_names):
    """Before the core/config/commands layout, files imported optrun.problems,
    optrun.options, optrun.optimizers(.schedules): those paths are the same
    modules now, so such a file registers as before."""
    import optrun.core.optimizers.schedules as schedules
    import optrun.core.problems as problems_module

    write(
        workdir / "problems",
        "old_paths.py",
        GOOD.replace("from optrun import", "from optrun.problems import").format(name="user_bowl_old")
        + "from optrun.options import Options\nfrom optrun.optimizers.schedules import register_schedule\n",
    )
    registered_names.append("user_bowl_old")
    assert plugins.load_problem_files(workdir / "problems") == []
    assert "user_bowl_old" in PROBLEMS
    import optrun.optimizers.schedules
    import optrun.problems

    assert optrun.problems is problems_module and optrun.optimizers.schedules is schedules


def test_a_problem_registers_without_a_formula(workdir, registered_names):
    """formula= is optional (list-problems shows the description alone)."""
    write(
        workdir / "problems",
        "bare.py",
        """
        from optrun import Problem, register_problem

        @register_problem("user_bare", description="a bare bowl")
        def build(options):
            return Problem(objective=lambda p: p["x"] ** 2, start={"x": 1.0}, note="f* = 0 at 0")
        """,
    )
    registered_names.append("user_bare")
    assert plugins.load_problem_files(workdir / "problems") == []
    assert PROBLEMS.get("user_bare").formula == ""
