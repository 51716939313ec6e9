"""User code that exits (issue 28, point 1) and bad plugins (point 9).

An objective, an optimizer's update, a schedule or an initializer calling
``sys.exit(42)`` (or raising a KeyboardInterrupt that no signal caused) is a
failure of that run, never optrun's exit status; an initializer's result is
checked; an optimizer whose ``close()`` raises still gets its summary. Each
fault is reproduced from the CLI (plugin files in a problems/ folder, real
``optrun`` processes) and from the Python API.
"""

import json
import textwrap

import pytest
from helpers import run_cli

import optrun
from optrun.core.errors import ConfigError

PLUGIN = """
import os
import sys
import time
from typing import NamedTuple

import numpy as np
from pydantic import Field

from optrun import Problem, register_initializer, register_problem
from optrun.core.optimizers import Optimizer, register_optimizer
from optrun.core.optimizers.schedules import ScheduleOptions, register_schedule
from optrun.core.options import NoOptions, Options


class FaultOptions(Options):
    fault: str = "none"  # none | exit | kbd
    sleep: float = Field(0.0, ge=0)


@register_problem("uc_bowl", description="a bowl whose objective may exit below x = 0.5", options=FaultOptions)
def build(options):
    def f(p):
        time.sleep(options.sleep)
        if p["x"][0] < 0.5:
            if options.fault == "exit":
                if options.sleep:  # which process ran it (the sweep test's runs in a helper)
                    with open("exit-pids.txt", "a") as pids:
                        print(os.getpid(), file=pids)
                sys.exit(42)
            if options.fault == "kbd":
                raise KeyboardInterrupt
        return (p["x"] ** 2).sum()

    return Problem(objective=f, start={"x": np.array([1.0, 1.0, 1.0, 1.0])}, note="a test bowl")


class UpdateOptions(Options):
    step_size: float = Field(0.1, gt=0)
    fault: str = "update"  # update | close | close_exit


class State(NamedTuple):
    step_size: float
    t: int = 0


@register_optimizer("uc_opt", options=UpdateOptions, description="gd that fails on purpose")
def make(options, oracle=None):
    def update(g, state, x):
        if options.fault == "update" and state.t == 2:
            sys.exit(42)
        return -options.step_size * g, State(options.step_size, state.t + 1)

    def close():
        if options.fault == "close":
            raise RuntimeError("cannot release the worker")
        if options.fault == "close_exit":
            sys.exit(7)

    return Optimizer(lambda x0: State(options.step_size), update, close)


@register_schedule("uc_sched", options=ScheduleOptions, description="exits at update 3")
def sched(options, t):
    if t == 3:
        sys.exit(42)
    return options.value


@register_initializer("uc_exit", description="exits", options=NoOptions)
def uc_exit(options, start, rng):
    sys.exit(42)


@register_initializer("uc_none", description="returns None", options=NoOptions)
def uc_none(options, start, rng):
    return None


@register_initializer("uc_big", description="a 17-entry x", options=NoOptions)
def uc_big(options, start, rng):
    return {"x": np.zeros(17)}


@register_initializer("uc_extra", description="an extra name", options=NoOptions)
def uc_extra(options, start, rng):
    return {**start, "y": 1.0}


@register_initializer("uc_text", description="not numbers", options=NoOptions)
def uc_text(options, start, rng):
    return {"x": ["a", "b", "c", "d"]}


@register_initializer("uc_raise", description="raises", options=NoOptions)
def uc_raise(options, start, rng):
    raise ValueError("no start for you")


@register_initializer("uc_kbd", description="raises KeyboardInterrupt", options=NoOptions)
def uc_kbd(options, start, rng):
    raise KeyboardInterrupt
"""

CONFIG = """
problem: {{name: uc_bowl, fault: {fault}}}
optimizer: {optimizer}
output: {{plots: false}}
"""


@pytest.fixture
def project(workdir):
    (workdir / "problems").mkdir()
    (workdir / "problems" / "faulty.py").write_text(textwrap.dedent(PLUGIN))
    return workdir


def config(root, name="c.yaml", fault="none", optimizer="{name: gd, step_size: 0.3}", extra=""):
    path = root / name
    path.write_text(CONFIG.format(fault=fault, optimizer=optimizer) + extra)
    return path.name  # relative: the CLI runs in root, and messages name the file as given


