"""The executor interface (:class:`Executor`, :class:`Finished`, the
registry), apart from the executors themselves (:mod:`optrun.engine.executors`
and :mod:`optrun.engine.cluster`), so that each can import it without
importing the others."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from optrun.core.registry import Registry
from optrun.core.runner import SignalFlag

POLL_SECONDS = 0.05  # how often an executor waiting on others looks at the signal flag

Call = tuple[Any, ...]
E = TypeVar("E", bound="Executor")
OnResult = Callable[[int, Any], None]


@dataclass(frozen=True)
class Finished:
    """How a :meth:`Executor.map` ended. ``signum``: the signal that stopped
    it (None: every call ran); ``not_started``: calls that never began;
    ``lost``: calls that began but brought no result back, with why (their
    worker was killed by the stop, or died by itself); ``error``: why the
    executor itself ended before every call ran (a Dask scheduler that went
    away), else ''."""

    signum: int | None = None
    not_started: frozenset[int] = frozenset()
    lost: Mapping[int, str] = field(default_factory=dict)
    error: str = ""


class Executor(ABC):
    """Runs ``fn(*calls[i])`` for every i; see the module docstring for the contract."""

    name: ClassVar[str]

    @classmethod
    def wanted(cls, request: Request) -> Executor | None:
        """This executor, if the command line asks for it (None: it is only
        made in code, like :class:`~optrun.engine.executors.FreshPool`)."""
        return None

    @abstractmethod
    def map(
        self, fn: Callable[..., Any], calls: Sequence[Call], on_result: OnResult, flag: SignalFlag | None
    ) -> Finished:
        """Run the calls; hand each result to ``on_result``; say how it ended."""


def run_many(executor: Executor, fn: Callable[..., Any], calls: Sequence[Call], on_result: OnResult) -> Finished:
    """Run the calls on ``executor`` under the command's signal handling (or
    a handler of this call's own, outside a command: a test, a notebook)."""
    from optrun.engine.signals import run_signals

    with run_signals() as flag:  # the command's handler if it has one: a signal is only recorded
        return executor.map(fn, calls, on_result, flag)


@dataclass(frozen=True)
class Request:
    """What the command line asks of the executor: ``--workers N``,
    ``--dask ADDRESS``, ``--vectorize``."""

    workers: int = 1
    dask: str | None = None
    vectorize: bool = False


EXECUTORS: Registry[type[Executor]] = Registry("executor")


def register_executor(cls: type[E]) -> type[E]:
    """Add an executor class: :func:`choose` asks each registered class
    whether a request is for it (:meth:`Executor.wanted`)."""
    EXECUTORS.register(cls.name, cls)
    return cls
