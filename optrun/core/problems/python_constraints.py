"""SciPy's forms of bounds and constraints, for ``optrun.minimize(fun, x0,
bounds=..., constraints=...)`` (:mod:`optrun.core.problems.python`).

:func:`bounds_mapping` turns SciPy's bounds (``(low, high)`` pairs, one per
entry of a start that is not a dict, or ``scipy.optimize.Bounds``) into a
config's ``bounds:`` mapping, which config.yaml records. :func:`scipy_constraints`
turns SciPy's constraints into :class:`PythonConstraint` functions of x, the
function problem's own constraints (``{"type": "ineq" | "eq", "fun": f,
"args": ...}``; ``NonlinearConstraint(fun, lb, ub)``: one constraint per
finite side of each entry, ``fun - lb >= 0``, ``ub - fun >= 0``, or
``fun - lb == 0`` where lb == ub; ``LinearConstraint(A, lb, ub)`` likewise
on the rows of ``A @ x``), and ``{"type", "expr"}`` formulas into the
config's ``constraints:``. A function cannot be written into config.yaml:
its qualified name and source hash are (``problem.constraints``).

Every constraint's derivatives come from the run's backend, like the
objective's (never finite differences): a hand-written ``jac`` (or a
NonlinearConstraint's callable ``jac`` or ``hess``) is refused with a
one-line error rather than silently dropped; a NonlinearConstraint's default
``"2-point"`` and ``BFGS()`` are no derivatives of the user's and are left aside.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from optrun.core.errors import ConfigError, short_repr


@dataclass(frozen=True)
class PythonConstraint:
    """``fun(x) >= 0`` (ineq) or ``== 0`` (eq), ``fun`` taking x as the
    objective does and returning one number; ``record`` is what config.yaml
    says of it (``function``, ``source_sha256``)."""

    type: Literal["ineq", "eq"]
    fun: Callable[[Any], Any]
    label: str
    record: Mapping[str, str]


def qualname(fun: Any) -> str:
    module = getattr(fun, "__module__", None) or "?"
    return f"{module}.{getattr(fun, '__qualname__', type(fun).__name__)}"


def source_sha256(fun: Any) -> str:
    """The SHA-256 of a function's source, or of its bytecode when there is no source."""
    import inspect

    try:
        data = inspect.getsource(fun).encode()
    except (OSError, TypeError):  # defined at a prompt, or a callable object: hash what is there
        code = getattr(fun, "__code__", None)
        data = code.co_code + repr(code.co_consts).encode() if code is not None else repr(fun).encode()
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------- SciPy's forms of bounds and constraints
SCIPY_BOUNDS = "a sequence of (low, high) pairs, one per entry of x0 (None: an open side), scipy.optimize.Bounds"
NAMED_BOUNDS = "a mapping {name: [low, high] or [[low, high], ...]}"


def bounds_mapping(bounds: Any, x0: Any) -> dict[str, Any]:
    """``bounds`` as a config's ``bounds:`` mapping: SciPy's pairs (one per
    entry of a start that is not a dict, in the flatten order of its trace
    columns x[0], x[1], ...) or ``scipy.optimize.Bounds`` become ``{"x":
    [[low, high], ...]}`` (an infinite side: null); a mapping is the
    config's own form, by parameter name (a dict start's keys). {} for None."""
    from optrun.core.params import size

    if bounds is None:
        return {}
    if isinstance(bounds, Mapping):
        return {key: _plain(value) for key, value in bounds.items()}
    if isinstance(x0, Mapping):
        raise ConfigError(
            f"with a dict x0 (named parameters), bounds are {NAMED_BOUNDS}, got {short_repr(bounds)}", path="bounds"
        )
    n = size(x0)
    if _is_scipy("Bounds", bounds):
        if np.any(bounds.keep_feasible):
            raise ConfigError(_KEEP_FEASIBLE, path="bounds")
        sides = [_broadcast(getattr(bounds, side), n, f"bounds.{side}", "entry of x0") for side in ("lb", "ub")]
        return {"x": [[_open(lo, -1), _open(hi, 1)] for lo, hi in zip(*sides)]}
    if isinstance(bounds, (str, bytes)) or not isinstance(bounds, (list, tuple, np.ndarray)):
        raise ConfigError(f"must be {SCIPY_BOUNDS}, or {NAMED_BOUNDS}; got {short_repr(bounds)}", path="bounds")
    pairs = [_pair(pair, f"bounds[{i}]") for i, pair in enumerate(bounds)]
    if len(pairs) != n:
        raise ConfigError(
            f"has {len(pairs)} (low, high) pair{'s' if len(pairs) != 1 else ''} for the {n} "
            f"entr{'ies' if n != 1 else 'y'} of x0: give one pair per entry (None for an open side)",
            path="bounds",
        )
    return {"x": pairs}


