"""A Python function as a problem: what ``optrun.minimize(fun, x0)`` and
``optrun.grad(fun, at)`` run, through the same pipeline as a config.

The function takes one parameter tree, as the notebooks write them: a float,
an array, or a dict or list of them (``[{"w": ..., "b": ...}, ...]`` for a
layered model), written with ``autograd.numpy``; a function written so that
it also runs on jax (or only on it, with ``jax.numpy``) says so with
``backends``, e.g. ``PythonFunction(fun, x0, backends=("jax",))`` given as a
config's ``problem:`` with ``backend: jax``. A dict start's keys are the
run's parameter names; any other start is the one parameter ``x`` (so the
trace has ``x``, ``x[0]``, ``x[0].w[1,2]``, ... columns). The function is
never called on arrays of points it was not written for: a landscape plot
evaluates it point by point (a function that sums would sum a whole mesh).

The run's ``config.yaml`` records ``problem: {name: python, function:
module.qualname, source_sha256: ...}`` (the hash of the function's source,
or of its bytecode when the source is not available): ``show`` and
``compare`` read the run like any other, and ``plot`` redraws the trace
plots; the problem itself cannot be rebuilt from the file (the function
lives in the program that ran it), which this registered entry says in one
line.

Bounds and constraints given to ``optrun.minimize`` in SciPy's forms are
converted by :mod:`optrun.core.problems.python_constraints`: bounds into the
config's ``bounds:``, constraint functions into this problem's own
constraints (recorded in config.yaml by name and source hash under
``problem.constraints``), formulas into the config's ``constraints:``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from optrun.core.errors import ConfigError
from optrun.core.feasible import ConstraintSpec
from optrun.core.options import Options
from optrun.core.problems import Problem, register_problem
from optrun.core.problems.python_constraints import PythonConstraint, qualname, scipy_constraints, source_sha256


class ConstraintRecord(Options):
    type: Literal["ineq", "eq"] = Field(description="ineq: the function >= 0; eq: == 0")
    label: str = Field(min_length=1, description="what the summary calls it")
    function: str = Field(min_length=1, description="module.qualname of the constraint's function")
    source_sha256: str = Field(min_length=1, description="SHA-256 of its source (or bytecode, or data)")


class PythonOptions(Options):
    function: str = Field(min_length=1, description="module.qualname of the function that was run")
    source_sha256: str = Field(min_length=1, description="SHA-256 of its source (or bytecode)")
    constraints: list[ConstraintRecord] = Field(
        default_factory=list, description="the constraints given as Python functions (optrun.minimize)"
    )

    def resolved(self) -> dict[str, Any]:
        data = super().resolved()
        if not data["constraints"]:  # a run without them records what it always did
            del data["constraints"]
        return data


@dataclass(frozen=True)
class PythonFunction:
    """``fun`` and its start ``x0``, given in a config mapping as ``problem:``."""

    fun: Callable[[Any], Any]
    x0: Any
    backends: tuple[str, ...] = ("autograd",)  # the backends whose array module fun is written with
    start_name: str = "x0"  # the argument x0 was given as, named by its errors
    constraints: tuple[PythonConstraint, ...] = ()

    def __post_init__(self) -> None:
        if not callable(self.fun):
            raise ConfigError(
                f"must be a Python function of one parameter tree, got {type(self.fun).__name__}", path="fun"
            )
        object.__setattr__(self, "x0", float_start(self.x0, self.start_name))
        if isinstance(self.backends, str) or not self.backends or not all(isinstance(b, str) for b in self.backends):
            raise ConfigError(f"must be a non-empty tuple of backend names, got {self.backends!r}", path="backends")
        object.__setattr__(self, "backends", tuple(self.backends))

    @property
    def qualname(self) -> str:
        return qualname(self.fun)

    @property
    def name(self) -> str:
        """The default run name: the function's name (``<lambda>`` gives ``lambda``)."""
        return getattr(self.fun, "__name__", "function").strip("<>") or "function"

    def source_sha256(self) -> str:
        return source_sha256(self.fun)

    def options(self) -> dict[str, Any]:
        data: dict[str, Any] = {"function": self.qualname, "source_sha256": self.source_sha256()}
        if self.constraints:
            data["constraints"] = [{"type": c.type, "label": c.label, **c.record} for c in self.constraints]
        return data

    def problem(self) -> Problem:
        named = isinstance(self.x0, Mapping)

        def of_params(fun: Callable[[Any], Any]) -> Callable[[Any], Any]:
            return (lambda p: fun(dict(p))) if named else (lambda p: fun(p["x"]))

        return Problem(
            objective=of_params(self.fun),
            start=dict(self.x0) if named else {"x": self.x0},
            constraints=tuple(ConstraintSpec(c.type, of_params(c.fun), c.label) for c in self.constraints),
        )

    def with_constraints(self, constraints: Any) -> tuple[PythonFunction, list[dict[str, str]]]:
        """This function with ``constraints`` (SciPy's forms: :func:`scipy_constraints`)
        as its own, and the ``{"type", "expr"}`` formulas among them (for the config's ``constraints:``)."""
        functions, formulas = scipy_constraints(constraints, self.x0)
        return dataclasses.replace(self, constraints=tuple(functions)), formulas


