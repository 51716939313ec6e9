"""Every command stops on SIGINT/SIGTERM within a second or two, exit
128 + signal, nothing half-written (issue 28, point 2): show, plot, report,
list-problems and describe (which only noted the signal and went on, even
blocked in a read or a write forever), and bench's drawing phase (which
ignored SIGTERM until its plots were drawn, then exited 0). Real signals to
real `optrun` processes; synchronisation is by state (what the process
blocks in, per /proc/PID/wchan; what it has loaded, per /proc/PID/maps)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux /proc")]

TINY = """\
name: tiny
problem: {name: trid, dim: 2}
optimizer: {name: gd, step_size: 0.01}
stop: {max_iter: 30}
output: {plots: false}
"""

# a user problem whose build reads a FIFO (a data source that never comes): describe, list-problems and plot build it
FIFO_PROBLEM = """\
import os
from optrun.core.problems import Problem, register_problem


@register_problem("fifo_data", description="x^2 scaled by a number read from a FIFO", formula="a x^2", parameters="x")
def build(options):
    with open(os.environ["OPTRUN_TEST_FIFO"]) as handle:
        scale = float(handle.read() or 1)
    return Problem(objective=lambda p: scale * p["x"] ** 2, start={"x": 3.0})
"""

_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_process_left():
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def start(cwd: Path, *args, **env) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "optrun", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _started.append(proc)
    return proc


def wait_for(condition, what: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def blocked_in(proc: subprocess.Popen, *kernel_functions: str) -> bool:
    try:
        return Path(f"/proc/{proc.pid}/wchan").read_text() in kernel_functions
    except OSError:
        return False


def loaded(proc: subprocess.Popen, library: str) -> bool:
    try:
        return library in Path(f"/proc/{proc.pid}/maps").read_text()
    except OSError:
        return False


def stops(proc: subprocess.Popen, sig: int, within: float = 10.0, read_stdout: bool = True) -> tuple[str, str]:
    """Send ``sig``; the process must end within ``within`` seconds (without
    anyone reading its stdout unless ``read_stdout``) with 128 + sig and one
    'interrupted by' line."""
    proc.send_signal(sig)
    if not read_stdout:
        try:
            proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {within} s after {signal.Signals(sig).name}") from None
    try:
        stdout, stderr = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {within} s after {signal.Signals(sig).name}") from None
    assert proc.returncode == 128 + sig, (proc.returncode, stderr)
    assert f"interrupted by {signal.Signals(sig).name}" in stderr, stderr
    assert "Traceback" not in stderr, stderr
    return stdout, stderr


@pytest.fixture
def fifo_folder(workdir):
    (workdir / "problems").mkdir()
    (workdir / "problems" / "fifo_data.py").write_text(FIFO_PROBLEM)
    os.mkfifo(workdir / "never")
    return workdir


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("command", [["describe", "fifo_data"], ["list-problems"]])
def test_a_command_blocked_reading_a_fifo_stops(fifo_folder, command, sig):
    proc = start(fifo_folder, *command, OPTRUN_TEST_FIFO=str(fifo_folder / "never"))
    wait_for(lambda: blocked_in(proc, "wait_for_partner", "pipe_read", "anon_pipe_read"), "the read of the FIFO")
    stops(proc, sig)


def test_plot_blocked_rebuilding_its_problem_stops(fifo_folder):
    (fifo_folder / "c.yaml").write_text(TINY.replace("{name: trid, dim: 2}", "{name: fifo_data}"))
    regular = fifo_folder / "scale.txt"
    regular.write_text("2")
    result = run_cli("run", "c.yaml", "-q", cwd=fifo_folder, env_extra={"OPTRUN_TEST_FIFO": str(regular)})
    assert result.returncode == 0, result.stderr
    (run_dir,) = (fifo_folder / "outputs" / "tiny").iterdir()
    proc = start(fifo_folder, "plot", run_dir, OPTRUN_TEST_FIFO=str(fifo_folder / "never"))
    wait_for(lambda: blocked_in(proc, "wait_for_partner", "pipe_read", "anon_pipe_read"), "the read of the FIFO")
    stops(proc, signal.SIGTERM)
    assert not list(run_dir.glob(".*.tmp")), "a temporary plot file was left behind"


def test_show_blocked_writing_to_a_reader_that_stopped_reading_stops(workdir):
    """`optrun show RUN | less`, the pager paused: the show waits on a full
    pipe. A signal ends it at once, without the reader ever reading."""
    (workdir / "c.yaml").write_text(TINY)
    assert run_cli("run", "c.yaml", "-q", cwd=workdir).returncode == 0
    (run_dir,) = (workdir / "outputs" / "tiny").iterdir()
    with (run_dir / "config.yaml").open("a") as handle:  # longer than a pipe holds (64 KiB)
        handle.write("".join(f"# note {i}: {'x' * 60}\n" for i in range(3000)))
    proc = start(workdir, "show", run_dir, COLUMNS="200")
    wait_for(lambda: blocked_in(proc, "pipe_write", "anon_pipe_write"), "the write to the full pipe")
    stops(proc, signal.SIGTERM, read_stdout=False)


def test_report_stops_and_writes_no_page(workdir):
    """A report of many runs (each drawn for the page) after Ctrl-C used to
    write its whole page; now it stops, and no page (nor a temporary file)
    is left."""
    (workdir / "c.yaml").write_text(TINY)
    assert run_cli("run", "c.yaml", "-q", cwd=workdir).returncode == 0
    (run_dir,) = (workdir / "outputs" / "tiny").iterdir()
    for i in range(40):  # runs without plots: each is drawn for the page (matplotlib, a second or more in all)
        shutil.copytree(run_dir, workdir / "study" / f"run-{i:04d}")
    proc = start(workdir, "report", "study", "--out", "page.html")
    wait_for(lambda: loaded(proc, "matplotlib"), "the drawing")
    stops(proc, signal.SIGINT)
    assert not (workdir / "page.html").exists()
    assert not list(workdir.glob(".page.html.*")), "a temporary file was left behind"


def test_bench_stops_while_it_draws_and_resume_draws(workdir):
    """A signal while a bench draws its plots (after every run is recorded)
    stops it at once, 143, with the --resume line; bench.csv is whole or
    absent, and --resume writes the outputs."""
    (workdir / "s.yaml").write_text(
        "name: draw\nproblems: [{name: trid, dim: 2}, {name: rosenbrock}]\n"
        "optimizers: [{name: gd, step_size: 0.001}, {name: lbfgs}]\nstarts: 2\n"
        "budget: {max_iter: 50}\ntargets: [0.1, 0.001]\n"
    )
    proc = start(workdir, "bench", "s.yaml", "--workers", "1", "-q")
    # bench.csv is written just before the plots are drawn
    wait_for(lambda: list(workdir.glob("outputs/draw/*/bench.csv")), "bench.csv (the drawing follows)")
    _, stderr = stops(proc, signal.SIGTERM)
    assert "optrun bench --resume" in stderr
    (bench_dir,) = (workdir / "outputs" / "draw").iterdir()
    assert not list(bench_dir.glob(".*.tmp")), "a temporary file was left behind"
    assert len((bench_dir / "bench.csv").read_text().splitlines()) == 1 + 8
    result = run_cli("bench", "--resume", bench_dir, "--workers", "1", "-q", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert len((bench_dir / "bench.csv").read_text().splitlines()) == 1 + 8
    assert list(bench_dir.glob("*.png"))
