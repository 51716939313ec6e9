"""What a run ended with: :class:`Summary`, the typed form of ``summary.json``.

A run's result is built once (:func:`optrun.engine.record.build_summary`),
written as :meth:`Summary.to_json` and read back with :meth:`Summary.from_json`
(by :func:`optrun.core.rundir.read_run` and ``sweep --resume``); every
command reads its attributes, never the JSON keys. The fields are those of
``summary.json`` (README, "Runs, statuses and exit codes"); what a status
means is asked of the :class:`~optrun.core.status.Status` enum, and the gap
f - f* is :attr:`Summary.gap`.

Numbers are kept as the run produced them: right after a run a non-finite
``fun`` or ``grad_norm`` is ``nan`` or ``inf``; ``summary.json`` writes those
as ``null`` (JSON has no NaN), so a Summary read back has ``None`` there.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optrun.core.errors import ConfigError
from optrun.core.status import Status


@dataclass(frozen=True)
class Best:
    """The lowest f the run recorded and its iteration (both None when it recorded none)."""

    fun: float | None
    iter: int | None

    def to_json(self) -> dict[str, Any]:
        return {"fun": self.fun, "iter": self.iter}


@dataclass(frozen=True)
class KnownMinimum:
    """A problem's known minimum as summary.json records it: f* and every
    known minimizer, as plain JSON data (``{"x": [2.0, 2.0]}``, one mapping per minimizer)."""

    fun: float
    params: list[dict[str, Any]]

    @classmethod
    def of(cls, reference: Any) -> KnownMinimum | None:
        """From a problem's :class:`~optrun.core.problems.Reference` (or None)."""
        from optrun.core.params import to_jsonable

        if reference is None:
            return None
        return cls(reference.fun, [to_jsonable(p) for p in reference.params])

    def to_json(self) -> dict[str, Any]:
        return {"fun": self.fun, "params": self.params}


