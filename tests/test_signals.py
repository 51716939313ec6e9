"""SIGINT and SIGTERM at any moment, through the command line, as real
signals to real processes (issue 13, points 2 and 3).

Synchronisation is by state, never by a fixed sleep alone: a user problem
file in ./problems (loaded as the command starts, after its handler is in
place) writes a marker file; tests wait for it, for a run directory, or for
trace rows before they signal."""

import contextlib
import csv
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO

pytestmark = pytest.mark.slow

MARKER_PROBLEM = """\
import os, pathlib, time
from optrun.core.problems import Problem, register_problem

MARK = os.environ.get("OPTRUN_TEST_MARK")
if MARK:  # the command has started (this file is loaded by its first line)
    pathlib.Path(MARK).touch()


@register_problem("test_slow_build", description="x^2; its build waits for OPTRUN_TEST_HOLD", formula="x^2", parameters="x")
def build(options):
    hold = os.environ.get("OPTRUN_TEST_HOLD")
    if hold:  # the test signals now, while the config is being prepared
        pathlib.Path(hold + ".reached").touch()
        deadline = time.time() + 30
        while not pathlib.Path(hold).exists() and time.time() < deadline:
            time.sleep(0.01)
    return Problem(objective=lambda p: p["x"] ** 2, start={"x": 3.0})
"""

TINY = """\
name: tiny
problem: {name: trid, dim: 2}
optimizer: {name: gd, step_size: 0.001}
stop: {max_iter: 1500, grad_tol: null}
output: {plots: false}
"""

LONG = """\
name: long
problem: {name: trid, dim: 2}
optimizer: {name: gd, step_size: 1.0e-9}
stop: {max_iter: 100000000, grad_tol: null}
output: {plots: false}
"""

FINISHED = ("converged", "max_iter", "time_limit")


def _env(**extra):
    env = {**os.environ, "PYTHONPATH": str(REPO), **extra}
    env.pop("COLUMNS", None)
    return env


