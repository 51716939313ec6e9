"""Run statuses and what each one means, in one place.

A run ends ``converged``, ``max_iter``, ``max_fev``, ``time_limit``, ``evaluated``,
``diverged``, ``infeasible``, ``interrupted`` or ``failed`` (README, "Runs, statuses and exit codes").
Commands ask a status what it means instead of listing statuses:
``success`` (a result: the run ended by its stop rules), ``failure`` (exit
1 for ``run``, a failed check, a failed sweep point) and ``finished`` (not
cut short by a signal: ``sweep --resume`` keeps it).
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, get_args


class Status(str, Enum):
    CONVERGED = "converged"
    MAX_ITER = "max_iter"
    MAX_FEV = "max_fev"  # the function-evaluation budget (stop.max_fev) is spent
    TIME_LIMIT = "time_limit"
    EVALUATED = "evaluated"  # stop.max_iter 0: f (and the gradient) at the start, no step taken
    DIVERGED = "diverged"
    INFEASIBLE = "infeasible"  # ended by its stop rules, but outside the bounds or constraints (feasibility_tol)
    INTERRUPTED = "interrupted"
    FAILED = "failed"

    def __str__(self) -> str:
        """The status name, also in f-strings and messages (not ``Status.CONVERGED``)."""
        return self.value

    @property
    def success(self) -> bool:
        """The run ended by its own stop rules: its result stands."""
        return self in (Status.CONVERGED, Status.MAX_ITER, Status.MAX_FEV, Status.TIME_LIMIT, Status.EVALUATED)

    @property
    def failure(self) -> bool:
        """The run blew up (diverged), raised (failed) or ended outside its constraints (infeasible)."""
        return self in (Status.DIVERGED, Status.FAILED, Status.INFEASIBLE)

    @property
    def expectable(self) -> bool:
        """A check may expect it (``expect.status``): the run ended at a point by
        its stop rules (a success, or ``infeasible``); a diverged or failed run
        has no result, and fails its check whatever the config expects."""
        return self.success or self is Status.INFEASIBLE

    @property
    def finished(self) -> bool:
        """The run was not cut short by a signal (so it is not redone by --resume)."""
        return self is not Status.INTERRUPTED


StatusName = Literal[
    "converged", "max_iter", "max_fev", "time_limit", "evaluated", "diverged", "infeasible", "interrupted", "failed"
]
assert set(get_args(StatusName)) == {s.value for s in Status}  # one list, checked at import
# the statuses an expect.status may name (Status.expectable): a run ends at a point by its stop rules
ExpectableName = Literal["converged", "max_iter", "max_fev", "time_limit", "evaluated", "infeasible"]
assert set(get_args(ExpectableName)) == {s.value for s in Status if s.expectable}


def status(name: str) -> Status | None:
    """The Status named ``name``, or None for anything else (a sweep row's ``error``)."""
    try:
        return Status(name)
    except ValueError:
        return None
