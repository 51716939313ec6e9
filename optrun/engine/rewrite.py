"""Rewriting the ``expect:`` block of a user's config file in place:
``check --update`` (the values that failed, after an intended change) and
``check --calibrate`` (the tolerances). Comments, key order and flow style
are kept (ruamel.yaml's round-trip mode) and the file is replaced
atomically: a full disk never leaves it half-written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optrun.config import plain_data
from optrun.core.errors import short
from optrun.engine.checks import FAIL, CheckResult


def update_expectations(result: CheckResult) -> tuple[list[str], list[str]]:
    """Rewrite the expected values that failed with what the run got; keeps
    comments, key order and flow style, and every value that still passes.
    Returns ('expect.key: old -> new' lines, failures it could not rewrite):
    ``known`` stays ``known``, values given with --set are not in the file,
    and a run that failed or diverged is left alone."""
    if result.outcome != FAIL:
        return [], []
    if result.summary is None or result.summary.status.failure:
        return [], [result.message]
    yaml = round_trip_yaml()
    path = Path(result.path)
    data = yaml.load(path.read_text(encoding="utf-8"))
    expect = data.get("expect") if isinstance(data, dict) else None
    summary = result.summary
    changes: list[str] = []
    left: list[str] = []
    for check in result.failures:
        key = check.field
        top = key.split(".")[0]
        if not isinstance(expect, dict) or top not in expect:
            left.append(f"expect.{key} is not in the file (given with --set?): not rewritten")
        elif top in ("fun", "params") and expect[top] == "known":
            left.append(f"expect.{key}: known (the problem's reference) is not rewritten: {check.detail}")
        elif key == "status":
            new = summary.status.value
            changes.append(f"expect.status: {expect['status']} -> {new}")
            expect["status"] = new
        elif key == "fun" and summary.fun is not None:
            changes.append(f"expect.fun: {short(expect['fun'])} -> {short(summary.fun)}")
            expect["fun"] = summary.fun
        elif (
            key.startswith("params.")
            and isinstance(expect.get("params"), dict)
            and key.split(".", 1)[1] in expect["params"]
        ):
            name = key.split(".", 1)[1]
            new = summary.params[name]
            changes.append(f"expect.{key}: {short(plain_data(expect['params'][name]))} -> {short(new)}")
            _assign(expect["params"], name, new)
        elif key == "max_nit":
            changes.append(f"expect.max_nit: {expect['max_nit']} -> {summary.nit}")
            expect["max_nit"] = summary.nit
        else:
            left.append(f"expect.{key}: not rewritten ({check.detail})")
    if changes:
        write_round_trip(yaml, data, Path(path))
    return changes, left


def update_all(results: Sequence[CheckResult]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``update_expectations`` for every result: ([(path, change)], [(path, failure left)])."""
    changed: list[tuple[str, str]] = []
    left: list[tuple[str, str]] = []
    for r in results:
        done, not_done = update_expectations(r)
        changed += [(r.path, c) for c in done]
        left += [(r.path, c) for c in not_done]
    return changed, left


def round_trip_yaml():
    """ruamel.yaml in round-trip mode: comments, key order and flow style kept."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.representer.add_representer(type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null"))
    yaml.representer.add_representer(
        float, lambda rep, value: rep.represent_scalar("tag:yaml.org,2002:float", _float_text(value))
    )
    return yaml


def _float_text(value: float) -> str:
    """repr, with a '.' in the mantissa (2.0e-12, not 2e-12: YAML 1.1 readers take 2e-12 for a string)."""
    text = repr(float(value))
    if text in ("inf", "-inf", "nan"):
        return {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}[text]
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        return f"{mantissa}.0e{exponent}"
    return text


def _assign(mapping: Any, key: str, new: Any) -> None:
    """Set mapping[key] = new, keeping an existing sequence's style by editing it in place."""
    old = mapping[key]
    if (
        isinstance(old, list)
        and isinstance(new, list)
        and len(old) == len(new)
        and not any(isinstance(v, (list, dict)) for v in new)
    ):
        for i, value in enumerate(new):
            old[i] = value
    else:
        mapping[key] = new


def write_round_trip(yaml: Any, data: Any, path: Path) -> None:
    """Write a config read with ruamel.yaml's round trip back (comments kept), complete or untouched, even on a
    full disk: it is the user's own file."""
    import io

    from optrun.core.outputs import write_text_atomic

    buffer = io.StringIO()
    yaml.dump(data, buffer)
    write_text_atomic(path, buffer.getvalue())


def round_up(value: float) -> float:
    """``value`` rounded up to two significant digits (tolerances people can read)."""
    if value <= 0 or not math.isfinite(value):
        return value
    exponent = math.floor(math.log10(value)) - 1
    digits = math.ceil(value / 10.0**exponent - 1e-9)
    return float(f"{digits}e{exponent}")


def write_calibration(path: Path, found: Any, margin: float) -> None:
    """Write the calibrated tolerances, recorded_on and the calibration record
    into the config's expect: block (comments and the other keys kept)."""
    from ruamel.yaml.comments import CommentedMap

    yaml = round_trip_yaml()
    data = yaml.load(path.read_text(encoding="utf-8"))
    expect = data["expect"]
    if expect.fa.flow_style():
        expect.fa.set_block_style()

    def flow(mapping: dict[str, Any]) -> CommentedMap:
        node = CommentedMap(mapping)
        node.fa.set_flow_style()
        return node

    expect["atol"] = flow({f.field: f.tolerance for f in found.fields}) if found.fields else 0.0
    expect["rtol"] = 0.0
    expect["recorded_on"] = found.machine
    expect["calibration"] = flow(
        {
            "margin": margin,
            "samples": len(found.samples),
            "sensitive": found.sensitive,
            "spread": flow({f.field: round_up(f.spread) for f in found.fields}),
        }
    )
    write_round_trip(yaml, data, path)
