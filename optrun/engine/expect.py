"""Comparing a finished run with a config's ``expect:`` block.

One :class:`Check` per expected field: ``status``, ``fun``, each entry of
``params`` and ``max_nit``. Numbers pass when ``|got - expected| <= atol +
rtol * |expected|`` (NumPy's ``isclose`` rule), with per-field tolerances
from :meth:`ExpectConfig.tolerance`. ``known`` means the problem's
reference: its f*, or the nearest of its known minimizers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from autograd.misc.flatten import flatten

from optrun.config import ExpectConfig
from optrun.core.params import leaf_names
from optrun.core.result import Summary


@dataclass(frozen=True)
class Check:
    """One compared field: what was expected, what the run got, and why it failed."""

    field: str  # "status", "fun", "params.x", "max_nit"
    expected: Any
    got: Any
    ok: bool
    detail: str = ""  # for a failure: the difference and the tolerance it broke


def _tolerance_text(diff: float, expected: float, atol: float, rtol: float) -> str:
    return f"|diff| {diff:.3g} > atol {atol:g} + rtol {rtol:g} * |{expected:.6g}|"


def _number_check(field: str, expected: float, got: Any, atol: float, rtol: float) -> Check:
    if got is None or not math.isfinite(got):
        return Check(field, expected, got, False, "the run ended without a finite value")
    diff = abs(got - expected)
    ok = diff <= atol + rtol * abs(expected)
    return Check(field, expected, got, ok, "" if ok else _tolerance_text(diff, expected, atol, rtol))


def flat_values(value: Any) -> np.ndarray:
    """An expected or recorded value (number, list, nested parameters) as one flat float array."""
    if value is None:
        return np.array([np.nan])
    flat, _ = flatten(_as_arrays(value))
    return np.asarray(flat, dtype=float)


def _as_arrays(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _as_arrays(v) for k, v in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return [_as_arrays(v) for v in value]
    return np.asarray(np.nan if value is None else value, dtype=float)


def _param_check(name: str, expected: Any, got: Any, atol: float, rtol: float) -> Check:
    field = f"params.{name}"
    want, have = flat_values(expected), flat_values(got)
    if want.shape != have.shape:
        return Check(field, expected, got, False, f"expected {want.size} values, the run has {have.size}")
    if not np.all(np.isfinite(have)):
        return Check(field, expected, got, False, "the run ended with non-finite values")
    diff = np.abs(have - want)
    excess = diff - (atol + rtol * np.abs(want))
    worst = int(np.argmax(excess))
    if excess[worst] <= 0:
        return Check(field, expected, got, True)
    names = leaf_names({name: _as_arrays(expected)})
    return Check(
        field,
        expected,
        got,
        False,
        f"at {names[worst]}: " + _tolerance_text(float(diff[worst]), float(want[worst]), atol, rtol),
    )


def nearest_minimizer(minimizers: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> Mapping[str, Any]:
    """The known minimizer closest (Euclidean) to the run's final parameters."""

    def distance(point: Mapping[str, Any]) -> float:
        got = flat_values({k: params.get(k) for k in point})
        return float(np.linalg.norm(np.nan_to_num(got - flat_values(point), nan=np.inf)))

    return min(minimizers, key=distance)


def check_expect(expect: ExpectConfig, summary: Summary) -> list[Check]:
    """One Check per field of ``expect`` against a run's summary."""
    checks: list[Check] = []
    reference = summary.reference
    if expect.status is not None:
        ok = summary.status == expect.status
        checks.append(Check("status", expect.status, summary.status.value, ok, "" if ok else summary.message))
    if expect.fun is not None:
        if expect.fun == "known":
            if reference is None:
                checks.append(Check("fun", "known", summary.fun, False, "the problem has no known minimum"))
            else:
                checks.append(_number_check("fun", reference.fun, summary.fun, *expect.tolerance("fun")))
        else:
            checks.append(_number_check("fun", float(expect.fun), summary.fun, *expect.tolerance("fun")))
    if expect.params is not None:
        params = summary.params
        if expect.params == "known":
            if reference is None:
                checks.append(Check("params", "known", params, False, "the problem has no known minimum"))
                expected_params: Mapping[str, Any] = {}
            else:
                expected_params = nearest_minimizer(reference.params, params)
        else:
            expected_params = expect.params
        for name, value in expected_params.items():
            if name not in params:
                checks.append(
                    Check(
                        f"params.{name}",
                        value,
                        None,
                        False,
                        f"the problem has no parameter '{name}' (parameters: {', '.join(params)})",
                    )
                )
            else:
                checks.append(_param_check(name, value, params[name], *expect.tolerance(f"params.{name}")))
    if expect.max_nit is not None:
        ok = summary.nit <= expect.max_nit
        checks.append(
            Check(
                "max_nit",
                expect.max_nit,
                summary.nit,
                ok,
                "" if ok else f"took {summary.nit} iterations > max_nit {expect.max_nit}",
            )
        )
    return checks