_KEEP_FEASIBLE = (
    "keep_feasible is not supported: bounds and constraints go to SciPy without it (L-BFGS-B, TNC, "
    "Nelder-Mead and the projected methods keep every iterate inside the bounds anyway); leave it False"
)


def _pair(pair: Any, path: str) -> list[float | None]:
    if isinstance(pair, (str, bytes)) or not isinstance(pair, (list, tuple, np.ndarray)) or len(pair) != 2:
        raise ConfigError(f"must be a (low, high) pair, each a number or None, got {short_repr(pair)}", path=path)
    low, high = (_side(v, f"{path}[{i}]") for i, v in enumerate(pair))
    return [_open(low, -1), _open(high, 1)]


def _side(value: Any, path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and not math.isnan(value):
        return float(value)
    raise ConfigError(f"must be a number or None (an open side), got {short_repr(value)}", path=path)


def _open(value: float | None, sign: int) -> float | None:
    """None for an open side (-inf low, inf high), as a config writes it."""
    return None if value is None or value == sign * math.inf else float(value)


def _plain(value: Any) -> Any:
    """NumPy numbers and arrays, tuples: plain floats and lists (what a config holds)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    return value


def _broadcast(values: Any, n: int, path: str, what: str) -> np.ndarray:
    try:
        return np.broadcast_to(np.asarray(values, dtype=float), (n,))
    except (ValueError, TypeError):
        count = f"{np.size(values)} numbers" if np.ndim(values) == 1 else short_repr(values)
        raise ConfigError(f"has {count}: give one number, or {n}, one per {what}", path=path) from None


def _is_scipy(kind: str, value: Any) -> bool:
    """Whether value is a ``scipy.optimize`` Bounds, NonlinearConstraint or
    LinearConstraint (scipy is imported only when something else was given)."""
    if isinstance(value, (Mapping, list, tuple, str, bytes, np.ndarray, numbers.Number)) or value is None:
        return False
    import scipy.optimize

    return isinstance(value, getattr(scipy.optimize, kind))


DICT_KEYS = "type, fun or expr, args"


def scipy_constraints(constraints: Any, x0: Any) -> tuple[list[PythonConstraint], list[dict[str, str]]]:
    """SciPy's constraints (one or a list: ``{"type": "ineq" | "eq", "fun": f,
    "args": ()}``, ``NonlinearConstraint``, ``LinearConstraint``) as
    :class:`PythonConstraint` functions of x, and ``{"type", "expr"}``
    formulas (for the config). Each function is called once at ``x0``: one
    number, or a one-line ConfigError."""
    if constraints is None:
        return [], []
    many = isinstance(constraints, (list, tuple))
    items = list(constraints) if many else [constraints]
    functions: list[PythonConstraint] = []
    formulas: list[dict[str, str]] = []
    for i, item in enumerate(items):
        path = f"constraints[{i}]" if many else "constraints"
        if isinstance(item, Mapping):
            made = _from_dict(item, path, x0)
            if isinstance(made, PythonConstraint):
                functions.append(made)
            else:
                formulas.append(made)
        elif _is_scipy("NonlinearConstraint", item):
            functions.extend(_from_nonlinear(item, path, x0))
        elif _is_scipy("LinearConstraint", item):
            functions.extend(_from_linear(item, path, x0))
        else:
            raise ConfigError(
                f"must be a dict {{'type': 'ineq' or 'eq', 'fun': f}} (or 'expr': a formula), a "
                f"scipy.optimize.NonlinearConstraint or LinearConstraint, got {short_repr(item)}",
                path=path,
            )
    return functions, formulas


def _from_dict(item: Mapping[str, Any], path: str, x0: Any) -> PythonConstraint | dict[str, str]:
    unknown = [k for k in item if k not in ("type", "fun", "expr", "args", "jac")]
    if unknown:
        raise ConfigError(f"unknown key {short_repr(unknown[0])} (keys: {DICT_KEYS})", path=path)
    kind = item.get("type")
    if kind not in ("ineq", "eq"):
        raise ConfigError(f"must be 'ineq' (fun >= 0) or 'eq' (fun == 0), got {short_repr(kind)}", path=f"{path}.type")
    if item.get("jac") is not None:
        raise ConfigError(_NO_JAC, path=f"{path}.jac")
    if ("fun" in item) == ("expr" in item):
        raise ConfigError("needs 'fun' (a Python function of x) or 'expr' (a formula), one of them", path=path)
    if "expr" in item:
        if "args" in item:
            raise ConfigError("'args' goes with 'fun': a formula takes no arguments", path=f"{path}.args")
        return {"type": kind, "expr": item["expr"]}  # the config checks the formula
    fun, args = item["fun"], item.get("args", ())
    if not callable(fun):
        raise ConfigError(f"must be a Python function of x, got {short_repr(fun)}", path=f"{path}.fun")
    if not isinstance(args, (tuple, list)):
        args = (args,)  # SciPy's own rule for a lone argument
    call = (lambda x: fun(x, *args)) if args else fun
    shape = np.shape(_at_start(call, x0, f"{path}.fun"))
    if shape != ():
        raise ConfigError(
            f"returns an array of shape {shape} at x0, not one number: give one "
            "constraint per entry (or a scipy.optimize.NonlinearConstraint, whose entries become constraints)",
            path=f"{path}.fun",
        )
    label = _name(fun, path if path.endswith("]") else "constraint")  # a lambda: its place in the list
    return PythonConstraint(kind, call, label, {"function": qualname(fun), "source_sha256": source_sha256(fun)})


_NO_JAC = (
    "derivatives come from the backend (autograd or jax differentiates fun exactly, as it does the objective): "
    "leave 'jac' out"
)


def _at_start(fun: Callable[[Any], Any], x0: Any, path: str) -> Any:
    """fun's value at the start (copied: fun cannot change it), a ConfigError if it raises or is not numbers."""
    import copy

    try:
        with np.errstate(all="ignore"):
            value = fun(copy.deepcopy(x0))
        kind = np.asarray(value).dtype.kind
    except Exception as exc:
        raise ConfigError(f"raised {type(exc).__name__} at x0: {exc}", path=path) from None
    if kind not in "biuf":
        raise ConfigError(f"returns {short_repr(value)} at x0, not a number", path=path)
    return value


