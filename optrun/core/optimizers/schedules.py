"""Step-size schedules: the step size as a function of the update count.

A step size in a config is a number (constant) or a mapping naming a
registered schedule::

    step_size: 0.1
    step_size: {schedule: cosine, value: 0.1, decay_steps: 500, warmup_steps: 20}

Every schedule takes ``value`` (the step size it starts from, > 0) and
``warmup_steps`` (default 0). Each is a small pure function
``(options, t) -> step size``, where ``t = 0, 1, 2, ...`` counts the updates.
With ``warmup_steps = W > 0`` the first ``W`` updates ramp up linearly,
update ``t < W`` using ``(t + 1) / (W + 1)`` of the schedule's first value,
and the schedule proper starts at update ``W`` (its ``t`` is counted from
there, as in optax's joined warm-up schedules).

:data:`StepSize` is the pydantic type of a ``step_size`` option: it accepts a
positive number or a schedule mapping, looks the schedule name up in
:data:`SCHEDULES` (a typo gets a did-you-mean and the known names, at the key
path ``optimizer.step_size.schedule``) and validates the schedule's own options.
:func:`as_schedule` turns either form into a function of ``t``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import Field, PlainSerializer, PlainValidator, TypeAdapter, ValidationError, WithJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError

from optrun.core.errors import ConfigError
from optrun.core.options import Options
from optrun.core.registry import Registry, suggest

# the meaning of a step_size option, for describe (an optimizer's option models share it)
STEP_SIZE_MEANING = "the step size (> 0): a number, or a schedule mapping {schedule: NAME, value: ...}"


class ScheduleOptions(Options):
    """Options every schedule has; a schedule's own options subclass this."""

    # how describe and list-optimizers name the type of a step_size option's mapping form
    yaml_type: ClassVar[str] = "a schedule mapping {schedule, value, warmup_steps?, ...}"

    schedule: str = Field(description="the schedule's name: constant, exponential, inverse_time, step, cosine, ...")
    value: float = Field(gt=0, description="the step size the schedule starts from")
    warmup_steps: int = Field(0, ge=0, description="linear warm-up over this many updates")


@dataclass(frozen=True)
class ScheduleEntry:
    """A registered step-size schedule: ``fn(options, t) -> step size``."""

    name: str
    fn: Callable[[Any, int], float]  # (options, t) -> step size at update t (warm-up excluded)
    options: type[ScheduleOptions]
    description: str


SCHEDULES: Registry[ScheduleEntry] = Registry("schedule")


def register_schedule(name: str, *, options: type[ScheduleOptions], description: str):
    """Decorator: register ``fn(options, t) -> step size`` under ``name``."""

    def decorate(fn):
        SCHEDULES.register(name, ScheduleEntry(name, fn, options, description))
        return fn

    return decorate


# ---------------------------------------------------------------- schedules
class ConstantOptions(ScheduleOptions):
    pass


@register_schedule("constant", options=ConstantOptions, description="value")
def constant(o: ConstantOptions, t: int) -> float:
    return o.value


class ExponentialOptions(ScheduleOptions):
    decay_rate: float = Field(0.99, gt=0, le=1, description="factor per update")


@register_schedule("exponential", options=ExponentialOptions, description="value * decay_rate**t")
def exponential(o: ExponentialOptions, t: int) -> float:
    return o.value * o.decay_rate**t


class InverseTimeOptions(ScheduleOptions):
    decay_rate: float = Field(0.01, gt=0, description="the step size is value / (1 + decay_rate * t)")


@register_schedule("inverse_time", options=InverseTimeOptions, description="value / (1 + decay_rate * t)")
def inverse_time(o: InverseTimeOptions, t: int) -> float:
    return o.value / (1.0 + o.decay_rate * t)


class StepOptions(ScheduleOptions):
    every: int = Field(100, ge=1, description="updates between drops")
    factor: float = Field(0.5, gt=0, le=1, description="multiplier at each drop")