def summary_of(root, name):
    [run_dir] = [p for p in (root / "outputs" / name).iterdir() if p.is_dir()]
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.parametrize(
    "fault, optimizer, said",
    [
        ("exit", "{name: gd, step_size: 0.3}", "the objective called sys.exit(42) while computing iteration 1"),
        ("kbd", "{name: gd, step_size: 0.3}", "the objective raised KeyboardInterrupt (no signal arrived)"),
        ("none", "{name: uc_opt, fault: update}", "optimizer 'uc_opt' called sys.exit(42) while computing iteration 3"),
        ("none", "{name: gd, step_size: {schedule: uc_sched, value: 0.01}}", "called sys.exit(42)"),
    ],
    ids=["objective", "objective-kbd", "update", "schedule"],
)
@pytest.mark.slow
def test_cli_run_records_user_exit_as_failed(project, fault, optimizer, said):
    done = run_cli("run", config(project, fault=fault, optimizer=optimizer), "--json", cwd=project)
    assert done.returncode == 1, done.stderr
    summary = summary_of(project, "c")
    assert summary["status"] == "failed" and said in summary["message"]
    assert json.loads(done.stdout)["status"] == "failed"
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "fault, said", [("exit", "called sys.exit(42)"), ("kbd", "raised KeyboardInterrupt (no signal arrived)")]
)
@pytest.mark.slow
def test_cli_grad_of_an_objective_that_exits_is_one_line_and_nothing_recorded(project, fault, said):
    path = config(project, fault=fault)
    done = run_cli("grad", path, "--set", "init.kind=zeros", cwd=project)  # x = 0: below 0.5, where it exits
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert done.stderr.strip() == f"error: {path}: problem: the objective {said}; nothing was recorded"
    assert not (project / "outputs").exists()


@pytest.mark.parametrize(
    "kind, said",
    [
        ("uc_exit", "initializer 'uc_exit' called sys.exit(42)"),
        ("uc_kbd", "initializer 'uc_kbd' raised KeyboardInterrupt (no signal arrived)"),
        ("uc_raise", "initializer 'uc_raise' raised ValueError: no start for you"),
        ("uc_none", "initializer 'uc_none' returned NoneType None, not a mapping of the parameters (x)"),
        ("uc_big", "initializer 'uc_big' returned a start unlike the problem's: x: must be an array of shape (4,)"),
        ("uc_extra", "initializer 'uc_extra' returned a start unlike the problem's: unknown parameter 'y'"),
        ("uc_text", "initializer 'uc_text' returned a start unlike the problem's: x: must be an array of shape (4,)"),
    ],
)
@pytest.mark.slow
def test_cli_bad_initializer_is_one_line_and_nothing_on_disk(project, kind, said):
    done = run_cli("run", config(project, extra=f"init: {{kind: {kind}}}\n"), cwd=project)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: c.yaml: init: ") and said in lines[0], done.stderr
    assert not (project / "outputs").exists()


