"""The local process pool (optrun.engine.pool): this process and its
helper processes share the calls, no worker outlives run_calls, and a run
in a helper writes the same bytes as the same run here. (Signals to a pool:
tests/test_signals.py; a helper killed mid-sweep: tests/test_faults.py.)"""

import csv
import io
import json
import os
import time
from pathlib import Path

import psutil
import pytest
import yaml

from optrun.engine import pool
from optrun.engine.sweep import run_one
from optrun.engine.sweep_dir import start_sweep
from optrun.engine.sweep_plan import make_plan


def pool_processes() -> set[int]:
    """This process's descendants, zombies included (a worker that exited but
    was never reaped is left behind too), except multiprocessing's resource
    tracker: one per process, shared by every pool, it ends with the process."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "multiprocessing.resource_tracker" in " ".join(child.cmdline()):
                continue
        except psutil.ZombieProcess:
            pass
        except psutil.NoSuchProcess:
            continue
        found.add(child.pid)
    return found


def test_few_short_calls_start_no_helper(monkeypatch):
    # 6 calls of 0.1 s: at the first look (0.25 s) the 4 left would take 0.4 s, less than a helper's start-up
    started = []
    monkeypatch.setattr(pool, "_Helper", lambda calls: started.append(calls))
    results = {}
    assert pool.run_calls(time.sleep, [(0.1,)] * 6, 2, results.__setitem__, None) == (None, set(), {})
    assert sorted(results) == list(range(6)) and started == []


def test_calls_over_before_helpers_would_start_run_here_alone():
    results = {}
    assert pool.run_calls(os.getpid, [()] * 5, 2, results.__setitem__, None) == (None, set(), {})
    assert results == {i: os.getpid() for i in range(5)}


def test_calls_that_end_before_the_helpers_are_ready_leave_no_process(monkeypatch):
    monkeypatch.setattr(pool, "HELPER_COST_SECONDS", 0.0)  # start helpers even for these short calls
    before = pool_processes()
    results = {}
    calls = [(pool.HELPERS_AFTER_SECONDS / 2,)] * 5  # the helpers start halfway, and are still importing at the end
    stopped, not_started, lost = pool.run_calls(time.sleep, calls, 3, results.__setitem__, None)
    assert (stopped, not_started, lost) == (None, set(), {})
    assert sorted(results) == [0, 1, 2, 3, 4]
    assert pool_processes() <= before  # the two helpers, killed while warming up, are reaped


def nap_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@pytest.mark.slow  # a concurrency test that holds a thread up for 1.5 s
def test_a_helper_outlives_a_slow_starter_thread(monkeypatch):
    """The kernel's parent-death signal follows the thread that started a
    helper: the starter thread lives until the helpers are closed. Here it
    is held up for a second after starting the helper (as a busy machine
    can hold it), long after the helper set that signal up; the helper must
    still be alive to take calls (before the fix it was SIGKILLed when the
    thread ended, and every call fell to this process)."""
    monkeypatch.setattr(pool, "HELPER_COST_SECONDS", 0.0)

    class SlowStart(pool._Helper):
        def __init__(self, calls):
            super().__init__(calls)
            time.sleep(1.5)  # the helper's initializer (and its prctl) ran meanwhile

    monkeypatch.setattr(pool, "_Helper", SlowStart)
    results = {}
    assert pool.run_calls(nap_pid, [(0.5,)] * 10, 2, results.__setitem__, None) == (None, set(), {})
    assert sorted(results) == list(range(10))
    assert len(set(results.values()) - {os.getpid()}) == 1  # the helper ran calls


def run_gated(task: dict, parent: int, gate: str | None) -> tuple[dict, int]:
    """A sweep run (run_one) that also says which process ran it. With a
    gate, the parent's first call waits until a helper has started one, so
    that both kinds of worker run calls whatever the machine's speed."""
    if os.getpid() != parent and gate is not None:
        Path(gate).touch()
    elif gate is not None and task["index"] == 1:
        deadline = time.monotonic() + 60
        while not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    return run_one(task), os.getpid()


def sweep_tasks(folder: Path) -> list[dict]:
    """The tasks of a 4-run sweep of a small MLP fit (matrix products: BLAS), as run_sweep makes them."""
    folder.mkdir()
    config = folder / "s.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "s",
                "problem": {"name": "mlp_regression", "hidden": [5]},
                "optimizer": {"name": "adam", "step_size": 0.01},
                "init": {"kind": "normal"},
                "stop": {"max_iter": 60, "grad_tol": None},
                "output": {"dir": str(folder / "outputs")},
            }
        )
    )
    plan, base = make_plan(config, [], [], [], 4, False)
    sweep_dir = start_sweep(plan, base.output.dir, base.name)
    return [
        {
            "index": i,
            "values": values,
            "config": plan.config,
            "overrides": plan.run_overrides(values),
            "run_dir": str(sweep_dir / f"run-{i:04d}"),
            "problems": None,
            "blas_threads": 1,
        }
        for i, values in enumerate(plan.runs, start=1)
    ]