@register_schedule("step", options=StepOptions, description="value * factor**floor(t / every)")
def step(o: StepOptions, t: int) -> float:
    return o.value * o.factor ** (t // o.every)


class CosineOptions(ScheduleOptions):
    decay_steps: int = Field(1000, ge=1, description="updates to go from value to final_value")
    final_value: float = Field(0.0, ge=0, description="the step size from decay_steps on")


@register_schedule(
    "cosine",
    options=CosineOptions,
    description="final_value + (value - final_value) * (1 + cos(pi * min(t, decay_steps) / decay_steps)) / 2",
)
def cosine(o: CosineOptions, t: int) -> float:
    fraction = min(t, o.decay_steps) / o.decay_steps
    return o.final_value + (o.value - o.final_value) * 0.5 * (1.0 + math.cos(math.pi * fraction))


# ------------------------------------------------------------------ runtime
def as_schedule(step_size: float | ScheduleOptions) -> Callable[[int], float]:
    """The step size of update ``t`` (t = 0, 1, ...), warm-up included."""
    if not isinstance(step_size, ScheduleOptions):
        value = float(step_size)
        return lambda t: value
    fn = SCHEDULES.get(step_size.schedule).fn
    warmup = step_size.warmup_steps

    def at(t: int) -> float:
        # during warm-up (t < W): (t+1)/(W+1) of the first value; then the schedule from its own t = 0
        return min(1.0, (t + 1) / (warmup + 1)) * fn(step_size, max(0, t - warmup))

    return at


# --------------------------------------------------------------- validation
_POSITIVE = TypeAdapter(Annotated[float, Field(gt=0, strict=True, allow_inf_nan=False)])


def _error(kind: str, message: str, loc: tuple[Any, ...], value: Any) -> ValidationError:
    return ValidationError.from_exception_data(
        "step_size", [{"type": PydanticCustomError(kind, message), "loc": loc, "input": value}]
    )


def _validate_step_size(value: Any) -> float | ScheduleOptions:
    if isinstance(value, ScheduleOptions):  # already validated (a default, or model_construct)
        return value
    if not isinstance(value, Mapping):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _POSITIVE.validate_python(value)
        raise _error(
            "step_size_type",
            f"input should be a valid number or a schedule mapping (schedules: {', '.join(SCHEDULES)})",
            (),
            value,
        )
    data = dict(value)
    if "schedule" not in data:
        raise _error(
            "schedule_missing",
            f"a schedule mapping needs 'schedule:' naming the schedule (known: {', '.join(SCHEDULES)})",
            (),
            value,
        )
    try:
        entry = SCHEDULES.get(data["schedule"])
    except ConfigError as exc:
        raise _error("unknown_schedule", exc.message, ("schedule",), data["schedule"]) from None
    try:
        return entry.options.model_validate(data)
    except ValidationError as exc:
        raise _with_allowed_keys(exc, entry.options, entry.name) from None


def _with_allowed_keys(exc: ValidationError, model: type[ScheduleOptions], name: str) -> ValidationError:
    """The schedule's own errors, with an unknown key listing *this*
    schedule's options (the generic message would look the allowed keys up
    on the field's declared type, which is not the schedule's)."""
    allowed = list(model.model_fields)
    unknown: list[InitErrorDetails] = []
    others: list[InitErrorDetails] = []
    for err in exc.errors():
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            message = (
                f"unknown key '{key}'{suggest(key, allowed)} (allowed for schedule '{name}': {', '.join(allowed)})"
            )
            unknown.append(
                {"type": PydanticCustomError("unknown_key", message), "loc": err["loc"], "input": err["input"]}
            )
        else:
            detail: InitErrorDetails = {"type": err["type"], "loc": err["loc"], "input": err["input"]}
            if "ctx" in err:
                detail["ctx"] = err["ctx"]
            others.append(detail)
    # an unknown key usually explains a missing one (a typo): report it first
    return ValidationError.from_exception_data("step_size", unknown + others)


def _serialize_step_size(value: float | ScheduleOptions) -> Any:
    return value.model_dump(mode="json") if isinstance(value, ScheduleOptions) else value


StepSize = Annotated[
    float | ScheduleOptions,
    PlainValidator(_validate_step_size),
    PlainSerializer(_serialize_step_size),
    # a plain validator has no schema of its own before pydantic 2.10; optrun.config.schema writes the real one
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "object"}]}),
]
"""A ``step_size`` option: a positive number, or a schedule mapping."""
