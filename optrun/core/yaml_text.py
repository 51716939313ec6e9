"""Values and types as a YAML user writes them, for every place a user copies
from (``list-problems``, ``list-optimizers``, ``describe``, the compare and
sweep tables).

:func:`yaml_text` writes a value so that optrun's config reader
(:func:`optrun.core.safe_yaml.parse_yaml`, which also reads ``--set`` values)
reads the text back as the same value: ``null``, ``true``/``false``, flow
lists ``[1, 2]`` and mappings ``{a: 1}``, a float as the shortest text that
reads back as the same float (``1e-7``: optrun's reader takes ``1e-7`` as a
number, where plain YAML 1.1 reads a string), ``.inf``/``.nan``, and a string
plain unless YAML would read it as something else, then quoted
(``'null'``, ``'1e-7'``, ``'a: b'``; ``"a\\nb"`` when it needs an escape).

:func:`yaml_type` names the type of an option in YAML's words: ``number``,
``integer``, ``text``, ``true/false``, ``list of numbers``, ``number or
null``, ``one of: cg, cholesky``, a nested model as its keys.
"""

from __future__ import annotations

import json
import math
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

_NULL = type(None)


def yaml_text(value: Any, *, limit: int | None = None) -> str:
    """``value`` as YAML flow text that optrun's config reader reads back as
    ``value`` (lists and tuples both as lists). ``limit``: at most that many
    characters, a longer text cut with ``...`` (for tables; then no longer
    YAML), computed without writing out the whole of a huge value."""
    if limit is None:
        return "".join(_pieces(value))
    text = ""
    for piece in _pieces(value):
        text += piece
        if len(text) > limit:
            return text[: max(limit - 3, 0)] + "..."
    return text


def _pieces(value: Any) -> Iterator[str]:
    if hasattr(value, "model_dump"):  # a pydantic model (a schedule mapping as a default)
        value = value.model_dump(mode="json")
    elif hasattr(value, "tolist"):  # a NumPy array or scalar
        value = value.tolist()
    if value is None:
        yield "null"
    elif isinstance(value, bool):
        yield "true" if value else "false"
    elif isinstance(value, int):
        yield str(value)
    elif isinstance(value, float):
        yield _float(value)
    elif isinstance(value, str):
        yield _string(value)
    elif isinstance(value, Mapping):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield f"{', ' if i else ''}{''.join(_pieces(key))}: "
            yield from _pieces(item)
        yield "}"
    elif isinstance(value, (list, tuple)):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ", "
            yield from _pieces(item)
        yield "]"
    else:  # a path or any other object: its text, as a string
        yield _string(str(value))


def _float(value: float) -> str:
    """The shortest text optrun's reader reads as exactly ``value``: Python's
    shortest round-trip repr, the exponent without ``+`` and leading zeros."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    mantissa, e, exponent = repr(value).partition("e")
    return f"{mantissa}e{int(exponent)}" if e else mantissa


def _string(text: str) -> str:
    return text if _plain(text) else _quoted(text)


def _plain(text: str) -> bool:
    """Whether ``text`` unquoted reads back as itself: alone, in a flow list
    and as a flow mapping's value (so ``a, b``, ``[x]``, ``null``, ``1e-7``,
    ``a: b``, ``#x``, ``*x`` and a text with spaces at either end are quoted)."""
    if not text or text != text.strip() or not text.isprintable():
        return False
    from optrun.core.errors import ConfigError
    from optrun.core.safe_yaml import parse_yaml

    try:
        return bool(
            parse_yaml(text, source="value") == text
            and parse_yaml(f"[{text}]", source="value") == [text]
            and parse_yaml(f"{{k: {text}}}", source="value") == {"k": text}
        )
    except ConfigError:
        return False


def _quoted(text: str) -> str:
    """A YAML single-quoted scalar (``'null'``, ``'[b]x'``: only ``'`` is
    doubled) for printable text; else double-quoted (JSON's escapes are
    YAML's), every character YAML may not hold raw escaped too."""
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    body = json.dumps(text, ensure_ascii=False)
    return "".join(c if c.isprintable() else _escape(c) for c in body)


def _escape(c: str) -> str:
    code = ord(c)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


# ------------------------------------------------------------------ types
_NAMES: dict[Any, tuple[str, str]] = {  # type -> (name, plural)
    float: ("number", "numbers"),
    int: ("integer", "integers"),
    str: ("text", "texts"),
    bool: ("true/false", "true/false values"),
    _NULL: ("null", "nulls"),
    Any: ("any value", "any values"),
    dict: ("mapping", "mappings"),
    list: ("list", "lists"),
}


def yaml_type(annotation: Any) -> str:
    """The YAML type of an option's annotation: ``number``, ``integer``,
    ``text``, ``true/false``, ``list of numbers``, ``mapping of text to
    number``, ``number or null``, ``one of: a, b``; a nested options model as
    its class attribute ``yaml_type`` if it has one, else the first line of
    its docstring and its keys (``?``: optional), e.g. ``a CSV column {path,
    column?}``."""
    return _type(annotation, plural=False)


def _type(annotation: Any, plural: bool) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0], plural)
    if origin in (typing.Union, types.UnionType):
        ordered = [a for a in args if a is not _NULL] + [a for a in args if a is _NULL]  # null last
        text = " or ".join(_type(a, plural) for a in ordered)
        return f"({text})" if plural else text
    if origin is typing.Literal:
        return "one of: " + ", ".join(yaml_text(a) for a in args)
    if origin in (list, tuple, set, frozenset):
        inner = _type(args[0], plural=True) if args else "values"
        return "lists of " + inner if plural else "list of " + inner
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not args or args[1] is Any:
            return "mappings" if plural else "mapping"
        value = _type(args[1], plural=False)
        value = f"({value})" if " or " in value else value
        return f"{'mappings' if plural else 'mapping'} of {_type(args[0], False)} to {value}"
    if annotation in _NAMES:
        return _NAMES[annotation][1 if plural else 0]
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return _model_type(annotation)
    return getattr(annotation, "__name__", str(annotation))


def _model_type(model: Any) -> str:
    own = getattr(model, "yaml_type", None)
    if isinstance(own, str):
        return own
    keys = ", ".join(name + ("" if field.is_required() else "?") for name, field in model.model_fields.items())
    doc = (model.__doc__ or "").strip().splitlines()
    return f"{doc[0]} {{{keys}}}" if doc else f"mapping {{{keys}}}"