_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_process_left():
    """A failing test must not leave its processes (or their workers) running."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            for pid in children(proc.pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait(timeout=30)


def start(workdir, *args, new_session=False, **env):
    proc = subprocess.Popen(
        [sys.executable, "-m", "optrun", *map(str, args)],
        cwd=workdir,
        env=_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )
    _started.append(proc)
    return proc


def wait_for(condition, timeout=90.0, what="a state"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def trace_rows(path: Path) -> int:
    try:
        return max(path.read_text().count("\n") - 1, 0)
    except OSError:
        return 0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def check_run_dir(run_dir: Path) -> dict:
    """What any signal may leave: config.yaml, a trace of complete rows
    numbered 0..n, and a summary that is interrupted or finished and agrees
    with the trace."""
    assert (run_dir / "config.yaml").is_file(), sorted(os.listdir(run_dir))
    text = (run_dir / "trace.csv").read_text()
    assert text.endswith("\n")
    rows = list(csv.reader(text.splitlines()))
    header, body = rows[0], rows[1:]
    assert all(len(row) == len(header) for row in body)
    assert [int(row[0]) for row in body] == list(range(len(body)))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] in ("interrupted", *FINISHED), summary
    assert summary["nit"] == len(body) - 1 or (summary["status"] == "interrupted" and not body and summary["nit"] == 0)
    assert not [p.name for p in run_dir.iterdir() if p.name.startswith(".")]  # no temporary file left
    return summary


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr and stderr.count("\n") <= 1, stderr
    return stderr.strip()


# ------------------------------------------------------------- optrun run
@pytest.fixture
def marked(workdir):
    (workdir / "problems").mkdir()
    (workdir / "problems" / "marker.py").write_text(MARKER_PROBLEM)
    (workdir / "tiny.yaml").write_text(TINY)
    (workdir / "long.yaml").write_text(LONG)
    return workdir


def _signal_run(workdir, config, seed, delay, double, name):
    """Start `optrun run`, wait for its start marker, signal after ``delay``
    (and again ``double`` seconds later); check what is left."""
    rng = random.Random(seed)
    mark = workdir / f"mark-{seed}"
    proc = start(workdir, "run", config, "-q", OPTRUN_TEST_MARK=str(mark))
    wait_for(mark.exists, what="the command to start")
    first = rng.choice([signal.SIGINT, signal.SIGTERM])
    time.sleep(delay)
    proc.send_signal(first)
    sent = {128 + first}
    if double is not None:
        second = rng.choice([signal.SIGINT, signal.SIGTERM])
        time.sleep(double)
        if proc.poll() is None:
            proc.send_signal(second)
            sent.add(128 + second)
    _, stderr = proc.communicate(timeout=120)
    folder = workdir / "outputs" / name
    dirs = sorted(folder.iterdir()) if folder.exists() else []
    line = one_line(stderr)
    if not dirs:
        assert proc.returncode in sent, (proc.returncode, stderr)
        assert "before the run started; nothing was recorded" in line
        return "none"
    assert len(dirs) == 1
    summary = check_run_dir(dirs[0])
    if summary["status"] == "interrupted":
        assert proc.returncode in sent and proc.returncode == 128 + signal.Signals[summary["message"].split()[2]], (
            proc.returncode,
            summary,
        )
        assert line == f"{summary['message']}; recorded in outputs/{name}/{dirs[0].name}"
    else:
        assert proc.returncode == 0, (proc.returncode, stderr)
        assert (
            line == "" or f"came as the run ended; it is recorded as {summary['status']}, nothing was cut short" in line
        ), line
    for d in dirs:
        import shutil

        shutil.rmtree(d)
    return summary["status"]


@pytest.mark.long
def test_signals_at_random_moments_leave_a_run_recorded_or_nothing(marked):
    """24 runs of a tiny config, signalled at seeded random moments from the
    command's start to past its end, half of them twice 0-50 ms apart."""
    t0 = time.monotonic()
    proc = start(marked, "run", "tiny.yaml", "-q", OPTRUN_TEST_MARK=str(marked / "mark-probe"))
    wait_for((marked / "mark-probe").exists, what="the command to start")
    t1 = time.monotonic()
    assert proc.wait(timeout=120) == 0
    span = time.monotonic() - t1  # the command's life after its start marker
    import shutil

    shutil.rmtree(marked / "outputs")
    rng = random.Random(13)
    seen = []
    for i in range(24):
        delay = rng.uniform(0, 1.15 * span)
        if i >= 22:  # and surely past the end: a probe run faster than the rest (a loaded machine) left no moment there
            delay = 3 * span + 0.5
        double = rng.uniform(0, 0.05) if i % 2 else None
        seen.append(_signal_run(marked, "tiny.yaml", 1000 + i, delay, double, "tiny"))
    # the moments covered the phases: before the run, during it and (mostly) after it
    assert "interrupted" in seen and len(set(seen)) >= 2, seen  # the moments reached the loop and another phase
    assert time.monotonic() - t0 < 600


@pytest.mark.parametrize(
    "signals", [(signal.SIGINT, signal.SIGINT), (signal.SIGINT, signal.SIGTERM), (signal.SIGTERM,)]
)
def test_a_signal_as_soon_as_the_run_directory_exists_is_recorded(marked, signals):
    proc = start(marked, "run", "long.yaml", "--json")
    folder = marked / "outputs" / "long"
    run_dir = wait_for(lambda: next(folder.iterdir(), None) if folder.exists() else None, what="the run directory")
    for sig in signals:  # doubles 0 ms apart: the second one would stop at once
        proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    summary = check_run_dir(run_dir)
    assert summary["status"] == "interrupted"
    assert proc.returncode == 128 + signal.Signals[summary["message"].split()[2]]
    assert proc.returncode - 128 in signals
    assert json.loads(stdout)["status"] == "interrupted"
    assert one_line(stderr).startswith("interrupted by SIG")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_config_is_prepared_records_nothing(marked, sig):
    (marked / "slow.yaml").write_text("name: slow\nproblem: test_slow_build\noptimizer: gd\noutput: {plots: false}\n")
    hold = marked / "hold"
    proc = start(marked, "run", "slow.yaml", "-q", OPTRUN_TEST_HOLD=str(hold))
    wait_for((marked / "hold.reached").exists, what="the problem's build")
    proc.send_signal(sig)
    proc.send_signal(sig)  # a double, too
    hold.touch()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig
    assert one_line(stderr) == f"error: interrupted by {sig.name} before the run started; nothing was recorded"
    assert not (marked / "outputs").exists()