def _name(fun: Any, fallback: str) -> str:
    """The label of a constraint: its function's name, or (a lambda) where it was given."""
    name = getattr(fun, "__name__", "")
    return name if name and not name.startswith("<") else fallback


def _sides(item: Any, m: int, path: str) -> list[tuple[int, Literal["ineq", "eq"], float, int]]:
    """(entry, type, bound, sign) for each constraint ``lb <= value <= ub`` makes: eq ``value - lb``
    when lb == ub, ineq ``value - lb`` (sign 1) for a finite lb, ``ub - value`` (sign -1) for a finite ub."""
    if np.any(item.keep_feasible):
        raise ConfigError(_KEEP_FEASIBLE, path=f"{path}.keep_feasible")
    lb = _broadcast(item.lb, m, f"{path}.lb", "entry of fun's value")
    ub = _broadcast(item.ub, m, f"{path}.ub", "entry of fun's value")
    sides: list[tuple[int, Literal["ineq", "eq"], float, int]] = []
    for j, (lo, hi) in enumerate(zip(lb.tolist(), ub.tolist())):
        if lo > hi:
            raise ConfigError(f"lb {lo:g} > ub {hi:g} (entry {j}): nothing is feasible", path=path)
        if lo == hi:
            sides.append((j, "eq", lo, 1))
            continue
        if math.isfinite(lo):
            sides.append((j, "ineq", lo, 1))
        if math.isfinite(hi):
            sides.append((j, "ineq", hi, -1))
    return sides


