"""The engine's executors (optrun/engine/executors.py): every way of running
many calls keeps one contract. The real runs, signals and killed workers of
each are in test_sweep.py, test_check.py, test_faults.py and test_pool.py;
here is what every executor must agree on, with calls small enough to show it."""

from __future__ import annotations

import os
import signal

import pytest

from optrun.core.errors import OptrunError
from optrun.core.runner import SignalFlag
from optrun.engine import executors
from optrun.engine.executors import DaskCluster, Finished, FreshPool, InProcess, LocalPool, Vectorized, batched

CALLS = [(i, 3) for i in range(6)]
EXPECTED = {i: i**3 for i in range(6)}


def cubes_at_once(calls, flag):
    return [base**power for base, power in calls]


@batched(cubes_at_once)
def cube(base: int, power: int) -> int:
    """(module level: spawned workers import it by name)"""
    return base**power


def environment_value(name: str) -> str | None:
    return os.environ.get(name)


def collect(executor, fn=cube, calls=CALLS, flag=None):
    got = {}
    finished = executor.map(fn, calls, got.__setitem__, flag)
    return got, finished


EVERY = [
    pytest.param(InProcess(), id="in-process"),
    pytest.param(LocalPool(2), id="pool", marks=pytest.mark.slow),
    pytest.param(FreshPool(2), id="fresh-pool", marks=pytest.mark.slow),
    pytest.param(DaskCluster("local:1"), id="dask", marks=pytest.mark.slow),
    pytest.param(Vectorized(), id="vmap"),
]


def test_every_executor_class_is_registered_and_tested_here():
    """A new executor is one more registered subclass: it must join EVERY above."""
    defined = {cls.__name__ for cls in executors.Executor.__subclasses__()}
    registered = {cls.__name__ for _, cls in executors.EXECUTORS.items()}
    tested = {type(p.values[0]).__name__ for p in EVERY}
    assert defined == registered, f"register {sorted(defined - registered)} with @register_executor"
    assert defined == tested, f"add the executors {sorted(defined - tested)} to EVERY in tests/test_executors.py"


@pytest.mark.parametrize("executor", EVERY)
def test_every_executor_hands_back_every_result_with_its_index(executor):
    if isinstance(executor, DaskCluster):
        pytest.importorskip("dask.distributed")  # an optional extra; the test extra installs it
    got, finished = collect(executor)
    assert got == EXPECTED
    assert finished == Finished()


def test_a_signal_before_the_first_call_starts_nothing():
    flag = SignalFlag(armed=False)
    flag(signal.SIGTERM, None)
    ran = []

    def noted(base, power):
        ran.append(base)
        return base

    got, finished = collect(InProcess(), noted, flag=flag)
    assert (got, ran) == ({}, [])
    assert finished == Finished(signal.SIGTERM, frozenset(range(len(CALLS))))


def test_in_process_stops_between_calls_at_a_signal_and_says_which_never_started():
    flag = SignalFlag(armed=False)

    def second_call_signals(base, power):
        if base == 1:
            flag(signal.SIGINT, None)  # as a Ctrl-C during the call: recorded, the call ends normally
        return base

    got, finished = collect(InProcess(), second_call_signals, flag=flag)
    assert got == {0: 0, 1: 1}
    assert finished == Finished(signal.SIGINT, frozenset(range(2, len(CALLS))))


def test_a_call_that_refuses_to_start_is_not_started_not_lost():
    def refuses(base, power):
        if base == 2:
            raise KeyboardInterrupt
        return base

    got, finished = collect(InProcess(), refuses)
    assert got == {0: 0, 1: 1}
    assert finished.signum == signal.SIGINT and finished.not_started == frozenset(range(2, len(CALLS)))


def test_a_failing_call_is_raised_not_swallowed():
    def fails(base, power):
        if base == 3:
            raise ValueError("broken call")
        return base

    with pytest.raises(ValueError, match="broken call"):
        collect(InProcess(), fails)


def test_vmap_needs_a_batch_form():
    with pytest.raises(OptrunError, match="no vectorised form"):
        collect(Vectorized(), environment_value, [("HOME",)])


@pytest.mark.slow
def test_a_fresh_pool_sets_its_environment_in_workers_only():
    name = "OPTRUN_TEST_EXECUTOR_ENV"
    assert name not in os.environ
    got, _ = collect(FreshPool(2, {name: "set"}), environment_value, [(name,)] * 3)
    assert got == {0: "set", 1: "set", 2: "set"}
    assert name not in os.environ  # this process's environment is left as it was


@pytest.mark.parametrize("workers", [1, 2, 8])
@pytest.mark.parametrize("dask", [None, "local:2"])
@pytest.mark.parametrize("vectorize", [False, True])
def test_exactly_one_executor_is_wanted_for_any_request(workers, dask, vectorize):
    request = executors.Request(workers, dask, vectorize)
    wanted = [cls.wanted(request) for _, cls in executors.EXECUTORS.items()]
    assert sum(e is not None for e in wanted) == 1, request


def test_choose_follows_the_command_line_options():
    assert isinstance(executors.choose(), InProcess)
    assert isinstance(executors.choose(workers=1), InProcess)
    assert executors.choose(workers=4) == LocalPool(4)
    assert executors.choose(workers=4, dask="local:2") == DaskCluster("local:2")
    assert isinstance(executors.choose(workers=4, vectorize=True), Vectorized)