MAX_START_DEPTH = 50  # levels of dicts and lists in a start, as in a config


def float_start(value: Any, name: str = "x0") -> Any:
    """A start as the optimizers take it: integers (Python's, numpy's, integer
    arrays) become floats, inside dicts, lists and tuples too; anything else
    (text, None, True, object or complex arrays, a dict key that is not text,
    nesting past MAX_START_DEPTH, a list that contains itself) is a
    ConfigError naming the argument and where in it."""
    import numbers

    import numpy as np

    def bad(where: str, what: str) -> ConfigError:
        return ConfigError(f"{what}; a start is a float, an array of floats, or a dict or list of them", path=where)

    def walk(item: Any, where: str, inside: tuple[int, ...]) -> Any:
        if len(inside) > MAX_START_DEPTH:
            raise bad(name, f"nests more than {MAX_START_DEPTH} levels of dicts and lists")
        if isinstance(item, (bool, np.bool_)):
            raise bad(where, f"is {item!r}, a truth value, not a number")
        if isinstance(item, numbers.Real) and not isinstance(item, np.ndarray):
            return float(item)
        if isinstance(item, np.ndarray):
            if item.dtype.kind in "iu":
                return item.astype(float)
            if item.dtype.kind != "f":
                raise bad(where, f"is an array of {item.dtype} values, not of numbers")
            return item
        if isinstance(item, (Mapping, list, tuple)):
            if id(item) in inside:
                raise bad(where, "contains itself")
            inside = (*inside, id(item))
            if isinstance(item, Mapping):
                for key in item:
                    if not isinstance(key, str):
                        raise bad(where, f"has the key {key!r}; parameter names are text")
                return {key: walk(v, f"{where}.{key}", inside) for key, v in item.items()}
            if not item:
                raise bad(where, "is empty")
            walked = [walk(v, f"{where}[{i}]", inside) for i, v in enumerate(item)]
            return tuple(walked) if isinstance(item, tuple) else walked
        shown = repr(item) if len(repr(item)) <= 40 else repr(item)[:37] + "..."
        raise bad(where, f"is {shown} ({type(item).__name__}), not a number")

    return walk(value, name, ())


@register_problem(
    "python",
    description="a Python function given to optrun.minimize / optrun.grad (not for YAML files)",
    formula="fun(x), any autograd-differentiable function of one parameter tree",
    parameters="x, or the keys of a dict start",
    options=PythonOptions,
    python_only=True,
)
def python_function(options: PythonOptions) -> Problem:
    function = getattr(options, "function", None)
    if function is None:  # list-problems / describe: there is no default function
        raise ConfigError("given from Python only: optrun.minimize(fun, x0) or optrun.grad(fun, at)", path="problem")
    raise ConfigError(
        f"the run was of the Python function {function} (source sha256 {options.source_sha256[:12]}...), "
        "which lives in the program that ran it: it cannot be rebuilt from config.yaml "
        "(the trace plots need no problem; call optrun.minimize again to redo the run)",
        path="problem",
    )
