"""Faults during a run lose nothing: failing objectives, SIGKILL, a full
disk, lost permissions, and many runs at once."""

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, run_dirs
from tolerances import rounding
from typer.testing import CliRunner

import optrun
from optrun.cli import app
from optrun.core.problems import PROBLEMS, Problem, register_problem

pytestmark = pytest.mark.slow  # real processes, signals and concurrency: not in the fast subset (pytest -m "not slow")


@pytest.fixture
def nan_at_step():
    """x^2 whose value turns NaN once x drops below 1 (x_k = 3 * 0.8^k: at k = 5)."""

    @register_problem("test_nan_at_step", description="nan below 1", formula="x^2", parameters="x")
    def build(options):
        def f(p):
            value = p["x"] ** 2
            return value * np.nan if float(getattr(p["x"], "_value", p["x"])) < 1.0 else value

        return Problem(objective=f, start={"x": 3.0})

    yield "test_nan_at_step"
    PROBLEMS.unregister("test_nan_at_step")


def test_objective_returning_nan_at_step_k(workdir, nan_at_step):
    result = optrun.run(
        {
            "problem": nan_at_step,
            "optimizer": {"name": "gd", "step_size": 0.1},
            "stop": {"grad_tol": None},
            "output": {"plots": False},
        }
    )
    assert result.status == "diverged"
    assert result.message == "f became non-finite (nan) at iteration 5"
    assert result.trace["iter"].tolist() == [0, 1, 2, 3, 4, 5]
    assert np.isfinite(result.trace["f"][:5]).all() and np.isnan(result.trace["f"][5])
    # four steps x - 0.1 (2x) = 0.8 x (0.1 inexact: about eps relative a step), then x^2, against 0.8^4 and a square
    # here (0.8 inexact, times 4): under 16 eps relative
    assert (result.best.fun, result.best.iter) == (pytest.approx((3 * 0.8**4) ** 2, rel=rounding(16)), 4)


def _start(workdir, text):
    (workdir / "long.yaml").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "optrun", "run", "long.yaml", "-q"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        found = list(workdir.glob("outputs/long/*/trace.csv"))
        if found and found[0].read_text().count("\n") > 20:
            return proc, found[0]
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no trace rows appeared")


def test_sigkill_leaves_complete_rows_and_no_summary(workdir):
    proc, trace = _start(
        workdir,
        "problem: {name: trid, dim: 50}\noptimizer: {name: gd, step_size: 1.0e-9}\n"
        "stop: {max_iter: 100000000, grad_tol: null}\n",
    )
    time.sleep(0.7)  # let it flush a few more times
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    lines = trace.read_text().split("\n")
    assert lines[-1] == ""  # the file ends at a row boundary
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1:-1]]
    assert len(rows) > 20 and all(len(r) == len(header) for r in rows)
    assert [int(r[0]) for r in rows] == list(range(len(rows)))
    np.array(rows, dtype=float)  # every cell parses
    assert not (trace.parent / "summary.json").exists()


@pytest.mark.parametrize("err, text", [(errno.ENOSPC, "No space left on device"), (errno.EACCES, "Permission denied")])
def test_disk_full_or_permission_lost_mid_run(workdir, monkeypatch, err, text):
    import optrun.core.trace_files

    real_write, calls = os.write, {"n": 0}

    def failing_write(fd, data):
        calls["n"] += 1
        if calls["n"] > 3:  # the header and two rows (one flush each) succeed, then the disk "fills"
            raise OSError(err, os.strerror(err))
        return real_write(fd, data)

    monkeypatch.setattr(optrun.core.trace_files.os, "write", failing_write)
    (workdir / "c.yaml").write_text(
        "problem: trid\noptimizer: {name: gd, step_size: 1.0e-9}\n"
        "stop: {max_iter: 100000, grad_tol: null}\noutput: {plots: false}\n"
    )
    from optrun.core.trace import TraceWriter

    real_init = TraceWriter.__init__

    def flushing_every_row(self, *args, **kwargs):  # every row written at once (flush_seconds 0)
        real_init(self, *args, **{**kwargs, "flush_seconds": 0.0, "max_buffered": 5})

    monkeypatch.setattr(TraceWriter, "__init__", flushing_every_row)
    result = CliRunner().invoke(app, ["run", "c.yaml"])
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.count("\n") == 0 and "Traceback" not in result.stderr
    assert (
        line.startswith("error: ")
        and f"trace.csv: cannot write the trace: {text}; trace.csv keeps its 2 complete rows" in line
    )
    assert line.endswith("and the run is recorded as failed in summary.json")
    [run] = run_dirs(workdir, "c")
    rows = (run / "trace.csv").read_text().splitlines()
    assert (
        rows[0].startswith("iter,f,")
        and len(rows) == 3
        and all(len(r.split(",")) == len(rows[0].split(",")) for r in rows)
    )
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["io_error"] == f"cannot write the trace: {text}"
    assert summary["message"].startswith(f"cannot write the trace: {text} at iteration ")


