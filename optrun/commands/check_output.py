"""What ``optrun check`` writes besides its table: the ``--json`` document,
the ``--junit`` report, and the lines naming the run directories it kept
(:mod:`optrun.engine.check_runs`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from optrun.commands.common import shown, visible
from optrun.engine.check_runs import KEPT, CheckRuns
from optrun.engine.checks import ERROR, FAIL, INTERRUPTED, NOT_RUN, PASS, SKIP, CheckResult


def where(runs: CheckRuns, run_dir: str) -> str:
    """A kept run directory as the check names it: in full in a temporary
    folder (a CI log points at it from anywhere), else as :func:`shown` gives it."""
    return shown(run_dir) if runs.keep_all else run_dir


def kept_lines(results: Sequence[CheckResult], runs: CheckRuns, names: Sequence[str]) -> list[str]:
    """One line per failing config whose run directory is kept (``names``:
    the configs as the table shows them), and with ``--keep-runs`` one more
    saying where every run is."""
    lines = [
        f"{name}: run kept in {where(runs, r.run_dir)}"
        for r, name in zip(results, names)
        if r.outcome in KEPT and r.run_dir
    ]
    if runs.keep_all:
        count = sum(bool(r.run_dir) for r in results)
        lines.append(
            f"{count} run director{'y' if count == 1 else 'ies'} kept in {shown(runs.folder)} "
            f"(one per config: {shown(runs.folder / 'NAME' / 'TIMESTAMP')})"
        )
    return [visible(line) for line in lines]


def print_json(results: Sequence[CheckResult]) -> None:
    """``--json``: one object, the totals and one entry per config."""
    import json

    from optrun.core.outputs import json_safe

    counts = {k: sum(r.outcome == k for r in results) for k in (PASS, FAIL, ERROR, SKIP, INTERRUPTED, NOT_RUN)}
    data = {"totals": {"configs": len(results), **counts}, "configs": [r.to_json() for r in results]}
    print(json.dumps(json_safe(data), indent=2), flush=True)


def write_junit(results: Sequence[CheckResult], path: Path) -> None:
    import io
    import xml.etree.ElementTree as ET

    from optrun.core.errors import RunIOError
    from optrun.core.outputs import write_bytes_atomic

    counts = {k: sum(r.outcome == k for r in results) for k in (FAIL, ERROR, SKIP)}
    counts[ERROR] += sum(r.outcome == INTERRUPTED for r in results)
    counts[SKIP] += sum(r.outcome == NOT_RUN for r in results)
    suites = ET.Element("testsuites", name="optrun check")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="optrun check",
        tests=str(len(results)),
        failures=str(counts[FAIL]),
        errors=str(counts[ERROR]),
        skipped=str(counts[SKIP]),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname="optrun.commands.check", name=r.path, time=f"{r.seconds:.3f}")
        if r.outcome == FAIL:
            failure = ET.SubElement(case, "failure", message=r.message, type="ExpectationFailed")
            failure.text = (
                "\n".join(f"{c.field}: expected {c.expected!r}, got {c.got!r} {c.detail}".rstrip() for c in r.failures)
                or r.message
            )
        elif r.outcome == ERROR:
            ET.SubElement(case, "error", message=r.error, type="ConfigError")
        elif r.outcome == SKIP:
            ET.SubElement(case, "skipped", message=r.error)
        elif r.outcome == INTERRUPTED:  # not a pass: CI must not show a cut check as green
            ET.SubElement(case, "error", message=r.error, type="Interrupted")
        elif r.outcome == NOT_RUN:
            ET.SubElement(case, "skipped", message=r.error)
        if r.run_dir:
            ET.SubElement(case, "system-out").text = f"run directory: {r.run_dir}"
    tree = ET.ElementTree(suites)
    ET.indent(tree)
    buffer = io.BytesIO()
    tree.write(buffer, encoding="utf-8", xml_declaration=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, buffer.getvalue())  # complete or absent, even on a full disk
    except OSError as exc:
        raise RunIOError(f"cannot write the JUnit report: {exc.strerror or exc}", source=str(path)) from None
    except RunIOError as exc:
        raise RunIOError(
            f"cannot write the JUnit report: {exc.message.removeprefix('cannot write: ')}", source=str(path)
        ) from None
