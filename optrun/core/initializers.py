"""Initializers: where the optimized parameters start.

Each is registered with its options and an ``apply(options, start, rng)``
function that returns new parameter values shaped like the problem's default
``start``. Random initializers draw with the run's seeded generator, one
parameter after another in sorted-name order, so a seed fixes the start.

The filling initializers (zeros, ones, constant, normal, uniform) also take
``only``: glob patterns over parameter paths (``layers[*].w``); the entries
they match are filled, the rest keep the problem's start. Random values are
drawn for every entry as without ``only`` and then masked, so a selected
entry gets the same number whether or not others are selected.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from optrun.core.errors import ConfigError, short_repr
from optrun.core.options import NoOptions, Options
from optrun.core.params import Params, coerce_like, unknown_parameter
from optrun.core.registry import Registry, suggest


@dataclass(frozen=True)
class InitializerEntry:
    """A registered initializer: ``apply(options, start, rng) -> parameters``."""

    name: str
    apply: Callable[[Any, Params, np.random.Generator], Params]
    options: type[Options]
    description: str


INITIALIZERS: Registry[InitializerEntry] = Registry("initializer")


def register_initializer(name: str, *, description: str, options: type[Options]):
    """Decorator: register ``apply(options, start, rng) -> parameters`` under ``name``.

    With options derived from :class:`FillOptions`, the registered (and
    returned) function honours ``only``: ``apply`` fills every entry and the
    entries ``only`` does not match are put back to the start."""

    def decorate(apply):
        if issubclass(options, FillOptions):
            apply = _honouring_only(apply)
        INITIALIZERS.register(name, InitializerEntry(name, apply, options, description))
        return apply

    return decorate


# ------------------------------------------------------------------ only: paths
MAX_PATTERNS = 50
MAX_PATTERN_LENGTH = 200


class FillOptions(Options):
    """Options of an initializer that fills entries: ``only`` restricts it to
    the parameter paths matching one of its glob patterns."""

    only: str | list[str] | None = Field(
        None, description="glob patterns over parameter paths (layers[*].w): fill only the entries they match"
    )

    @field_validator("only", mode="before")
    @classmethod
    def _patterns(cls, only: Any) -> Any:
        if only is None:
            return None
        patterns = [only] if isinstance(only, str) else only
        if not isinstance(patterns, list) or not 1 <= len(patterns) <= MAX_PATTERNS:
            raise ValueError(
                f"must be a path pattern or a list of 1 to {MAX_PATTERNS} of them, "
                f'e.g. "layers[*].w", got {short_repr(only)}'
            )
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern.strip() or len(pattern) > MAX_PATTERN_LENGTH:
                raise ValueError(
                    f"each pattern must be a non-empty string of at most {MAX_PATTERN_LENGTH} characters, "
                    f'e.g. "layers[*].w", got {short_repr(pattern)}'
                )
        return only


def path_pattern(pattern: str) -> re.Pattern[str]:
    """A glob over parameter paths as :func:`optrun.core.params.leaf_names`
    writes them: ``*`` is any run of characters but ``.`` (so ``layers[*].w``
    is every layer's ``w``, ``*.b`` every top-level entry's ``b``), ``?`` one
    such character; everything else, brackets included, is literal."""
    parts = [r"[^.]*" if ch == "*" else r"[^.]" if ch == "?" else re.escape(ch) for ch in pattern.strip()]
    return re.compile("".join(parts))


def select(patterns: str | list[str], start: Params, path: str = "init.only") -> Callable[[Params], Params]:
    """``keep(filled)``: ``filled`` with every entry no pattern matches put
    back to its value in ``start``. A pattern matches an entry when it matches
    the entry's name (``w[1,2]``), its array's path (``layers[0].w``) or a path
    above it (``layers[0]``, ``layers``). A pattern that matches nothing is a
    ConfigError at ``path`` listing the parameter paths."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    compiled = [(p, path_pattern(p)) for p in patterns]
    used: set[str] = set()
    arrays: list[str] = []

    def matches(names: list[str]) -> bool:
        hit = False
        for text, regex in compiled:
            if any(regex.fullmatch(name) for name in names):
                used.add(text)
                hit = True
        return hit

    # the only patterns an entry name can match
    entry_patterns = [(p, r) for p, r in compiled if any(c in p for c in "[*?")]

    def mask_of(node: Any, where: str, above: list[str]) -> Any:
        """True (whole subtree selected), False, or a boolean array for a partly selected leaf."""
        if isinstance(node, Mapping):
            # in sorted key order, as flatten orders them
            return {k: mask_of(node[k], _join(where, str(k)), [*above, _join(where, str(k))]) for k in sorted(node)}
        if isinstance(node, (list, tuple)):
            return [mask_of(v, f"{where}[{i}]", [*above, f"{where}[{i}]"]) for i, v in enumerate(node)]
        arrays.append(where)
        if matches(above):
            return True
        shape = np.shape(node)
        if shape == () or not entry_patterns:
            return False
        flags = np.zeros(shape, dtype=bool)
        for index in np.ndindex(*shape):
            name = f"{where}[{','.join(map(str, index))}]"
            for text, regex in entry_patterns:
                if regex.fullmatch(name):
                    used.add(text)
                    flags[index] = True
        return flags if flags.any() else False

    masks = mask_of(start, "", [])
    missing = [p for p in patterns if p not in used]
    if missing:
        shown = ", ".join(arrays[:12]) + (f", ... ({len(arrays)} in all)" if len(arrays) > 12 else "")
        raise ConfigError(
            f"the pattern {missing[0]!r} matches no parameter{suggest(missing[0], arrays)} (paths: {shown}; "
            "* matches any characters but '.', e.g. layers[*].w)",
            path=path,
        )

    def keep(filled: Params) -> Params:
        return _merge(masks, filled, start)

    return keep


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _merge(mask: Any, filled: Any, start: Any) -> Any:
    if isinstance(mask, Mapping):
        return {k: _merge(mask[k], filled[k], start[k]) for k in start}
    if isinstance(mask, list):
        return [_merge(m, f, s) for m, f, s in zip(mask, filled, start)]
    if mask is True:
        return filled
    if mask is False:
        return start
    return np.where(mask, filled, start)