def _side_constraint(
    entry: Callable[[Any], Any],
    kind: Literal["ineq", "eq"],
    bound: float,
    sign: int,
    label: str,
    record: Mapping[str, str],
) -> PythonConstraint:
    if sign > 0:
        fun = entry if bound == 0 else (lambda x: entry(x) - bound)
        text = label if bound == 0 else f"{label} - {bound:g}"
    else:
        fun, text = (lambda x: bound - entry(x)), f"{bound:g} - {label}"
    return PythonConstraint(kind, fun, text, record)


def _from_nonlinear(item: Any, path: str, x0: Any) -> list[PythonConstraint]:
    fun = item.fun
    if callable(item.jac) or callable(item.hess):
        raise ConfigError(
            _NO_JAC.replace("'jac'", "jac and hess"), path=f"{path}.{'jac' if callable(item.jac) else 'hess'}"
        )
    shape = np.shape(_at_start(fun, x0, f"{path}.fun"))
    if len(shape) > 1:
        raise ConfigError(f"returns an array of shape {shape} at x0: one number or a 1-D array", path=f"{path}.fun")
    record = {"function": qualname(fun), "source_sha256": source_sha256(fun)}
    name = _name(fun, f"{path}.fun")
    made = []
    for j, kind, bound, sign in _sides(item, shape[0] if shape else 1, path):
        entry = (lambda x, j=j: fun(x)[j]) if shape else fun
        label = f"{name}[{j}]" if shape else name
        made.append(_side_constraint(entry, kind, bound, sign, label, record))
    return made


def _from_linear(item: Any, path: str, x0: Any) -> list[PythonConstraint]:
    flat = isinstance(x0, float) or (isinstance(x0, np.ndarray) and x0.ndim == 1)
    if not flat and not (isinstance(x0, list) and all(isinstance(v, float) for v in x0)):
        raise ConfigError(
            "a LinearConstraint needs a flat x0 (a number, a 1-D array or a list of numbers); "
            "write it as {'type': ..., 'fun': ...}",
            path=path,
        )
    a = item.A.toarray() if hasattr(item.A, "toarray") else item.A  # a sparse matrix
    a = np.atleast_2d(np.asarray(a, dtype=float))
    n = 1 if isinstance(x0, float) else len(x0)
    if a.ndim != 2 or a.shape[1] != n:
        raise ConfigError(
            f"A has shape {a.shape}: it needs {n} column{'s' if n != 1 else ''}, one per entry of x0", path=f"{path}.A"
        )
    record = {
        "function": "scipy.optimize.LinearConstraint",
        "source_sha256": hashlib.sha256(
            a.tobytes() + np.asarray(item.lb, float).tobytes() + np.asarray(item.ub, float).tobytes()
        ).hexdigest(),
    }
    made = []
    for j, kind, bound, sign in _sides(item, a.shape[0], path):
        row = a[j]
        label = f"{path}.A[{j}] @ x" if a.shape[0] > 1 else f"{path}.A @ x"
        made.append(_side_constraint(_dot(row, x0), kind, bound, sign, label, record))
    return made


def _dot(row: np.ndarray, x0: Any) -> Callable[[Any], Any]:
    """x -> row . x, for x as the objective takes it (a number, an array, a list)."""
    if isinstance(x0, np.ndarray):
        return lambda x: x @ row
    coefficients = [(i, float(a)) for i, a in enumerate(row) if a != 0]
    if isinstance(x0, float):
        return lambda x: row[0] * x
    return lambda x: sum(a * x[i] for i, a in coefficients) + 0.0