def test_a_signal_while_plots_are_drawn_keeps_the_run(marked):
    (marked / "plotted.yaml").write_text(
        TINY.replace("name: tiny", "name: plotted").replace("plots: false", "plots: true")
    )
    proc = start(marked, "run", "plotted.yaml", "-q")
    folder = marked / "outputs" / "plotted"
    summary = wait_for(
        lambda: next(folder.glob("*/summary.json"), None) if folder.exists() else None, what="summary.json"
    )
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0  # the run's own status: it finished
    assert check_run_dir(summary.parent)["status"] == "max_iter"
    line = one_line(stderr)
    assert (
        "plots not drawn: interrupted (redraw with: optrun plot" in line
        or "came as the run ended; it is recorded as max_iter" in line
        or line == ""
    ), line


# --------------------------------------------------------- sweep and check
def _start_and_wait_for_runs(workdir, args, runs=2, rows=20, traces="outputs/**/trace.csv", **kwargs):
    proc = start(workdir, *args, **kwargs)

    def running():
        traces_now = list(workdir.glob(traces))
        return len(traces_now) >= runs and all(trace_rows(t) >= rows for t in traces_now[:runs])

    wait_for(running, what=f"{runs} runs with {rows} trace rows")
    return proc


def _sweep_dir(workdir):
    [found] = list(workdir.glob("outputs/long/sweep-*"))
    return found


@pytest.mark.parametrize("how", ["SIGTERM to the parent", "double Ctrl-C to the process group"])
def test_sweep_with_a_pool_stops_within_seconds_and_keeps_what_ran(marked, how):
    proc = _start_and_wait_for_runs(marked, ["sweep", "long.yaml", "--seeds", "5", "--workers", "2"], new_session=True)
    workers = children(proc.pid)
    assert workers
    t0 = time.monotonic()
    if how.startswith("SIGTERM"):
        proc.send_signal(signal.SIGTERM)
        code = 143
    else:
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        code = 130
    stdout, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 20
    assert proc.returncode == code, stderr
    sweep_dir = _sweep_dir(marked)
    assert f"finish it with  optrun sweep --resume outputs/long/{sweep_dir.name}" in stderr
    assert "Traceback" not in stderr
    assert "0 of 5 runs done" in stdout
    rows = list(csv.DictReader(open(sweep_dir / "sweep.csv")))
    assert len(rows) == 2 and all(r["status"] == "interrupted" for r in rows)
    for row in rows:
        check_run_dir(marked / row["run_dir"])
    assert not list(sweep_dir.glob("run-0005"))  # nothing new started
    wait_for(lambda: not any(alive(pid) for pid in workers), timeout=10, what="the workers to end")


def test_check_with_a_pool_stops_on_sigterm_and_writes_junit(marked):
    (marked / "chk").mkdir()
    for name in "abcde":
        (marked / "chk" / f"{name}.yaml").write_text(
            LONG.replace("name: long", f"name: {name}") + "expect: {fun: known}\n"
        )
    proc = _start_and_wait_for_runs(
        marked, ["check", "chk", "--workers", "2", "--junit", "junit.xml", "--keep-runs", "outputs"]
    )
    workers = children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert one_line(stderr) == "interrupted by SIGTERM: 0 of 5 configs checked; JUnit report: junit.xml"
    assert stdout.count("INTERRUPTED") == 2 and stdout.count("NOT RUN") == 3
    assert "0 passed, 0 failed, 0 errors, 0 skipped, 2 interrupted, 3 not run" in stdout
    junit = (marked / "junit.xml").read_text()
    assert junit.count('type="Interrupted"') == 2 and junit.count("<skipped") == 3
    wait_for(lambda: not any(alive(pid) for pid in workers), timeout=10, what="the workers to end")


def test_check_in_process_stops_on_the_first_ctrl_c(marked):
    (marked / "chk").mkdir()
    for name in "abc":
        (marked / "chk" / f"{name}.yaml").write_text(
            LONG.replace("name: long", f"name: {name}") + "expect: {fun: known}\n"
        )
    proc = _start_and_wait_for_runs(
        marked, ["check", "chk", "--workers", "1", "--junit", "junit.xml", "--keep-runs", "outputs"], runs=1
    )  # in process: the default is a pool
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "1 interrupted, 2 not run" in stdout
    assert [p.name for p in (marked / "outputs").iterdir()] == ["a"]  # b and c never started