def without_timings(run_dir: str) -> tuple[str, dict]:
    """trace.csv without its time_s column (cells as written), and summary.json
    without wall_time_s and machine's list of loaded BLAS libraries."""
    rows = list(csv.reader(io.StringIO(Path(run_dir, "trace.csv").read_text())))
    drop = rows[0].index("time_s")
    trace = "\n".join(",".join(cell for k, cell in enumerate(row) if k != drop) for row in rows)
    summary = json.loads(Path(run_dir, "summary.json").read_text())
    del summary["wall_time_s"]
    # machine lists the BLAS libraries loaded in the process that ran the run (and
    # their thread counts): a test process that already loaded SciPy's or jax's
    # lists more than a fresh helper; the numbers are what must be the same
    summary["machine"] = {k: v for k, v in summary["machine"].items() if k != "blas"}
    return trace, summary


@pytest.mark.slow
def test_runs_in_helpers_write_the_same_bytes_as_runs_here_and_no_worker_is_left(tmp_path):
    here, two = sweep_tasks(tmp_path / "here"), sweep_tasks(tmp_path / "two")
    parent, gate = os.getpid(), str(tmp_path / "a helper started a call")
    before = pool_processes()
    results: dict[str, dict[int, tuple]] = {"here": {}, "two": {}}
    assert pool.run_calls(run_gated, [(t, parent, None) for t in here], 1, results["here"].__setitem__, None) == (
        None,
        set(),
        {},
    )
    assert pool.run_calls(run_gated, [(t, parent, gate) for t in two], 2, results["two"].__setitem__, None) == (
        None,
        set(),
        {},
    )

    assert {pid for _, pid in results["here"].values()} == {parent}
    helpers = {pid for _, pid in results["two"].values()} - {parent}
    assert len(helpers) == 1 and parent in {pid for _, pid in results["two"].values()}  # both kinds ran calls
    for i in range(4):
        row_here, row_two = results["here"][i][0], results["two"][i][0]
        assert row_here["status"] == row_two["status"] == "max_iter"
        assert without_timings(row_here["run_dir"]) == without_timings(row_two["run_dir"])
    assert pool_processes() <= before
    assert not any(psutil.pid_exists(pid) for pid in helpers)


@pytest.mark.slow
def test_a_failing_call_in_a_helper_is_raised_after_the_helpers_stop():
    before = pool_processes()
    with pytest.raises(ValueError, match="invalid literal"):  # int("x"), wherever it ran
        pool.run_calls(int, [("1",), ("x",), ("2",), ("x",)], 2, lambda i, v: None, None)
    assert pool_processes() <= before


def pid_and_session(index: int, parent: int, gate: str) -> tuple[int, int]:
    """Which process ran the call, and its session. The parent's first call
    waits (at most a minute) until a helper has run one."""
    if os.getpid() != parent:
        Path(gate).touch()
    elif index == 0:
        deadline = time.monotonic() + 60
        while not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return os.getpid(), os.getsid(0)


@pytest.mark.slow
def test_helpers_run_in_sessions_of_their_own(tmp_path):
    # Linux's autogroup shares the CPU per session: a helper left in the caller's session would share its slice
    parent = os.getpid()
    results = {}
    calls = [(i, parent, str(tmp_path / "gate")) for i in range(4)]
    assert pool.run_calls(pid_and_session, calls, 2, results.__setitem__, None) == (None, set(), {})
    helpers = {pid: sid for pid, sid in results.values() if pid != parent}
    assert helpers, results
    for pid, sid in helpers.items():
        assert sid == pid != os.getsid(0)  # a session leader, not in the caller's session


def gated_nap(index: int, parent: int, gate: str) -> int:
    """A helper's call touches the gate and lasts 0.5 s; this process's first
    call waits (at most a minute) for the gate, its others take 0.02 s."""
    if os.getpid() != parent:
        Path(gate).touch()
        time.sleep(0.5)
    elif index == 0:
        deadline = time.monotonic() + 60
        while not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    else:
        time.sleep(0.02)
    return os.getpid()


@pytest.mark.slow  # holds this process up for 1 s
def test_a_helper_result_back_as_this_process_runs_out_of_calls_is_handed_over(monkeypatch, tmp_path):
    """This process runs out of calls while a helper still runs one, and that
    call ends before this process looks again (held up here for 1 s, as a busy
    machine can hold it): its result must still reach on_result (the old pool
    dropped it: it saw no call running and no result to collect, and returned)."""
    monkeypatch.setattr(pool, "HELPER_COST_SECONDS", 0.0)
    take = pool._Calls.take

    def late_take(self):
        i = take(self)
        if i is None:
            time.sleep(1.0)  # the helper's 0.5-s call ends meanwhile
        return i

    monkeypatch.setattr(pool._Calls, "take", late_take)
    parent, results = os.getpid(), {}
    calls = [(i, parent, str(tmp_path / "gate")) for i in range(4)]
    assert pool.run_calls(gated_nap, calls, 2, results.__setitem__, None) == (None, set(), {})
    assert sorted(results) == [0, 1, 2, 3] and set(results.values()) - {parent}  # a helper ran a call
