"""More faults on a real Dask cluster whose workers cannot see the client's
folder (tests/cluster.py; the comparisons are tests/test_cluster.py's): a
worker that dies inside a run whose files were shipped, two projects with
the same problem name on one cluster, Ctrl-C while runs are on the workers,
an address that is not a scheduler, a scheduler with no workers yet."""

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cluster import Cluster
from helpers import run_cli
from test_cluster import site, summary  # noqa: F401 (site: the module's cluster fixture)

pytestmark = pytest.mark.slow

# A user problem that SIGKILLs the worker process running it, once (the marker lies where the workers see it).
KILLER = """
import os, signal
import autograd.numpy as anp
import numpy as np
from optrun import Problem, register_problem

@register_problem("killer", description="kills its Dask worker once", formula="|x|^2", parameters="x (2,)")
def killer(options):
    try:
        from distributed import get_worker
        get_worker()
        if not os.path.exists({mark!r}):
            open({mark!r}, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
    except ValueError:  # not in a worker: the client validating the config
        pass
    return Problem(objective=lambda p: anp.sum((p["x"] - 1.5) ** 2), start={{"x": np.zeros(2)}})
"""

TWIN = """
from optrun import Problem, register_problem

@register_problem("twin", description="the same name in two projects", formula="(x-{c})^2", parameters="x")
def twin(options):
    return Problem(objective=lambda p: (p["x"] - {c}) ** 2, start={{"x": 0.0}})
"""

RUN = "optimizer: {{name: gd, step_size: 0.1}}\nstop: {{max_iter: 200}}\nproblem: {{name: {name}}}\n"


def _project(root: Path, problem_file: str, source: str, name: str) -> Path:
    (root / "problems").mkdir(parents=True)
    (root / "problems" / problem_file).write_text(source)
    (root / "pyproject.toml").write_text("")  # a project root: problems/ is found from the config
    (root / "run.yaml").write_text(RUN.format(name=name))
    return root


def test_a_worker_killed_inside_a_run_with_shipped_files_costs_nothing_but_time(site, tmp_path):  # noqa: F811
    mark = site.cluster.root / "killed-once"  # outside the hidden folder: the workers see it
    mark.unlink(missing_ok=True)
    project = _project(site.folder / "killer-project", "killer.py", KILLER.format(mark=str(mark)), "killer")
    sent = site.cluster.tasks_sent()
    result = run_cli(
        "sweep",
        "run.yaml",
        "--seeds",
        4,
        "-s",
        "init.kind=normal",
        "--dask",
        site.cluster.address,
        cwd=project,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert mark.exists() and site.cluster.tasks_sent() - sent > 4  # one task died with its worker and ran again
    [sweep_dir] = project.glob("outputs/run/sweep-*")
    assert len(list(sweep_dir.glob("run-*/summary.json"))) == 4
    assert not list(sweep_dir.glob(".*")), "a staging folder was left"
    site.cluster.wait_for_workers(2)


def _new_sweep(cwd: Path, *args) -> Path:
    """Run ``optrun sweep *args`` in ``cwd`` (exit 0 expected): the sweep folder it made."""
    before = set(cwd.glob("outputs/*/sweep-*"))
    result = run_cli("sweep", *args, cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stderr
    [made] = set(cwd.glob("outputs/*/sweep-*")) - before
    return made


def test_two_projects_with_the_same_problem_name_run_their_own_on_one_cluster(site):  # noqa: F811
    a = _project(site.folder / "project-a", "twin.py", TWIN.format(c=1.0), "twin")
    b = _project(site.folder / "project-b", "twin.py", TWIN.format(c=2.0), "twin")
    for project, x in ((a, 1.0), (b, 2.0), (a, 1.0)):
        # from the project's folder, and from above it (the same file shipped under another path)
        for cwd, config in ((project, "run.yaml"), (site.folder, f"{project.name}/run.yaml")):
            sweep_dir = _new_sweep(cwd, config, "--seeds", 2, "--dask", site.cluster.address, "-q")
            assert summary(sweep_dir / "run-0001")["params"] == {"x": pytest.approx(x, abs=1e-6)}


def test_ctrl_c_stops_the_runs_on_the_workers_and_leaves_nothing_there(site):  # noqa: F811
    cluster = site.cluster
    before = set(site.folder.glob("outputs/slow/sweep-*"))
    proc = site.popen(
        "sweep",
        "more/slow.yaml",
        "--seeds",
        2,
        "-s",
        "stop.max_iter=100000000",
        "-s",
        "stop.grad_tol=null",
        "-s",
        "output.log_every=1000",
        "--dask",
        cluster.address,
    )

    def traces():
        return [p for name in cluster.workers for p in cluster.tmp_dir(name).glob("optrun-remote-*/run/trace.csv")]

    deadline = time.monotonic() + 120
    while len(traces()) < 2 or not all(t.stat().st_size > 2000 for t in traces()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    stopped = time.monotonic()

    def running(dask_scheduler) -> int:
        return sum(ts.state == "processing" for ts in dask_scheduler.tasks.values())

    while cluster.client.run_on_scheduler(running) or traces():  # the runs stop and their scratch folders go
        assert time.monotonic() - stopped < 15, "runs still going on the workers"
        time.sleep(0.1)
    [sweep_dir] = set(site.folder.glob("outputs/slow/sweep-*")) - before
    assert sorted(p.name for p in sweep_dir.iterdir()) == ["sweep.csv", "sweep.json"]  # --resume redoes both


def test_an_address_that_is_not_a_scheduler_is_one_line_and_leaves_no_sweep(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def banner() -> None:  # a server that speaks first (ssh): what it sends is not Dask's protocol
        for _ in range(2):
            conn, _ = server.accept()
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n" * 10)

    threading.Thread(target=banner, daemon=True).start()
    (tmp_path / "c.yaml").write_text("problem: rosenbrock\noptimizer: gd\nstop: {max_iter: 10}\n")
    for args in (["sweep", "c.yaml", "--seeds", 2], ["check", "c.yaml"]):
        result = run_cli(*args, "--dask", f"tcp://127.0.0.1:{port}", cwd=tmp_path, timeout=60)
        assert result.returncode == 1, result.stderr
        [line] = result.stderr.strip().splitlines()[-1:]
        assert f"cannot reach a Dask scheduler at tcp://127.0.0.1:{port}" in line and "Traceback" not in result.stderr
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("sweep.json"))


def test_a_scheduler_without_workers_is_waited_for_and_ctrl_c_ends_the_wait(tmp_path):
    (tmp_path / "c.yaml").write_text("problem: rosenbrock\noptimizer: gd\nstop: {max_iter: 10}\n")
    with Cluster(tmp_path / "empty", hidden=[], workers=0) as empty:
        proc = subprocess.Popen(
            [sys.executable, "-m", "optrun", "sweep", "c.yaml", "--seeds", "2", "--dask", empty.address],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(4)
        assert proc.poll() is None  # waiting for a worker (a batch system may still be starting them)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert "optrun sweep --resume" in stderr
