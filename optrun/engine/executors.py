"""Ways of running many calls: one :class:`Executor` interface, one class each.

``sweep``, ``bench``, ``check`` and ``check --calibrate`` hand their work to
:func:`run_many` as a function and a list of argument tuples (a sweep's
runs, a check's configs, a calibration's samples); the executor decides
where each call runs:

=================  =======================================================
:class:`InProcess`   in this process, in order (``--workers 1``)
:class:`LocalPool`   this process plus spawned helpers (``--workers N``,
                     :mod:`optrun.engine.pool`)
:class:`FreshPool`   spawned workers only, with environment variables set
                     before NumPy loads (calibration's other BLAS kernel)
:class:`DaskCluster` a Dask cluster (``--dask ADDRESS``,
                     :mod:`optrun.engine.cluster`)
:class:`Vectorized`  one ``jax.vmap`` computation (``--vectorize``): the
                     function must have a batch form (:func:`batched`)
=================  =======================================================

Every executor has the same contract. ``on_result(i, value)`` is called in
this thread as call ``i`` finishes (in any order); an exception a call
raises (other than an interruption) is raised once the executor has
stopped. A SIGINT/SIGTERM recorded in ``flag`` (:mod:`optrun.engine.signals`)
stops it: nothing more starts, running calls get to record themselves. The
:class:`Finished` it returns says what did not finish and why; the caller
decides what that means for its results (a sweep looks for a summary on
disk, a check reports the config as interrupted). A new way of running work
is one class: ``@register_executor``, and :meth:`Executor.wanted` saying which
command-line request is for it; :func:`choose` asks every registered class.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from typing import Any, ClassVar

from optrun.core.errors import OptrunError
from optrun.core.runner import SignalFlag
from optrun.engine.executor_base import (
    EXECUTORS,
    POLL_SECONDS,
    Call,
    Executor,
    Finished,
    OnResult,
    Request,
    register_executor,
    run_many,
)


def choose(workers: int = 1, dask: str | None = None, vectorize: bool = False) -> Executor:
    """The one executor the command-line options ask for."""
    request = Request(workers, dask, vectorize)
    found = [executor for _, cls in EXECUTORS.items() if (executor := cls.wanted(request)) is not None]
    if len(found) != 1:  # the classes' wanted() split every request between them: a new one must too
        raise OptrunError(f"{request} is wanted by {len(found)} executors: {', '.join(e.name for e in found)}")
    return found[0]


# ----------------------------------------------------------------- in-process
@register_executor
class InProcess(Executor):
    """One call after another in this process: the reference every other
    executor must agree with. A signal during a call ends that call as
    interrupted (it records itself); one between calls starts nothing more."""

    name = "in-process"

    @classmethod
    def wanted(cls, request: Request) -> Executor | None:
        return cls() if request.workers <= 1 and request.dask is None and not request.vectorize else None

    def map(
        self, fn: Callable[..., Any], calls: Sequence[Call], on_result: OnResult, flag: SignalFlag | None
    ) -> Finished:
        for i, call in enumerate(calls):
            if flag is not None and flag.signum is not None:
                return Finished(flag.signum, frozenset(range(i, len(calls))))
            try:
                value = fn(*call)
            except KeyboardInterrupt as exc:  # the call refused to start: the signal came just before it
                return Finished(getattr(exc, "signum", signal.SIGINT), frozenset(range(i, len(calls))))
            on_result(i, value)
        if flag is not None and flag.signum is not None:  # it came during the last call
            return Finished(flag.signum)
        return Finished()


# --------------------------------------------------------------- local pools
@register_executor
@dataclass
class LocalPool(Executor):
    """This process and up to ``workers - 1`` spawned helpers, started only
    when the calls left are worth it (:func:`optrun.engine.pool.run_calls`:
    signals, grace, escalation to SIGKILL, a dead helper losing only its call)."""

    workers: int
    name: ClassVar[str] = "pool"

    @classmethod
    def wanted(cls, request: Request) -> Executor | None:
        return cls(request.workers) if request.workers > 1 and request.dask is None and not request.vectorize else None

    def map(
        self, fn: Callable[..., Any], calls: Sequence[Call], on_result: OnResult, flag: SignalFlag | None
    ) -> Finished:
        from optrun.engine.pool import run_calls

        signum, not_started, lost = run_calls(fn, calls, self.workers, on_result, flag)
        return Finished(signum, frozenset(not_started), lost)


@register_executor
@dataclass
class FreshPool(Executor):
    """Spawned workers only, each started with ``env`` set (variables that
    must be there before NumPy loads, such as ``OPENBLAS_CORETYPE``); no call
    runs in this process, whose libraries are already loaded. A signal
    cancels the calls not started; running ones finish (they are short)."""

    workers: int
    env: Mapping[str, str] = field(default_factory=dict)
    name: ClassVar[str] = "fresh-pool"

    def map(
        self, fn: Callable[..., Any], calls: Sequence[Call], on_result: OnResult, flag: SignalFlag | None
    ) -> Finished:
        from optrun.engine.pool import environment, process_pool

        if not calls:
            return Finished()
        with environment(dict(self.env)):
            pool = process_pool(max(1, min(self.workers, len(calls))))
            futures = {pool.submit(fn, *call): i for i, call in enumerate(calls)}
        signum, cancelled = None, set()
        with pool:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=futures.__getitem__):
                    if not future.cancelled():
                        on_result(futures[future], future.result())
                if signum is None and flag is not None and flag.signum is not None:
                    signum = flag.signum
                    cancelled = {futures[f] for f in pending if f.cancel()}
        return Finished(signum, frozenset(cancelled))


# ------------------------------------------------------------------ vectorised
BatchForm = Callable[[Sequence[Call], "SignalFlag | None"], list[Any]]
_BATCH_FORMS: dict[Callable[..., Any], BatchForm] = {}


def batched(batch: BatchForm) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare ``batch(calls, flag) -> results`` as the decorated function's
    form for :class:`Vectorized`: all calls as one computation, each result
    what the function would have returned for its call."""

    def declare(fn: Callable[..., Any]) -> Callable[..., Any]:
        _BATCH_FORMS[fn] = batch
        return fn

    return declare


