"""optrun on a real Dask cluster whose workers share no disk with the client.

tests/cluster.py starts ``dask scheduler`` and two ``dask worker`` processes,
each worker with an empty private tmpfs over the client's folder (configs,
CSV data, problems/, outputs): a run can only work there if its config, its
data and its user problem files travel with the task and its run directory
comes back. Each test compares what the cluster recorded with what
``--workers 1`` records here, and counts the tasks the scheduler saw
finished (a run quietly done on the client would not count).
"""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cluster import Cluster, can_hide_folders
from helpers import REPO, run_cli

# Runs of about a second each (trid from a random start: seeds converge after different numbers of iterations).
SLOW = (
    "problem: {name: trid, dim: 4}\ninit: {kind: normal, scale: 3.0}\noptimizer: {name: gd, step_size: 0.04}\n"
    "stop: {max_iter: 5000, grad_tol: 1.0e-9}\noutput: {log_every: 100}\n"
)
SLOW_RUNS = 8
# Two problems of the MGH set, two optimizers, two starts.
MGH2 = (
    "name: mgh2\nproblems: [helical_valley, bard]\noptimizers: [lbfgs, {name: gd, step_size: 1.0e-4}]\n"
    "starts: 2\nbudget: {max_iter: 100}\ntargets: [1.0e-1, 1.0e-3]\n"
)
# Its trace, every row with 200 parameters and 200 gradient entries, is megabytes after a few hundred iterations.
WIDE = (
    "problem: {name: trid, dim: 200}\ninit: {kind: normal}\noptimizer: {name: gd, step_size: 1.0e-3}\n"
    "stop: {max_iter: 5, grad_tol: null}\n"
    "output: {dir: small, param_columns: 200, grad_columns: true, log_every: 1}\n"
)
SMALL_DISK = 2 << 20


@dataclass
class Site:
    folder: Path  # the client's folder (cwd of every command), hidden from the workers
    cluster: Cluster

    def optrun(self, *args, timeout=180):
        return run_cli(*args, cwd=self.folder, timeout=timeout)

    def popen(self, *args):
        return subprocess.Popen(
            [sys.executable, "-m", "optrun", *map(str, args)],
            cwd=self.folder,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def new_dir(self, pattern, *args):
        """Run ``optrun *args`` (exit 0 expected): the one new folder matching ``pattern``, and how many
        tasks the cluster finished meanwhile."""
        before = set(self.folder.glob(pattern))
        done = self.cluster.tasks_done()
        result = self.optrun(*args)
        assert result.returncode == 0, result.stderr
        [found] = set(self.folder.glob(pattern)) - before
        return found, self.cluster.tasks_done() - done


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    why = can_hide_folders()
    if why:
        pytest.skip(f"the workers cannot be given private folders here: {why}")
    base = tmp_path_factory.mktemp("dask")
    folder = base / "client"
    for sub in ("configs", "problems", "more"):
        (folder / sub).mkdir(parents=True)
    for name in ("configs/linreg-csv.yaml", "configs/rastrigin-user-problem.yaml"):
        shutil.copy(REPO / name, folder / name)
    for name in ("problems/example_data.csv", "problems/example_rastrigin.py"):
        shutil.copy(REPO / name, folder / name)
    (folder / "more" / "slow.yaml").write_text(SLOW)
    (folder / "more" / "mgh2.yaml").write_text(MGH2)
    (folder / "more" / "wide.yaml").write_text(WIDE)
    with Cluster(base / "cluster", hidden=[folder]) as cluster:
        seen = cluster.sees(folder / "problems" / "example_data.csv")
        assert len(seen) == 2 and not any(seen.values()), seen  # the workers really cannot read the client's files
        yield Site(folder, cluster)


@pytest.fixture(scope="module")
def slow_runs(site):
    """The summaries of SLOW's runs (--seeds 8) as --workers 1 records them here, by run directory name."""
    sweep_dir, _ = site.new_dir("outputs/slow/sweep-*", "sweep", "more/slow.yaml", "--seeds", SLOW_RUNS, "-w", 1)
    return {run.name: summary(run) for run in sorted(sweep_dir.glob("run-*"))}


# ---------------------------------------------------------------- comparing
def summary(run_dir):
    """summary.json without what differs between two recordings of one run (its wall time, the machine)."""
    data = json.loads((run_dir / "summary.json").read_text())
    return {key: value for key, value in data.items() if key not in ("wall_time_s", "machine")}


def trace(run_dir):
    """trace.csv's text without its time_s column."""
    rows = list(csv.reader((run_dir / "trace.csv").read_text().splitlines()))
    drop = rows[0].index("time_s")
    return [row[:drop] + row[drop + 1 :] for row in rows]


def table(path, drop=lambda column: False):
    rows = list(csv.DictReader(open(path)))
    return [{k: Path(v).name if k == "run_dir" else v for k, v in row.items() if not drop(k)} for row in rows]


def assert_same_run(run, local):
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in local.iterdir()), run
    assert (run / "config.yaml").read_text() == (local / "config.yaml").read_text()
    assert summary(run) == summary(local)
    assert trace(run) == trace(local)


