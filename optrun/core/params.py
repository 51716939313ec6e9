"""Named parameter structures: a mapping ``name -> float | array | nested``.

Problems declare their parameters by example (their default start). This
module checks user-given values against that structure and names every
scalar entry for the trace (``x``, ``w[0]``, ``layers[0].w[1,2]``). The order
of names is the order of ``autograd.misc.flatten`` (dict keys sorted), which
is the one place parameters are flattened.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from optrun.core.errors import ConfigError
from optrun.core.registry import suggest

Params = dict[str, Any]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def coerce_like(template: Any, value: Any, path: str) -> Any:
    """``value`` converted to floats with the structure and shapes of ``template``.

    Raises a ConfigError naming ``path`` for a wrong structure or shape, a
    non-number, NaN or inf.
    """
    if isinstance(template, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"must be a mapping with keys {sorted(template)}, got {value!r}", path=path)
        unknown = [k for k in value if k not in template]
        if unknown:
            raise unknown_parameter(str(unknown[0]), template, path)
        missing = [k for k in template if k not in value]
        if missing:
            raise ConfigError(f"missing key '{missing[0]}' (needs {', '.join(sorted(template))})", path=path)
        return {k: coerce_like(template[k], value[k], _join(path, str(k))) for k in template}
    if isinstance(template, (list, tuple)):  # structural list, e.g. the MLP's layers
        if not isinstance(value, (list, tuple)) or len(value) != len(template):
            raise ConfigError(
                f"must be a list of {len(template)} entries like the problem's, got {_brief(value)}", path=path
            )
        return [coerce_like(t, v, f"{path}[{i}]") for i, (t, v) in enumerate(zip(template, value))]
    return coerce_leaf(template, value, path)


def coerce_leaf(template: Any, value: Any, path: str) -> Any:
    """A float or float array shaped like ``template`` (a number or ndarray)."""
    shape = np.shape(template)
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists
        array = None
    if array is None or array.dtype.kind not in "iuf":
        raise ConfigError(f"must be {_shape_text(shape)}, got {_brief(value)}", path=path)
    if array.shape != shape:
        raise ConfigError(f"must be {_shape_text(shape)}, got shape {array.shape}: {_brief(value)}", path=path)
    array = array.astype(float)
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"must be finite numbers, got {_brief(value)}", path=path)
    return float(array) if shape == () else array


def _shape_text(shape: tuple[int, ...]) -> str:
    return "a number" if shape == () else f"an array of shape {shape}"


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def leaf_names(params: Any, prefix: str = "") -> list[str]:
    """Trace column names, one per scalar entry, in flatten order."""
    if isinstance(params, Mapping):
        names: list[str] = []
        for key in sorted(params):
            names.extend(leaf_names(params[key], _join(prefix, str(key))))
        return names
    if isinstance(params, (list, tuple)):
        names = []
        for i, item in enumerate(params):
            names.extend(leaf_names(item, f"{prefix}[{i}]"))
        return names
    shape = np.shape(params)
    if shape == ():
        return [prefix]
    return [f"{prefix}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape)]


def size(params: Any) -> int:
    if isinstance(params, Mapping):
        return sum(size(v) for v in params.values())
    if isinstance(params, (list, tuple)):
        return sum(size(v) for v in params)
    return int(np.size(params))


def unknown_parameter(name: str, known: Any, path: str) -> ConfigError:
    """The one message for a parameter name the problem does not have."""
    return ConfigError(
        f"unknown parameter '{name}'{suggest(name, sorted(known))} (parameters: {', '.join(sorted(known))})", path=path
    )


def to_jsonable(params: Any) -> Any:
    """Nested lists/floats for JSON and YAML; non-finite numbers become None."""
    if isinstance(params, Mapping):
        return {str(k): to_jsonable(v) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [to_jsonable(v) for v in params]
    array = np.asarray(params, dtype=float)
    if array.shape == ():
        return finite_or_none(float(array))
    return [to_jsonable(v) for v in array]


def finite_or_none(value: float) -> float | None:
    """The one rule for non-finite numbers in JSON and YAML output: None (null)."""
    return value if math.isfinite(value) else None


def sliced_unflatten(unflatten: Any, size: int) -> Any:
    """A fast equivalent of autograd's ``unflatten`` for the runner's hot path.

    autograd's ``unflatten`` is a vector-Jacobian product; traced inside every
    gradient evaluation it costs more than many objectives. The layout is
    taken from autograd's own ``unflatten`` (applied once to ``arange(size)``,
    every leaf then holds its flat indices), so flatten stays the single
    source of structure and order; each call is then plain slicing and
    reshaping, which autograd differentiates cheaply. Falls back to
    autograd's ``unflatten`` if a leaf's indices were ever not contiguous.
    """
    import autograd.numpy as anp

    layout = unflatten(np.arange(size, dtype=float))

    def build(node: Any) -> Any:
        if isinstance(node, Mapping):
            parts = {k: build(v) for k, v in node.items()}
            return lambda v: {k: part(v) for k, part in parts.items()}
        if isinstance(node, (list, tuple)):
            parts_list = [build(item) for item in node]
            return lambda v: [part(v) for part in parts_list]
        index = np.asarray(node).astype(int)
        start = int(index.flat[0]) if index.size else 0
        if not np.array_equal(index.ravel(), np.arange(start, start + index.size)):
            raise ValueError("non-contiguous leaf")
        shape = index.shape
        if shape == ():
            return lambda v: v[start]
        if index.size == size:  # one leaf spans the whole vector: no slice to differentiate
            return (lambda v: v) if len(shape) == 1 else (lambda v: anp.reshape(v, shape))
        stop = start + index.size
        return lambda v: anp.reshape(v[start:stop], shape)

    try:
        return build(layout)
    except ValueError:
        return unflatten


def plain_leaves(tree: Any) -> Any:
    """A parameter tree with NumPy leaves, like a start: a 0-d leaf as a
    Python float, any other as a float ndarray (jax's unflatten gives jax
    arrays, autograd's may give 0-d arrays)."""
    if isinstance(tree, Mapping):
        return {k: plain_leaves(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [plain_leaves(v) for v in tree]
    array = np.asarray(tree, dtype=float)
    return float(array) if array.shape == () else array
