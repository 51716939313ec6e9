"""Validated option models, shared by config sections, problems, initializers
and optimizers.

Each registry entry declares its options as a subclass of :class:`Options`
(a strict pydantic model that forbids unknown keys). :func:`validate` turns a
pydantic error into a one-line :class:`~optrun.core.errors.ConfigError` naming the
key path, the value given and what is allowed.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails

from optrun.core.errors import ConfigError, short_repr
from optrun.core.registry import suggest

M = TypeVar("M", bound=BaseModel)


class Options(BaseModel):
    """Base for every option set: unknown keys are errors, no type coercion
    from strings, NaN and inf refused unless a field allows them."""

    # defer_build: schemas are built on first use, so importing the catalogue
    # (for `optrun list-problems`) does not pay for every model up front
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _integral_floats(cls, data: Any) -> Any:
        """An integer option written as an integer-valued float (``max_iter:
        1e3``, as YAML reads it) is that integer; 1.5 stays an error."""
        if not isinstance(data, Mapping):
            return data
        fixed = {
            name: int(value)
            for name, value in data.items()
            if isinstance(value, float)
            and value.is_integer()
            and name in cls.model_fields
            and _takes_int_not_float(cls.model_fields[name].annotation)
        }
        return {**data, **fixed} if fixed else data

    def resolved(self) -> dict[str, Any]:
        """What a run's config.yaml records of these options: every one, defaults filled in."""
        return self.model_dump(mode="json")

    @classmethod
    def describe(cls) -> str:
        """'step_size=0.01, clip_grad_norm=null' — the options with their
        defaults written in YAML (what ``--set`` takes back), each at most 40
        characters."""
        from optrun.core.yaml_text import yaml_text

        parts = []
        for name, field in cls.model_fields.items():
            default = (
                "required" if field.is_required() else yaml_text(field.get_default(call_default_factory=True), limit=40)
            )
            parts.append(f"{name}={default}")
        return ", ".join(parts)


class NoOptions(Options):
    """For entries (problems, initializers) that take no options."""


def loc_to_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


_TYPE_TAGS = {"float", "int", "str", "bool", "dict", "list", "none", "tuple"}


def _model_names() -> set[str]:
    names, todo = set(), [BaseModel]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


# pydantic's names for schema kinds, as union-branch tags ('constrained-float' is a float with bounds)
_SCHEMA_TAG_PREFIXES = (
    "function-",
    "constrained-",
    "lax-or-strict",
    "json-or-python",
    "is-instance",
    "is-subclass",
    "tagged-union",
    "definition-ref",
    "typed-dict",
    "model-fields",
    "dataclass-args",
    "custom-error",
)


def _is_type_tag(part: Any, models: set[str]) -> bool:
    """Union branches appear in pydantic locations as tags ('float',
    "literal['known']", 'dict[str,any]', 'constrained-float', a model's class
    name); they are not keys."""
    return isinstance(part, str) and (
        part in _TYPE_TAGS or "[" in part or part.startswith(_SCHEMA_TAG_PREFIXES) or part in models
    )


def _clean(loc: tuple[Any, ...], kind: str = "") -> tuple[Any, ...]:
    models = _model_names()
    *head, last = loc or ("",)
    kept = [p for p in head if not _is_type_tag(p, models)]
    if kind == "extra_forbidden" or not _is_type_tag(last, models):  # an unknown key is always a key
        kept.append(last)
    return tuple(kept)


# pydantic's words for a type, in a YAML user's: "a valid boolean" is true/false, "a dictionary" a mapping
YAML_WORDS = {
    "bool_type": "input should be true or false",
    "bool_parsing": "input should be true or false",
    "dict_type": "input should be a mapping",
    "string_type": "input should be text",
    "list_type": "input should be a list",
}


def given_text(value: Any) -> str:
    """The value a config gave, for a message: text quoted as Python and YAML
    both quote it ('None' is the text, null the empty value), anything else
    as YAML writes it (null, true, [1, 2], {a: 1}); bounded, never the whole
    of a huge value."""
    from optrun.core.yaml_text import yaml_text

    if isinstance(value, str):
        return short_repr(value)
    try:
        return yaml_text(value, limit=60)
    except Exception:  # not a YAML value (an object given from Python)
        return short_repr(value)


def _message(model: type[BaseModel], errors: list[ErrorDetails]) -> tuple[str, str, int]:
    """(path, message, number of errors at other paths) for the first error;
    the branches of a union at the same path are merged into one message."""
    first = errors[0]
    loc = _clean(first["loc"], first["type"])
    path = loc_to_path(loc)
    same = [e for e in errors if _clean(e["loc"], e["type"]) == loc]
    others = len({_clean(e["loc"], e["type"]) for e in errors}) - 1
    kind = first["type"]
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        allowed = sorted(owner.model_fields) if owner is not None else []
        key = str(loc[-1])
        hint = suggest(key, allowed)
        allowed_text = f" (allowed: {', '.join(allowed)})" if allowed else " (this section takes no options)"
        return path, f"unknown key '{key}'{hint}{allowed_text}", others
    if kind == "missing":
        return path, "is required but missing", others
    messages = []
    for err in same:
        msg = YAML_WORDS.get(err["type"], err["msg"])
        if msg.startswith("Value error, "):  # pydantic's prefix is noise for users
            msg = msg[len("Value error, ") :]
        msg = msg[0].lower() + msg[1:]
        if msg not in messages:
            messages.append(msg)
    text = " or ".join(messages)
    given = first.get("input")
    if (
        isinstance(given, str) and short_repr(given) in text
    ) or ", got " in text:  # the message quotes the value already
        return path, text, others
    return path, f"{text}, got {given_text(given)}", others


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The nested model class at a location, for listing its allowed keys."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return None
        current = _model_from_annotation(field.annotation)
        if current is None:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _model_from_annotation(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_from_annotation(arg)
        if found is not None:
            return found
    return None


def _takes_int_not_float(annotation: Any) -> bool:
    """int, int | None, int | list[int], ...: a field where an int is valid and a float is not."""
    if annotation is int:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        return int in members and float not in members
    return False


def validate(model: type[M], data: Any, path: str = "", context: Mapping[str, Any] | None = None) -> M:
    """Validate ``data`` against ``model``; raise a one-line ConfigError.

    ``path`` is the key path of ``data`` in the config (e.g. ``"optimizer"``),
    prefixed to the path of the first error. When there are several errors the
    message says how many more there are. ``context`` reaches the validators
    (``{"paths": PathContext}`` resolves config-relative paths).
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"must be a mapping of options, got {short_repr(data)}", path=path)
    try:
        return model.model_validate(dict(data), context=dict(context) if context else None)
    except ValidationError as exc:
        # an unknown key usually explains a "missing" one (a typo): report it first
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        sub, message, others = _message(model, errors)
        if others:
            message += f" (and {others} more error{'s' if others > 1 else ''})"
        full = f"{path}{sub}" if sub.startswith("[") else ".".join(p for p in (path, sub) if p)
        raise ConfigError(message, path=full) from None