@register_executor
class Vectorized(Executor):
    """Every call as one computation in this process (``jax.vmap``), through
    the function's batch form (:func:`batched`); a signal ends every member
    at the same row, each recording itself as interrupted."""

    name = "vmap"

    @classmethod
    def wanted(cls, request: Request) -> Executor | None:
        return cls() if request.vectorize else None

    def map(
        self, fn: Callable[..., Any], calls: Sequence[Call], on_result: OnResult, flag: SignalFlag | None
    ) -> Finished:
        batch = _BATCH_FORMS.get(fn)
        if batch is None:
            raise OptrunError(f"{getattr(fn, '__qualname__', fn)} has no vectorised form (see executors.batched)")
        if not calls:
            return Finished()
        try:
            results = batch(calls, flag)
        except KeyboardInterrupt as exc:  # before the batch began
            return Finished(getattr(exc, "signum", signal.SIGINT), frozenset(range(len(calls))))
        for i, value in enumerate(results):
            on_result(i, value)
        return Finished(flag.signum if flag is not None else None)


# Dask (--dask ADDRESS) lives in its own module; importing it registers it here.
from optrun.engine.cluster import DaskCluster, check_dask_address, dask_client, require_dask  # noqa: E402

__all__ = [
    "EXECUTORS",
    "POLL_SECONDS",
    "Call",
    "DaskCluster",
    "Executor",
    "Finished",
    "FreshPool",
    "InProcess",
    "LocalPool",
    "OnResult",
    "Request",
    "Vectorized",
    "batched",
    "check_dask_address",
    "choose",
    "dask_client",
    "register_executor",
    "require_dask",
    "run_many",
]
