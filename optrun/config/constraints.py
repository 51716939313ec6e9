"""The ``bounds:`` and ``constraints:`` keys of a config (what they mean:
:mod:`optrun.core.feasible`, which checks them against the problem's
parameters when a run is prepared)::

    bounds:
      x: [[-1.5, 0.5], [-0.5, 2.5]]    # one [low, high] pair per entry; null: an open side
      sigma: [0.001, null]             # one pair for every entry
    constraints:
      - {type: ineq, expr: "1 - x[0]**2 - x[1]**2"}   # expr >= 0
      - {type: eq, expr: "sum(x) - 1"}                # expr == 0
    init: {kind: default, clip_to_bounds: true}       # a start outside the bounds is moved inside

The form is checked here; names, shapes and formulas when the run is prepared.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from optrun.core.errors import ConfigError, short_repr
from optrun.core.feasible import is_pair
from optrun.core.options import Options
from optrun.core.registry import suggest

Side = Annotated[float | None, Field(allow_inf_nan=True)]
Pair = Annotated[list[Side], Field(min_length=2, max_length=2)]
BoundSpec = Pair | list[Pair]
MAX_CONSTRAINTS = 100

BOUNDS_MEANING = (
    "parameter name (or dotted path) -> [low, high], each a number or null (open), applied to every entry, "
    "or a list of such pairs, one per entry"
)


def check_bounds(bounds: Any) -> Any:
    """The one-message check of ``bounds:``'s form (pydantic's union errors name every branch)."""
    if not isinstance(bounds, dict):
        raise ValueError(f"must be a mapping of {BOUNDS_MEANING}, got {short_repr(bounds)}")
    for name, spec in bounds.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"a key must be a parameter name, got {short_repr(name)}")
        pairs = [spec] if is_pair(spec) else spec
        if not isinstance(pairs, list) or not pairs or not all(is_pair(p) for p in pairs):
            raise ValueError(
                f"{name}: must be [low, high] (each a number or null for an open side) or a list of such pairs, "
                f"got {short_repr(spec)}"
            )
    return bounds


class ConstraintConfig(Options):
    """One entry of ``constraints:``: ``expr >= 0`` (ineq) or ``expr == 0`` (eq)."""

    type: Literal["ineq", "eq"] = Field(description="ineq: expr >= 0; eq: expr == 0 (SciPy's convention)")
    expr: str = Field(
        min_length=1,
        description="a formula in the problem's parameter names, in the expression problem's language, "
        "evaluating to one number",
    )

    @field_validator("expr")
    @classmethod
    def _not_blank(cls, expr: str) -> str:
        if not expr.strip():
            raise ValueError("must be a formula, got an empty string")
        return expr


class FeasibleKeys(Options):
    """The keys of a config that bound or constrain its run (mixed into the top level)."""

    bounds: dict[str, BoundSpec] = Field(default_factory=dict, description=BOUNDS_MEANING)
    constraints: list[ConstraintConfig] = Field(
        default_factory=list,
        max_length=MAX_CONSTRAINTS,
        description="constraints {type: ineq | eq, expr: FORMULA}: expr >= 0 or expr == 0; "
        "only methods that take constraints can run them (slsqp, trust-constr)",
    )

    @field_validator("bounds", mode="before")
    @classmethod
    def _bounds(cls, bounds: Any) -> Any:
        return check_bounds(bounds)


def clip_option(init: str | dict[str, Any]) -> tuple[str | dict[str, Any], bool]:
    """``init`` without ``clip_to_bounds`` (an option of every initializer, kept
    apart from the entry's own options) and its value."""
    if not isinstance(init, dict):
        return init, False
    for key in init:  # a typo of it is named as one (the entry's own message lists only its own options)
        if key != "clip_to_bounds" and isinstance(key, str) and suggest(key, ["clip_to_bounds"]):
            raise ConfigError(f"unknown key '{key}'{suggest(key, ['clip_to_bounds'])}", path=f"init.{key}")
    if "clip_to_bounds" not in init:
        return init, False
    rest = {k: v for k, v in init.items() if k != "clip_to_bounds"}
    clip = init["clip_to_bounds"]
    if not isinstance(clip, bool):
        raise ConfigError(f"must be true or false, got {short_repr(clip)}", path="init.clip_to_bounds")
    if not rest:  # `init: {clip_to_bounds: true}`: the default start, clipped
        return "default", clip
    return (rest if set(rest) != {"kind"} else rest["kind"]), clip