def test_workers_of_a_killed_parent_exit_and_release_its_stdout(marked):
    proc = _start_and_wait_for_runs(marked, ["sweep", "long.yaml", "--seeds", "4", "--workers", "2"])
    workers = children(proc.pid)
    assert len(workers) >= 2
    proc.kill()
    proc.wait(timeout=10)
    wait_for(lambda: not any(alive(pid) for pid in workers), timeout=10, what="the orphaned workers to end")
    # the parent's stdout reaches EOF: no orphan holds it open
    import select

    fd, deadline = proc.stdout.fileno(), time.monotonic() + 10
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0] and not os.read(fd, 65536):
            break
    else:
        raise AssertionError("the parent's stdout is still held open 10 s after it was killed")


def test_a_worker_watches_its_parent_without_the_kernel(tmp_path):
    """The watcher thread alone (no PR_SET_PDEATHSIG) ends a worker whose parent is gone."""
    code = (
        "import os, threading; from optrun.engine.pool import _WorkerSignals, _watch;"
        "threading.Thread(target=_watch, args=(os.getppid() + 987654, _WorkerSignals()), daemon=True).start();"
        "threading.Event().wait(30)"
    )
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], env=_env(), timeout=60)
    assert proc.returncode == 1 and time.monotonic() - t0 < 30


def test_a_worker_refuses_tasks_after_a_signal_and_interrupted_pickles():
    from optrun.core.runner import Interrupted
    from optrun.engine import pool

    again = pickle.loads(pickle.dumps(Interrupted(signal.SIGTERM)))
    assert isinstance(again, KeyboardInterrupt) and again.signum == signal.SIGTERM
    flag = pool._WorkerSignals()
    saved, pool._worker = pool._worker, flag
    try:
        assert pool._task(lambda x: x + 1, 1) == 2 and not flag.busy
        flag(signal.SIGINT, None)  # unarmed (idle): only recorded
        with pytest.raises(Interrupted):
            pool._task(lambda x: x + 1, 1)
    finally:
        pool._worker = saved


def test_sweep_on_dask_stops_on_sigterm(marked):
    # Dask runs are recorded in their worker's scratch folder (its TMPDIR) and come back once finished
    (marked / "scratch").mkdir()
    proc = _start_and_wait_for_runs(
        marked,
        ["sweep", "long.yaml", "--seeds", "4", "--dask", "local:2"],
        rows=5,
        traces="scratch/optrun-remote-*/run/trace.csv",
        TMPDIR=str(marked / "scratch"),
    )
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 143, stderr
    assert time.monotonic() - t0 < 30
    sweep_dir = _sweep_dir(marked)
    assert (sweep_dir / "sweep.csv").exists() and "optrun sweep --resume" in stderr
    assert "0 of 4 runs done" in stdout
    assert sorted(p.name for p in sweep_dir.iterdir()) == ["sweep.csv", "sweep.json"]  # nothing half-recorded here


@pytest.mark.parametrize("sig, command", [(signal.SIGTERM, ["run", "c.yaml"]), (signal.SIGINT, ["list-problems"])])
def test_a_signal_while_the_command_is_still_importing_is_one_line(tmp_path, sig, command):
    """optrun.entry catches signals from its first line, before the command's
    imports: here the process signals itself right after that point, so the
    signal lands during the imports every time."""
    (tmp_path / "c.yaml").write_text("problem: trid\noptimizer: gd\n")
    code = (
        f"import os, sys; sys.argv = ['optrun', *{command!r}]; import optrun.entry as entry; "
        "import signal; [signal.signal(s, entry._note) for s in (signal.SIGINT, signal.SIGTERM)]; "
        f"os.kill(os.getpid(), {int(sig)}); entry.main()"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 128 + sig
    assert (
        result.stderr.strip()
        == f"error: interrupted by {signal.Signals(sig).name} before the command started; nothing was recorded"
    )
    assert not (tmp_path / "outputs").exists()