def test_sixteen_concurrent_runs_get_sixteen_complete_directories(workdir):
    (workdir / "same.yaml").write_text("problem: trid\noptimizer: {name: gd, step_size: 0.1}\noutput: {plots: false}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-m", "optrun", "run", "same.yaml", "-q"], cwd=workdir, env=env)
        for _ in range(16)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0] * 16
    dirs = run_dirs(workdir, "same")
    assert len(dirs) == 16
    for d in dirs:
        summary = json.loads((d / "summary.json").read_text())
        assert summary["status"] == "converged"
        assert (d / "trace.csv").read_text().count("\n") == summary["nit"] + 2
        assert (d / "config.yaml").exists()


def _helper_running_a_run(parent: int, deadline: float) -> tuple[int, Path]:
    """A pool helper of ``parent`` that has a run's trace.csv open (so it is
    mid-run), and that run's directory."""
    while time.monotonic() < deadline:
        for child in Path("/proc").iterdir():
            try:
                if not child.name.isdigit() or int((child / "stat").read_text().rsplit(")", 1)[1].split()[1]) != parent:
                    continue
                for fd in (child / "fd").iterdir():
                    target = Path(os.readlink(fd))
                    if target.name == "trace.csv":
                        return int(child.name), target.parent
            except (OSError, ValueError):
                continue
        time.sleep(0.02)
    raise AssertionError("no pool helper started a run")


def test_a_sweep_helper_killed_by_sigkill_is_reported_and_the_sweep_finishes(workdir):
    (workdir / "long.yaml").write_text(
        "name: long\nproblem: {name: trid, dim: 2}\noptimizer: {name: gd, step_size: 1.0e-9}\n"
        "stop: {max_iter: 3000, grad_tol: null}\noutput: {plots: false}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "optrun", "sweep", "long.yaml", "--seeds", "3", "--workers", "2"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pid, killed = _helper_running_a_run(proc.pid, time.monotonic() + 120)
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=180)  # the sweep goes on without it, and ends
    finally:
        proc.kill()
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr and "error: 1 runs could not run; see the message column of sweep.csv" in stderr
    assert "3 of 3 runs done" in stdout
    [sweep_dir] = (workdir / "outputs" / "long").glob("sweep-*")
    rows = {row["run_dir"].rsplit("/", 1)[1]: row for row in csv.DictReader(open(sweep_dir / "sweep.csv"))}
    assert sorted(rows) == ["run-0001", "run-0002", "run-0003"]
    lost = rows.pop(killed.name)
    assert lost["status"] == "error"
    assert (
        lost["message"]
        == f"its worker process (pid {pid}) was killed by SIGKILL; the run has no summary (--resume redoes it)"
    )
    assert not (killed / "summary.json").exists()
    assert all(row["status"] == "max_iter" for row in rows.values())
    assert not Path(f"/proc/{pid}").exists()  # reaped
    # --resume redoes the killed run, and only it
    resumed = subprocess.run(
        [sys.executable, "-m", "optrun", "sweep", "--resume", str(sweep_dir)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "3 of 3 runs done (2 kept from before)" in resumed.stdout
    assert json.loads((killed / "summary.json").read_text())["status"] == "max_iter"


def test_a_check_helper_killed_by_sigkill_fails_its_config_and_the_check_finishes(workdir):
    # not a stop (exit 130, "interrupted"): the other configs are checked, the lost one fails with why, exit 1
    for name in ("a", "b", "c"):
        (workdir / f"{name}.yaml").write_text(
            f"name: {name}\nproblem: {{name: trid, dim: 2}}\noptimizer: {{name: gd, step_size: 1.0e-9}}\n"
            "stop: {max_iter: 3000, grad_tol: null}\noutput: {plots: false}\nexpect: {status: max_iter}\n"
        )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "optrun", "check", "a.yaml", "b.yaml", "c.yaml", "--workers", "2", "--quiet"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pid, killed = _helper_running_a_run(proc.pid, time.monotonic() + 120)
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr and "interrupted" not in stderr + stdout
    config = killed.parent.name  # outputs/<name>/<run>
    assert (
        f"check failed: {config}.yaml: fail (not checked: its worker process (pid {pid}) was killed by SIGKILL before the run finished)"
        in stderr
    )
    assert not Path(f"/proc/{pid}").exists()  # reaped