def _honouring_only(apply: Callable[[Any, Params, np.random.Generator], Params]):
    @functools.wraps(apply)
    def restricted(options: Any, start: Params, rng: np.random.Generator) -> Params:
        only = getattr(options, "only", None)
        if only is None:
            return apply(options, start, rng)
        keep = select(only, start)  # errors before any draw
        return keep(apply(options, start, rng))

    return restricted


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


class ConstantOptions(FillOptions):
    value: float = Field(description="the value of every entry")


class NormalOptions(FillOptions):
    scale: float = Field(1.0, gt=0, description="standard deviation")
    mean: float = Field(0.0, description="mean")


class UniformOptions(FillOptions):
    low: float = Field(-1.0, description="lower end of the range")
    high: float = Field(1.0, description="upper end of the range (above low)")

    @model_validator(mode="after")
    def _ordered(self) -> UniformOptions:
        if not self.low < self.high:
            raise ValueError(f"low must be less than high, got low={self.low}, high={self.high}")
        if not math.isfinite(self.high - self.low):  # numpy cannot draw from a range wider than the largest float
            raise ValueError(
                f"high - low must be a finite number (at most {sys.float_info.max:.4g}), "
                f"got low={self.low}, high={self.high}"
            )
        return self


class ValuesOptions(Options):
    values: dict[str, Any] = Field(
        min_length=1, description="parameter name -> its start (a number, or nested lists shaped like it)"
    )


class PerturbedOptions(Options):
    seed: int = Field(0, ge=0, le=2**32 - 1, description="the bench's seed")
    label: str = Field("", max_length=1000, description="the problem's label in the bench")
    k: int = Field(ge=1, le=2**32 - 1, description="which start: 1, 2, ...")


@register_initializer("default", description="the problem's own default start", options=NoOptions)
def default(options: NoOptions, start: Params, rng: np.random.Generator) -> Params:
    return start


@register_initializer("zeros", description="every parameter entry 0 (or those `only` matches)", options=FillOptions)
def zeros(options: FillOptions, start: Params, rng: np.random.Generator) -> Params:
    return map_leaves(start, _filled(np.zeros))


@register_initializer("ones", description="every parameter entry 1 (or those `only` matches)", options=FillOptions)
def ones(options: FillOptions, start: Params, rng: np.random.Generator) -> Params:
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
    "values",
    description="explicit values for named parameters; the others keep the default start",
    options=ValuesOptions,
)
def values(options: ValuesOptions, start: Params, rng: np.random.Generator) -> Params:
    result = dict(start)
    for name, value in options.values.items():
        if name not in start:
            raise unknown_parameter(name, start, f"init.values.{name}")
        result[name] = coerce_like(start[name], value, f"init.values.{name}")
    return result


def perturbed_start(start: Params, seed: int, label: str, k: int) -> Params:
    """x0 + max(1, |x0|) * z entry by entry, z ~ N(0, 1) drawn by
    ``numpy.random.default_rng([seed, crc32(label), k])`` leaf after leaf in
    sorted-name order (nested mappings too): ``optrun bench``'s start k >= 1 of
    the problem labelled ``label``, rebuilt from three numbers and a name."""
    rng = np.random.default_rng([seed, zlib.crc32(label.encode("utf-8")), k])

    def leaf(value: Any) -> Any:
        x = np.asarray(value, dtype=float)
        moved = x + np.maximum(1.0, np.abs(x)) * rng.standard_normal(x.shape)
        return float(moved) if x.shape == () else moved

    return map_leaves(start, leaf)


@register_initializer(
    "perturbed",
    description="x0 + max(1, |x0|) * N(0, 1) per entry, drawn from (seed, label, k): optrun bench's start k",
    options=PerturbedOptions,
)
def perturbed(options: PerturbedOptions, start: Params, rng: np.random.Generator) -> Params:
    return perturbed_start(start, options.seed, options.label, options.k)