def assert_same_runs(remote_dir, local_dir):
    runs = sorted(p.name for p in remote_dir.glob("run-*"))
    assert runs and runs == sorted(p.name for p in local_dir.glob("run-*"))
    for name in runs:
        assert_same_run(remote_dir / name, local_dir / name)
    assert not list(remote_dir.glob(".*")), "a staging folder was left"


def slow_sweep(site, address):
    """SLOW's sweep started on ``address``, once two of its runs are recorded here: the process and its folder."""
    before = set(site.folder.glob("outputs/slow/sweep-*"))
    proc = site.popen("sweep", "more/slow.yaml", "--seeds", SLOW_RUNS, "--dask", address)
    deadline = time.monotonic() + 120
    while True:
        found = set(site.folder.glob("outputs/slow/sweep-*")) - before
        if found and len(list(next(iter(found)).glob("run-*/summary.json"))) >= 2:
            return proc, next(iter(found))
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sweep never recorded two runs"
        time.sleep(0.02)


def assert_whole(sweep_dir, slow_runs):
    """Every run of SLOW's sweep recorded once, as --workers 1 records it, and nothing else."""
    names = [f"run-{i:04d}" for i in range(1, SLOW_RUNS + 1)]
    assert sorted(p.name for p in sweep_dir.iterdir()) == [*names, "sweep.csv", "sweep.json"]  # no staging folder
    for name in names:
        assert summary(sweep_dir / name) == slow_runs[name], name
    assert [row["index"] for row in table(sweep_dir / "sweep.csv")] == [str(i) for i in range(1, SLOW_RUNS + 1)]


# ---------------------------------------------------------------- tests
@pytest.mark.slow
def test_a_sweep_on_the_cluster_records_what_a_local_sweep_records_and_resumes_there(site):
    address = site.cluster.address
    sweeps = {}
    for config, grid, stop in [
        ("linreg-csv", "optimizer.step_size=0.05,0.1", "stop.max_iter=40"),  # a CSV data file
        ("rastrigin-user-problem", "optimizer.step_size=0.001,0.002", "stop.max_iter=60"),  # a user problem file
    ]:
        args = ("sweep", f"configs/{config}.yaml", "--grid", grid, "--set", stop)
        remote, tasks = site.new_dir(f"outputs/{config}/sweep-*", *args, "--dask", address)
        assert tasks == 2  # both runs were done by the cluster's workers
        local, _ = site.new_dir(f"outputs/{config}/sweep-*", *args, "--workers", 1)
        assert_same_runs(remote, local)
        timing = {"wall_time_s"}.__contains__
        assert table(remote / "sweep.csv", timing) == table(local / "sweep.csv", timing)
        sweeps[config] = remote, local

    user, _ = sweeps["rastrigin-user-problem"]
    for args in (["show", user], ["compare", user, "--out", "c.png"], ["report", user, "--out", "r.html"]):
        result = site.optrun(*args)
        assert result.returncode == 0, (args, result.stderr)
    assert (site.folder / "c.png").stat().st_size > 0 and (site.folder / "r.html").stat().st_size > 0

    # a run whose summary is missing (as if the sweep was killed) is the only one --resume redoes, on the cluster
    data, local = sweeps["linreg-csv"]
    kept = {p: p.stat().st_mtime_ns for p in (data / "run-0001").iterdir()}
    (data / "run-0002" / "summary.json").unlink()
    done = site.cluster.tasks_done()
    result = site.optrun("sweep", "--resume", data, "--dask", address)
    assert result.returncode == 0, result.stderr
    assert site.cluster.tasks_done() - done == 1
    assert {p: p.stat().st_mtime_ns for p in (data / "run-0001").iterdir()} == kept
    assert_same_runs(data, local)
    assert len(table(data / "sweep.csv")) == 2


@pytest.mark.slow
def test_a_bench_on_the_cluster_gives_the_bench_csv_of_a_local_bench(site):
    args = ("bench", "more/mgh2.yaml", "--no-plots")
    remote, tasks = site.new_dir("outputs/mgh2/bench-*", *args, "--dask", site.cluster.address)
    assert tasks == 8
    local, _ = site.new_dir("outputs/mgh2/bench-*", *args, "--workers", 1)
    timing = lambda column: column == "time" or column.startswith("time_to_")  # noqa: E731
    rows = table(remote / "bench.csv", timing)
    assert len(rows) == 8 and rows == table(local / "bench.csv", timing)
    assert_same_runs(remote / "runs", local / "runs")


