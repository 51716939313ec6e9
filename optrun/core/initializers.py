"""Initializers: where the optimized parameters start.

Each is registered with its options and an ``apply(options, start, rng)``
function that returns new parameter values shaped like the problem's default
``start``. Random initializers draw with the run's seeded generator, one
parameter after another in sorted-name order, so a seed fixes the start.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
from pydantic import Field, model_validator

from optrun.core.options import NoOptions, Options
from optrun.core.params import Params, coerce_like, unknown_parameter
from optrun.core.registry import Registry


@dataclass(frozen=True)
class InitializerEntry:
    """A registered initializer: ``apply(options, start, rng) -> parameters``."""

    name: str
    apply: Callable[[Any, Params, np.random.Generator], Params]
    options: type[Options]
    description: str


INITIALIZERS: Registry[InitializerEntry] = Registry("initializer")


def register_initializer(name: str, *, description: str, options: type[Options]):
    """Decorator: register ``apply(options, start, rng) -> parameters`` under ``name``."""
    def decorate(apply):
        INITIALIZERS.register(name, InitializerEntry(name, apply, options, description))
        return apply

    return decorate


def map_leaves(params: Any, fn: Callable[[Any], Any]) -> Any:
    """Apply ``fn`` to every numeric leaf, visiting dict keys in sorted order
    (the order random draws are made in) but keeping the mapping's own order."""
    if isinstance(params, Mapping):
        mapped = {k: map_leaves(params[k], fn) for k in sorted(params)}
        return {k: mapped[k] for k in params}
    if isinstance(params, (list, tuple)):
        return [map_leaves(v, fn) for v in params]
    return fn(params)


def _filled(fn: Callable[[tuple[int, ...]], np.ndarray]) -> Callable[[Any], Any]:
    def leaf(template: Any) -> Any:
        shape = np.shape(template)
        value = np.asarray(fn(shape), dtype=float)
        return float(value) if shape == () else value

    return leaf


class ConstantOptions(Options):
    value: float


class NormalOptions(Options):
    scale: float = Field(1.0, gt=0)
    mean: float = 0.0


class UniformOptions(Options):
    low: float = -1.0
    high: float = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> "UniformOptions":
        if not self.low < self.high:
            raise ValueError(f"low must be less than high, got low={self.low}, high={self.high}")
        if not math.isfinite(self.high - self.low):  # numpy cannot draw from a range wider than the largest float
            raise ValueError(f"high - low must be a finite number (at most {sys.float_info.max:.4g}), got low={self.low}, high={self.high}")
        return self


class ValuesOptions(Options):
    values: dict[str, Any] = Field(min_length=1)


@register_initializer("default", description="the problem's own default start", options=NoOptions)
def default(options: NoOptions, start: Params, rng: np.random.Generator) -> Params:
    return start


@register_initializer("zeros", description="every parameter entry 0", options=NoOptions)
def zeros(options: NoOptions, start: Params, rng: np.random.Generator) -> Params:
    return map_leaves(start, _filled(np.zeros))


@register_initializer("ones", description="every parameter entry 1", options=NoOptions)
def ones(options: NoOptions, start: Params, rng: np.random.Generator) -> Params:
    return map_leaves(start, _filled(np.ones))


@register_initializer("constant", description="every parameter entry `value`", options=ConstantOptions)
def constant(options: ConstantOptions, start: Params, rng: np.random.Generator) -> Params:
    return map_leaves(start, _filled(lambda shape: np.full(shape, options.value)))


@register_initializer("normal", description="entries ~ Normal(mean, scale^2), seeded by `seed`", options=NormalOptions)
def normal(options: NormalOptions, start: Params, rng: np.random.Generator) -> Params:
    return map_leaves(start, _filled(lambda shape: rng.normal(options.mean, options.scale, size=shape)))


@register_initializer("uniform", description="entries ~ Uniform(low, high), seeded by `seed`", options=UniformOptions)
def uniform(options: UniformOptions, start: Params, rng: np.random.Generator) -> Params:
    return map_leaves(start, _filled(lambda shape: rng.uniform(options.low, options.high, size=shape)))


@register_initializer(
    "values", description="explicit values for named parameters; the others keep the default start", options=ValuesOptions
)
def values(options: ValuesOptions, start: Params, rng: np.random.Generator) -> Params:
    result = dict(start)
    for name, value in options.values.items():
        if name not in start:
            raise unknown_parameter(name, start, f"init.values.{name}")
        result[name] = coerce_like(start[name], value, f"init.values.{name}")
    return result