@pytest.mark.slow
def test_cli_sweep_in_pool_helpers_keeps_every_other_run(project):
    """Runs slow enough that a helper starts (--workers 2): every exiting run
    is its own failure, wherever it ran; the others finish; sweep.csv lists all."""
    path = config(project, optimizer="{name: gd, step_size: 0.3}", extra="stop: {max_iter: 4}\n")
    done = run_cli(
        "sweep", path, "--grid", "problem.fault=" + ",".join(["none", "exit"] * 5), "--set", "problem.sleep=0.15",
        "--workers", "2", cwd=project, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr  # failed runs are recorded rows, not a failed sweep
    [csv] = list((project / "outputs" / "c").glob("sweep-*/sweep.csv"))
    rows = csv.read_text().splitlines()[1:]
    assert len(rows) == 10
    statuses = [row.split(",")[3] for row in rows]
    assert statuses == ["max_iter", "failed"] * 5
    pids = (project / "exit-pids.txt").read_text().split()
    assert len(pids) == 5 and len(set(pids)) == 2  # the helper ran some of the exiting runs, and lived on
    assert all("the objective called sys.exit(42)" in row for row in rows if ",failed," in row)


@pytest.mark.slow
def test_cli_check_reports_each_exiting_run_alone(project):
    expect = "expect: {status: max_iter}\nstop: {max_iter: 3}\n"
    config(project, "a.yaml", fault="exit", extra=expect)
    config(project, "b.yaml", extra=expect)
    config(project, "i.yaml", extra=expect + "init: {kind: uc_exit}\n")
    done = run_cli("check", "a.yaml", "b.yaml", "i.yaml", "--keep-runs", "outputs", cwd=project)
    assert done.returncode == 2, done.stderr  # a config error among the checks (i.yaml's initializer)
    assert "1 passed, 1 failed, 1 errors" in done.stdout
    out = done.stdout + done.stderr
    assert "called sys.exit(42)" in out and "Traceback" not in out
    assert summary_of(project, "a")["status"] == "failed"
    assert summary_of(project, "b")["status"] == "max_iter"


@pytest.mark.parametrize(
    "fault, status, said",
    [
        ("close", "failed", "then optimizer 'uc_opt' raised RuntimeError: 'cannot release the worker' in close()"),
        ("close_exit", "failed", "then optimizer 'uc_opt' called sys.exit(7) in close()"),
    ],
)
@pytest.mark.slow
def test_cli_close_that_fails_still_writes_the_summary(project, fault, status, said):
    done = run_cli(
        "run", config(project, optimizer=f"{{name: uc_opt, fault: {fault}}}", extra="stop: {max_iter: 5}\n"),
        cwd=project,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    summary = summary_of(project, "c")
    assert summary["status"] == status and said in summary["message"], summary["message"]
    assert summary["message"].startswith("reached max_iter = 5")


@pytest.mark.slow
def test_cli_non_string_problem_name_is_refused_and_contained(project):
    (project / "problems" / "badname.py").write_text(
        "from optrun import Problem, register_problem\n"
        "@register_problem(123, description='bad')\n"
        "def build(options):\n"
        "    return Problem(objective=lambda p: p['x'] ** 2, start={'x': 1.0}, note='none')\n"
    )
    listed = run_cli("list-problems", cwd=project, env_extra={"COLUMNS": "200"})
    assert listed.returncode == 0 and "uc_bowl" in listed.stdout
    warnings = [line for line in listed.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and "problems/badname.py: not loaded" in warnings[0]
    assert "problem name must be a non-empty string, got int 123" in warnings[0]
    unknown = run_cli("run", config(project), "--set", "problem.name=nosuch", cwd=project)
    assert unknown.returncode == 2 and "unknown problem 'nosuch'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


# ------------------------------------------------------------------ the Python API
@pytest.fixture
def loaded(project):
    from optrun.config import plugins
    from optrun.core.initializers import INITIALIZERS
    from optrun.core.optimizers import OPTIMIZERS
    from optrun.core.optimizers.schedules import SCHEDULES
    from optrun.core.problems import PROBLEMS

    assert plugins.load_problem_files(project / "problems") == []
    yield project
    PROBLEMS.unregister("uc_bowl")
    OPTIMIZERS.unregister("uc_opt")
    SCHEDULES.unregister("uc_sched")
    for name in ("uc_exit", "uc_none", "uc_big", "uc_extra", "uc_text", "uc_raise", "uc_kbd"):
        INITIALIZERS.unregister(name)


def api_config(fault="none", optimizer=None, **more):
    return {
        "problem": {"name": "uc_bowl", "fault": fault},
        "optimizer": optimizer or {"name": "gd", "step_size": 0.3},
        "output": {"plots": False},
        **more,
    }


def test_api_objective_exit_and_keyboard_interrupt_are_failed_runs(loaded):
    result = optrun.run(api_config("exit"))
    assert result.status == "failed" and "the objective called sys.exit(42)" in result.message
    assert (result.run_dir / "summary.json").is_file()
    result = optrun.run(api_config("kbd"))
    assert result.status == "failed" and "KeyboardInterrupt (no signal arrived)" in result.message
    result = optrun.run(api_config(optimizer={"name": "uc_opt", "fault": "update"}))
    assert result.status == "failed" and "optimizer 'uc_opt' called sys.exit(42)" in result.message


def test_api_bad_initializer_is_config_error(loaded):
    for kind in ("uc_exit", "uc_none", "uc_big", "uc_extra", "uc_text", "uc_raise"):
        with pytest.raises(ConfigError, match=f"initializer '{kind}'"):
            optrun.run(api_config(init={"kind": kind}))
    # Python's own SIGINT handler is in place while a run is prepared in the API: a KeyboardInterrupt then cannot be
    # told from Ctrl-C, and stops, as Ctrl-C does (the CLI's handler records signals, so there it is a ConfigError)
    with pytest.raises(KeyboardInterrupt):
        optrun.run(api_config(init={"kind": "uc_kbd"}))
    assert not (loaded / "outputs").exists()


def test_api_close_that_raises_still_records(loaded):
    result = optrun.run(api_config(optimizer={"name": "uc_opt", "fault": "close"}, stop={"max_iter": 3}))
    assert result.status == "failed" and "in close()" in result.message
    assert json.loads((result.run_dir / "summary.json").read_text())["status"] == "failed"


def test_registry_refuses_non_string_names():
    from optrun.core.problems import PROBLEMS

    with pytest.raises(TypeError, match="non-empty string"):
        PROBLEMS.register(123, object())  # type: ignore[arg-type]
    assert 123 not in PROBLEMS
    assert list(PROBLEMS)  # still sortable