@pytest.mark.slow
def test_check_on_the_cluster_keeps_with_keep_runs_the_run_directories_of_a_local_check(site, tmp_path):
    pattern = "kept/*/[0-9]*"  # a check's run directories (not a sweep's), in --keep-runs DIR's layout
    runs = {}
    outputs = set(site.folder.glob("outputs/*/*"))
    for how in (("--dask", site.cluster.address), ("--workers", "1")):
        before = set(site.folder.glob(pattern))
        done = site.cluster.tasks_done()
        result = site.optrun("check", "configs", "--keep-runs", "kept", *how)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2 run directories kept in kept (one per config: kept/NAME/TIMESTAMP)" in result.stdout
        assert site.cluster.tasks_done() - done == (2 if how[0] == "--dask" else 0)
        runs[how[0]] = {p.parent.name: p for p in set(site.folder.glob(pattern)) - before}
    assert sorted(runs["--dask"]) == ["linreg-csv", "rastrigin-user-problem"] == sorted(runs["--workers"])
    for name, run in runs["--dask"].items():
        assert_same_run(run, runs["--workers"][name])
        assert summary(run)["status"] == "converged"
    assert not list(site.folder.glob("kept/*/.*")), "a staging folder was left"
    # without --keep-runs: the runs come back into a temporary folder here, removed once they pass
    done = site.cluster.tasks_done()
    result = run_cli(
        "check", "configs", "--dask", site.cluster.address, cwd=site.folder, env_extra={"TMPDIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert site.cluster.tasks_done() - done == 2
    assert not list(tmp_path.glob("optrun-check-*")) and set(site.folder.glob("outputs/*/*")) == outputs


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["nanny and worker", "worker process", "SIGTERM: the worker leaves"])
def test_a_worker_killed_mid_sweep_costs_nothing_but_time(site, slow_runs, kill):
    cluster = site.cluster
    done, sent = cluster.tasks_done(), cluster.tasks_sent()
    proc, sweep_dir = slow_sweep(site, cluster.address)
    victim = sorted(cluster.workers)[0]
    if kill == "worker process":
        os.kill(cluster.worker_process(victim), signal.SIGKILL)  # its nanny starts another
    else:  # its whole process group: killed, or told to leave the cluster (dask worker's SIGTERM)
        cluster.kill_worker(victim, signal.SIGTERM if kill.startswith("SIGTERM") else signal.SIGKILL)
        cluster.add_worker(f"{victim}x")  # a replacement: the cluster is whole for the next tests
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    assert_whole(sweep_dir, slow_runs)
    assert cluster.tasks_done() - done >= SLOW_RUNS
    assert cluster.tasks_sent() - sent > SLOW_RUNS  # the kill cut short the tasks the worker had: they ran again
    cluster.wait_for_workers(2)


@pytest.mark.slow
def test_a_scheduler_gone_mid_sweep_keeps_the_finished_runs_for_a_resume_on_another_cluster(site, slow_runs, tmp_path):
    with Cluster(tmp_path / "first", hidden=[site.folder]) as first:
        proc, sweep_dir = slow_sweep(site, first.address)
        first.stop_scheduler()
        _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 1, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
    kept = {p.parent.name: p.stat().st_mtime_ns for p in sweep_dir.glob("run-*/summary.json")}
    assert len(kept) >= 2
    for name in kept:
        assert summary(sweep_dir / name) == slow_runs[name]
    with Cluster(tmp_path / "second", hidden=[site.folder]) as second:
        result = site.optrun("sweep", "--resume", sweep_dir, "--dask", second.address)
        assert result.returncode == 0, result.stderr
        assert second.tasks_done() == SLOW_RUNS - len(kept)
    assert_whole(sweep_dir, slow_runs)
    assert {name: (sweep_dir / name / "summary.json").stat().st_mtime_ns for name in kept} == kept


@pytest.mark.slow
def test_a_run_whose_files_do_not_fit_the_client_disk_is_an_error_row_and_leaves_nothing(site):
    small = site.folder / "small"
    small.mkdir()
    scratch = {name: set(site.cluster.tmp_dir(name).iterdir()) for name in site.cluster.workers}
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK}", "optrun-small", str(small)], check=True)
    try:
        done = site.cluster.tasks_done()
        # run 1 (5 iterations) fits; run 2's trace (a few MB) does not fit in the 2 MB disk, nor in a task's result
        result = site.optrun("sweep", "more/wide.yaml", "--grid", "stop.max_iter=5,600", "--dask", site.cluster.address)
        assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert site.cluster.tasks_done() - done == 2
        [sweep_dir] = small.glob("wide/sweep-*")
        left = sorted(p.name for p in sweep_dir.iterdir() if not p.name.startswith("sweep."))
        assert left == ["run-0001"]  # no run-0002, whole or half, and no staging folder
        assert sorted(p.name for p in (sweep_dir / "run-0001").iterdir()) == [
            "config.yaml",
            "summary.json",
            "trace.csv",
        ]
        fits, too_big = table(sweep_dir / "sweep.csv")
        assert fits["status"] == "max_iter" and fits["nit"] == "5"
        assert too_big["status"] == "error" and too_big["message"] and "\n" not in too_big["message"]
    finally:
        subprocess.run(["umount", str(small)], check=True)
    for name, before in scratch.items():  # the worker kept the big trace for the client to read: it is gone too
        assert not set(site.cluster.tmp_dir(name).iterdir()) - before, name