@dataclass(frozen=True)
class Feasibility:
    """What a run with bounds or constraints says of them: the tolerance, the
    largest violation at the start, and each constraint's value with the
    largest violation at the end and at the best point (the best *feasible*
    one: the lowest f among rows whose violation is at most ``tol``; None
    when no row was feasible). Each point is ``{"violation": v, "values":
    [{"type", "constraint", "value"}, ...]}``."""

    tol: float
    start_violation: float
    end: dict[str, Any]
    best: dict[str, Any] | None

    @property
    def start_feasible(self) -> bool:
        return self.start_violation <= self.tol

    @classmethod
    def of(cls, feasible: Any, x0: Any, x: Any, best_x: Any) -> Feasibility:
        """From a run's :class:`optrun.core.feasible.Feasible`, its start, final and best feasible points."""
        return cls(
            tol=feasible.tol,
            start_violation=feasible.violation(x0),
            end=feasible.report(x),
            best=feasible.report(best_x) if best_x is not None else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "feasibility_tol": self.tol,
            "start": {"violation": self.start_violation, "feasible": self.start_feasible},
            "end": self.end,
            "best": self.best,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Feasibility:
        violation = data["start"]["violation"]
        return cls(data["feasibility_tol"], math.inf if violation is None else violation, data["end"], data["best"])


@dataclass(frozen=True, kw_only=True)
class Summary:
    """A run's result: the fields of ``summary.json``, typed.

    ``status`` is a :class:`~optrun.core.status.Status` (a ``str``: it
    compares equal to ``"converged"``); ``fun`` and ``grad_norm`` are None
    when the run ended without a finite value (read back from the file);
    ``params`` holds the final parameters as plain JSON data, nested like
    the problem's; ``best`` is a :class:`Best`; ``reference`` the problem's
    :class:`KnownMinimum`, or None. ``name``, ``problem``, ``optimizer``,
    ``nhev``, ``reference_note``, ``seed``, ``versions`` and ``machine`` are
    always written by optrun but optional when reading (None when absent);
    ``io_error`` is set only for a run whose files could not be written.
    """

    name: str | None = None
    problem: str | None = None
    optimizer: str | None = None
    status: Status
    message: str
    fun: float | None
    params: dict[str, Any]
    grad_norm: float | None
    nit: int
    nfev: int
    njev: int
    nhev: int | None = None
    best: Best
    wall_time_s: float
    reference: KnownMinimum | None
    reference_note: str | None = None
    seed: int | None = None
    versions: dict[str, str] | None = None  # python, numpy, autograd, optrun
    machine: dict[str, Any] | None = None  # optrun.core.machine.machine_info
    io_error: str | None = None  # the trace could not be written: the run is recorded as failed
    # a run with bounds or constraints: their values and violations (best is then the best feasible point)
    constraints: Feasibility | None = None

    @property
    def gap(self) -> float | None:
        """f - f*, or None when the problem has no known minimum or the run has no final f."""
        if self.reference is None or self.fun is None:
            return None
        return self.fun - self.reference.fun

    def to_json(self) -> dict[str, Any]:
        """The summary.json mapping, keys in the file's order (non-finite
        numbers as they are: :func:`optrun.core.outputs.write_json_atomic`
        writes them as null)."""
        data = {
            "name": self.name,
            "problem": self.problem,
            "optimizer": self.optimizer,
            "status": self.status.value,
            "message": self.message,
            "fun": self.fun,
            "params": self.params,
            "grad_norm": self.grad_norm,
            "nit": self.nit,
            "nfev": self.nfev,
            "njev": self.njev,
            "nhev": self.nhev,
            "best": self.best.to_json(),
            "wall_time_s": self.wall_time_s,
            "reference": self.reference.to_json() if self.reference is not None else None,
            "reference_note": self.reference_note,
            "seed": self.seed,
            "versions": self.versions,
            "machine": self.machine,
        }
        if self.constraints is not None:
            data["constraints"] = self.constraints.to_json()
        if self.io_error is not None:
            data["io_error"] = self.io_error
        return data

    @classmethod
    def from_json(cls, data: Any, source: str = "") -> Summary:
        """A summary.json read back (``data`` as ``json.loads`` gave it),
        validated: anything optrun would not have written is a one-line
        :class:`ConfigError` naming the key (``source``: the run directory)."""
        problem = summary_problem(data)
        if problem:
            raise ConfigError(f"summary.json is not an optrun summary: {problem}", source=source)
        best, reference = data["best"], data["reference"]
        return cls(
            name=data.get("name"),
            problem=data.get("problem"),
            optimizer=data.get("optimizer"),
            status=Status(data["status"]),
            message=data["message"],
            fun=data["fun"],
            params=data["params"],
            grad_norm=data["grad_norm"],
            nit=data["nit"],
            nfev=data["nfev"],
            njev=data["njev"],
            nhev=data.get("nhev"),
            best=Best(best["fun"], best["iter"]),
            wall_time_s=data["wall_time_s"],
            reference=KnownMinimum(reference["fun"], reference["params"]) if reference is not None else None,
            reference_note=data.get("reference_note"),
            seed=data.get("seed"),
            versions=data.get("versions"),
            machine=data.get("machine"),
            io_error=data.get("io_error"),
            constraints=Feasibility.from_json(data["constraints"]) if data.get("constraints") else None,
        )


# ------------------------------------------------------------------ validation
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number_or_null(value: Any) -> bool:
    return value is None or _is_number(value)


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _type_problem(
    data: dict[str, Any], key: str, check: Callable[[Any], bool], what: str, optional: bool = False, where: str = ""
) -> str:
    if key not in data:
        return "" if optional else f"no '{where}{key}'"
    value = data[key]
    return "" if check(value) else f"'{where}{key}' should be {what}, got {_shown(value)}"


def _is_feasibility(value: Any) -> bool:
    return value is None or (
        isinstance(value, dict)
        and _is_number(value.get("feasibility_tol"))
        and isinstance(value.get("start"), dict)
        and isinstance(value.get("end"), dict)
        and (value.get("best") is None or isinstance(value.get("best"), dict))
    )


def _is_status(value: Any) -> bool:
    return isinstance(value, str) and value in Status._value2member_map_


# (key, check, what it should be, optional)
_FIELDS: tuple[tuple[str, Callable[[Any], bool], str, bool], ...] = (
    ("status", _is_status, "a status name", False),
    ("message", lambda v: isinstance(v, str), "a string", False),
    ("fun", _number_or_null, "a number or null", False),
    ("grad_norm", _number_or_null, "a number or null", False),
    ("nit", _is_int, "an integer", False),
    ("nfev", _is_int, "an integer", False),
    ("njev", _is_int, "an integer", False),
    ("wall_time_s", _is_number, "a number", False),
    ("params", lambda v: isinstance(v, dict), "an object", False),
    ("best", lambda v: isinstance(v, dict), "an object", False),
    ("reference", lambda v: v is None or isinstance(v, dict), "an object or null", False),
    ("name", lambda v: isinstance(v, str), "a string", True),
    ("problem", lambda v: isinstance(v, str), "a string", True),
    ("optimizer", lambda v: isinstance(v, str), "a string", True),
    ("nhev", _is_int, "an integer", True),
    ("reference_note", lambda v: v is None or isinstance(v, str), "a string or null", True),
    ("seed", _is_int, "an integer", True),
    ("versions", lambda v: isinstance(v, dict), "an object", True),
    ("machine", lambda v: v is None or isinstance(v, dict), "an object or null", True),
    ("io_error", lambda v: isinstance(v, str), "a string", True),
    ("constraints", _is_feasibility, "an object with feasibility_tol, start, end and best", True),
)


def summary_problem(summary: Any) -> str:
    """Why ``summary`` (parsed JSON) is not a summary optrun wrote ('' when
    it is): every field, with its type; a status must be one optrun knows."""
    if not isinstance(summary, dict):
        return f"a JSON {type(summary).__name__}, not an object"
    for key, check, what, optional in _FIELDS:
        problem = _type_problem(summary, key, check, what, optional)
        if problem:
            return problem
    best = summary["best"]
    problem = _type_problem(best, "fun", _number_or_null, "a number or null", where="best.") or _type_problem(
        best, "iter", lambda v: v is None or _is_int(v), "an integer or null", where="best."
    )
    if problem:
        return problem
    reference = summary["reference"]
    if reference is not None:
        return _type_problem(reference, "fun", _is_number, "a number", where="reference.") or _type_problem(
            reference,
            "params",
            lambda v: isinstance(v, list) and all(isinstance(p, dict) for p in v),
            "a list of objects",
            where="reference.",
        )
    return ""


# ------------------------------------------------- a result as one line of text
def value_text(value: Any) -> str:
    """A number as tables show it (10 significant digits), None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


# A gap below this many float64 epsilons of max(|f*|, |f|) is rounding, not distance from the minimum:
# f* and f are each stored within eps/2 of their exact values, and f comes out of the objective's own
# operations, each rounding by up to eps/2 of the terms it adds. 32 covers objectives of a few dozen
# such terms (the shipped trid-nesterov.yaml ends 9.1e-13 = 19.5 eps x 210 below f* = -210), and a
# relative 32 eps (7.1e-15) is far below any stop rule's tolerance, so no real gap is hidden.
GAP_ROUNDING_EPS = 32


def gap_is_rounding(gap: float, fstar: float) -> bool:
    """Whether a nonzero gap f - f* is below the rounding of f near f*
    (``GAP_ROUNDING_EPS`` epsilons of max(|f*|, |f|)); with f* = 0 the
    rounding is that of f itself, so any nonzero gap there is real."""
    if gap == 0 or not (math.isfinite(gap) and math.isfinite(fstar)):
        return False
    scale = max(abs(fstar), abs(fstar + gap))
    return abs(gap) < GAP_ROUNDING_EPS * sys.float_info.epsilon * scale


def gap_text(gap: float | None, fstar: float | None) -> str:
    """A gap f - f* as tables show it (3 significant digits), "0 (within
    rounding)" when it is below the rounding of f near f* (:func:`gap_is_rounding`),
    an exact 0 as "0", None as "-" (no known minimum, or no final f)."""
    if gap is None:
        return "-"
    if gap == 0:
        return "0"  # also -0.0
    if fstar is not None and gap_is_rounding(gap, fstar):
        return "0 (within rounding)"
    return f"{gap:.3g}"


def params_text(params: Any, limit: int = 8) -> str:
    """Final parameters, or their count when there are too many to show."""
    from optrun.core.params import leaf_names, size

    n = size(params)
    if n > limit:
        return f"{n} values (see summary.json)"
    parts = []
    for name in sorted(params):
        value = params[name]
        if isinstance(value, list) and value and not isinstance(value[0], (list, dict)):
            parts.append(f"{name}=[{', '.join(value_text(v) for v in value)}]")
        elif isinstance(value, (list, dict)):
            parts.append(f"{name}: {len(leaf_names(value))} values")
        else:
            parts.append(f"{name}={value_text(value)}")
    return ", ".join(parts)


def grad_norm_text(summary: Summary) -> str:
    """The final gradient norm, or why there is none (a derivative-free method computes no gradient)."""
    if summary.njev == 0 and (summary.grad_norm is None or math.isnan(summary.grad_norm)):
        return "not computed (the method uses no gradient)"
    return value_text(summary.grad_norm)


SHOWN_CONSTRAINTS = 6  # constraint values a summary table lists (summary.json has them all)


def constraint_rows(report: Any) -> list[tuple[str, str]]:
    """The rows a run with bounds or constraints adds to its summary table:
    each constraint's final value, the largest violation at the end, and the
    start's when it was infeasible (``report``: a :class:`~optrun.core.result.Feasibility`)."""
    from optrun.core.feasible import MEANING

    rows = []
    values = report.end.get("values", [])
    for item in values[:SHOWN_CONSTRAINTS]:
        rows.append(("constraint", f"{item['constraint']} {MEANING[item['type']]}: {value_text(item['value'])}"))
    if len(values) > SHOWN_CONSTRAINTS:
        rows.append(("constraint", f"... {len(values) - SHOWN_CONSTRAINTS} more (see summary.json)"))
    violation = report.end.get("violation")
    met = "feasible" if violation is not None and violation <= report.tol else "infeasible"
    undefined = [item["constraint"] for item in values if item["value"] is None or math.isnan(item["value"])]
    if undefined:  # NaN (null once read back): no distance to tell, only that it is not met
        rows.append(("violation", f"not a number: {undefined[0]} is undefined here (infeasible)"))
    else:
        rows.append(("violation", f"{value_text(violation)} ({met}: feasibility_tol {report.tol:g})"))
    if not report.start_feasible:
        rows.append(("start", f"infeasible (largest violation {value_text(report.start_violation)})"))
    return rows
