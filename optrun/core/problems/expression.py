"""The ``expression`` problem: an objective written inline in the YAML.

    problem: {name: expression, expr: "(x - 1)**2 + 10*(y - x**2)**2", params: {x: -1.0, y: 2.0}}

A formula must evaluate to one number: one that is a vector (``x * w`` with
a vector ``w``) is refused, with the hint to write ``sum(...)`` around it.
A list of formulas is a vector function R^n -> R^m (m formulas, each one
number): it has a Jacobian but no single value to minimize, so ``run``
refuses it (:meth:`Problem.scalar_objective`)::

    problem: {name: expression, expr: ["x * y", "x + sin(y)", "exp(x - y)"], params: {x: 1.0, y: 2.0}}

The formula language (what a formula may contain, and how it is checked and
compiled without ``eval``) is :mod:`optrun.core.problems.formula`'s.
"""

from __future__ import annotations

import keyword
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from optrun.core.errors import short_repr
from optrun.core.options import Options
from optrun.core.problems import Problem, register_problem, vector_valued
from optrun.core.problems.formula import CONSTANTS, FUNCTION_NAMES, calls_reducing, check_scalar, compile_expression

MAX_OUTPUTS = 50  # formulas in a vector expression
RESERVED = {"iter", "f", "gap", "grad_norm", "step_size", "time_s", "nfev", "njev", "violation"}  # trace columns


# stands in for expr and params, which have no defaults, when the options are built without
# validation: `describe expression` and `list-problems` build every problem from its defaults
EXAMPLE = {"expr": "(x - 1)**2 + 10*(y - x**2)**2", "params": {"x": -1.0, "y": 2.0}}


class ExpressionOptions(Options):
    expr: str | list[str] = Field(
        description="the objective, a formula in the names of params that evaluates to one number "
        "(write sum(...) around a vector); "
        "a list of formulas: a vector function R^n -> R^m, one entry per formula, which has nothing to minimize"
    )
    params: dict[str, float | list[float]] = Field(
        min_length=1,
        max_length=50,
        description="each parameter's name and start: a number, or a list of numbers for a vector parameter",
    )

    @classmethod
    def model_construct(cls, _fields_set: set[str] | None = None, **values: Any) -> ExpressionOptions:
        """Options without validation, as the catalogue builds problems "with
        their defaults": expr and params are required, so the documented
        example stands in for them (validated configs are unaffected)."""
        for name, value in EXAMPLE.items():
            values.setdefault(name, value)
        return super().model_construct(_fields_set, **values)

    @field_validator("expr", mode="before")
    @classmethod
    def _formulas(cls, expr: Any) -> Any:
        """One message per mistake (not one per branch of ``str | list[str]``)."""
        if isinstance(expr, str):
            if not expr.strip():
                raise ValueError("must be a formula, got an empty string")
            return expr
        if not isinstance(expr, list):
            raise ValueError(f"must be a formula or a list of formulas (strings), got {short_repr(expr)}")
        if not 1 <= len(expr) <= MAX_OUTPUTS:
            raise ValueError(f"a list of formulas needs 1 to {MAX_OUTPUTS} entries, got {len(expr)}")
        for i, text in enumerate(expr):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"entry {i} must be a formula (a non-empty string), got {short_repr(text)}")
        return expr

    @field_validator("params")
    @classmethod
    def _names(cls, params: dict[str, Any]) -> dict[str, Any]:
        for name, value in params.items():
            if not name.isidentifier() or keyword.iskeyword(name):
                raise ValueError(f"parameter name {name!r} is not a valid identifier")
            if name in FUNCTION_NAMES or name in CONSTANTS or name in RESERVED:
                raise ValueError(f"parameter name {name!r} is reserved (a function, constant or trace column)")
            if isinstance(value, list) and not value:
                raise ValueError(f"parameter {name!r} is an empty list")
        return params


@register_problem(
    "expression",
    description="An objective written inline in the config, from a whitelisted syntax",
    formula="f = expr(params), e.g. (x - 1)**2 + 10*(y - x**2)**2; a list of formulas is a vector function",
    parameters="the names in `params`",
    options=ExpressionOptions,
    backends=("autograd", "jax"),
    vectorized=True,  # elementwise in its scalar parameters: the landscape evaluates a mesh in one call
)
def expression(options: ExpressionOptions, xp) -> Problem:
    start = {
        name: (np.array(value, dtype=float) if isinstance(value, list) else float(value))
        for name, value in options.params.items()
    }
    if isinstance(options.expr, str):
        body = compile_expression(options.expr, start, xp=xp)
        check_scalar(options.expr, start)  # a vector formula is refused, not summed silently

        note = "a user expression: no known minimum"
        if options.params is EXAMPLE["params"]:  # built by model_construct for the catalogue
            note += " (start and formula shown: the example's; a config gives its own expr and params)"
        # elementwise in its parameters unless it sums (a landscape's mesh would be summed too)
        return Problem(objective=body, start=start, note=note, vectorized=not calls_reducing(options.expr))

    bodies = [compile_expression(text, start, path=f"problem.expr[{i}]", xp=xp) for i, text in enumerate(options.expr)]
    for i, text in enumerate(options.expr):
        check_scalar(text, start, path=f"problem.expr[{i}]")

    def vector(p):
        return xp.stack([body(p) for body in bodies])  # entry i: formula i, one number each

    return vector_valued(vector, start, outputs=len(bodies), note="a user vector function: nothing to minimize")
