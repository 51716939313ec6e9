"""Calibrating an expectation: how far may a config's result move on another machine?

Another CPU or BLAS library rounds differently, and an optimizer can carry
those last-bit differences to its result: hardly at all when it converges,
by orders of magnitude along a chaotic trajectory. Instead of guessing a
tolerance, ``optrun check --calibrate`` (and ``--update``, for the values it
rewrites) re-runs each config as another machine would:

- the plain run (this machine, the BLAS thread setting);
- the start moved by 1 and by 4 ulps, up and down (random signs per entry,
  seeded; a zero entry moves by the ulp of 1): 4 runs;
- other BLAS kernels, in fresh worker processes: ``OPENBLAS_CORETYPE=Prescott``
  (plain SSE3 kernels, which every x86-64 CPU runs) and one more kernel the
  CPU supports (Sandybridge or Haswell), and 2 BLAS threads, where the BLAS is
  OpenBLAS and honours the variable.

For each expected number (``fun``, each ``params.NAME``) the *spread* is the
largest difference between a perturbed result and the plain one, and the
tolerance written is ``MARGIN`` (10) times the largest difference between any
of these results and the expected value, but at least ``FLOOR`` (1e-12) times
max(1, |value|). A config whose spread exceeds ``SENSITIVE`` (1e-9) times
max(1, |value|) is *rounding-sensitive*: its result is decided by rounding
(e.g. a non-converged, chaotic trajectory), and ``check`` says so beside its
result, with the measured spread.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from optrun.core.errors import OptrunError
from optrun.core.result import KnownMinimum
from optrun.engine.checks import BENCH_SUITE, ERROR, FAIL, NO_EXPECT, PASS, SKIP, SKIP_REASONS
from optrun.engine.executors import FreshPool, choose, run_many
from optrun.engine.expect import flat_values
from optrun.engine.rewrite import round_up, write_calibration

MARGIN = 10.0
SENSITIVE = 1e-9
FLOOR = 1e-12
ULP_MOVES = (1, -1, 4, -4)
NUDGE_SEED = 20260  # the signs of the ulp moves: fixed, so calibrations repeat exactly


@dataclass(frozen=True)
class Sample:
    """One re-run of a config: what it ended with, and where it ran."""

    label: str  # "plain", "start +1 ulp", "BLAS Prescott, 1 thread"
    status: str
    fun: float | None
    params: dict[str, Any]
    nit: int
    machine: str  # optrun.core.machine.describe of the run
    reference: KnownMinimum | None = None  # the problem's known minimum (for `known`)


@dataclass(frozen=True)
class Variant:
    """A way to re-run a config as another machine would."""

    label: str
    ulps: int = 0  # move the start by this many ulps (signed)
    threads: int | None = None  # BLAS threads (None: the setting)
    env: Mapping[str, str] = field(default_factory=dict)  # for a fresh worker process (BLAS kernel)


def nudge(x0: np.ndarray, ulps: int, seed: int = NUDGE_SEED) -> np.ndarray:
    """x0 moved by ``ulps`` units in the last place, each entry up or down at random."""
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=x0.shape)
    unit = np.spacing(np.where(x0 == 0.0, 1.0, np.abs(x0)))
    return x0 + ulps * signs * unit


def blas_variants(threads: int) -> tuple[list[Variant], str]:
    """The BLAS variants this machine can run, and a note on what was left out.
    OPENBLAS_CORETYPE must be set before OpenBLAS loads: these run in fresh
    worker processes."""
    from optrun.core.machine import blas_info, cpu_flags, machine_kernel_setting

    variants = [Variant(f"{threads + 1} BLAS threads", threads=threads + 1)]
    preset = machine_kernel_setting()
    if preset:  # older OpenBLAS builds crash or compute wrong results on some CPUs, which set these: left as they are
        return variants, f"BLAS kernels not varied: the environment sets {preset} (left as it is)"
    libs = blas_info()
    if not libs or libs[0]["vendor"] != "openblas":
        vendor = libs[0]["vendor"] if libs else "none found"
        return variants, f"BLAS kernels not varied: the BLAS is {vendor} (OPENBLAS_CORETYPE applies to OpenBLAS only)"
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return variants, f"BLAS kernels not varied on {platform.machine()} (only x86-64 kernels are chosen here)"
    flags = cpu_flags()
    cores = ["Prescott"]
    if {"avx2", "fma"} <= flags and libs[0]["core"] != "Haswell":
        cores.append("Haswell")
    elif "avx" in flags:
        cores.append("Sandybridge")
    for core in cores:
        variants.append(Variant(f"BLAS {core} kernels", threads=threads, env={"OPENBLAS_CORETYPE": core}))
    return variants, ""


def variants(threads: int) -> tuple[list[Variant], str]:
    """Every run of a calibration: plain first, then the perturbations."""
    blas, note = blas_variants(threads)
    moves = [Variant(f"start {m:+d} ulp{'s' if abs(m) > 1 else ''}", ulps=m) for m in ULP_MOVES]
    return [Variant("plain"), *moves, *blas], note


def run_sample(path: str, overrides: Sequence[str], problems: str | None, variant: Variant, threads: int) -> Sample:
    """Re-run one config under one variant, writing nothing (picklable, for worker processes)."""
    from optrun.config import load_config
    from optrun.config.plugins import load_user_problems
    from optrun.core.machine import blas_limits, describe
    from optrun.core.params import to_jsonable
    from optrun.engine.prepare import prepare
    from optrun.engine.record import solve

    load_user_problems(problems)
    config = load_config(path, overrides)
    use = variant.threads or threads
    with blas_limits(use):
        prep = prepare(config)
        x0 = nudge(prep.x0, variant.ulps) if variant.ulps else None
        outcome, where = solve(prep, use, x0=x0)
    fun = outcome.fun if math.isfinite(outcome.fun) else None
    return Sample(
        variant.label,
        outcome.status,
        fun,
        to_jsonable(prep.params(outcome.x)),
        outcome.nit,
        describe(where),
        KnownMinimum.of(prep.problem.reference),
    )


# ------------------------------------------------------------ the numbers
@dataclass(frozen=True)
class FieldSpread:
    """One expected number's calibration."""

    field: str  # "fun" or "params.NAME"
    spread: float  # largest |perturbed - plain| (max over entries)
    deviation: float  # largest |any run - expected| (max over entries)
    scale: float  # max(1, |expected|) (max over entries)
    tolerance: float  # what is written as the field's atol

    @property
    def sensitive(self) -> bool:
        return self.spread > SENSITIVE * self.scale


@dataclass(frozen=True)
class Calibration:
    """One config's calibration: its samples, each field's spread and tolerance, and any problems."""

    path: str
    samples: tuple[Sample, ...]
    fields: tuple[FieldSpread, ...]
    problems: tuple[str, ...]  # why the tolerances cannot be written (status varies, ...)
    machine: str  # where the plain run ran: expect.recorded_on

    @property
    def sensitive(self) -> bool:
        return any(f.sensitive for f in self.fields)

    @property
    def ok(self) -> bool:
        return not self.problems


def _field(name: str, expected: Any, values: list[Any], plain: Any, margin: float) -> FieldSpread:
    want = flat_values(expected)
    runs = [flat_values(v) for v in values]
    base = flat_values(plain)
    spread = max(float(np.max(np.abs(r - base))) for r in runs)
    deviation = max(float(np.max(np.abs(r - want))) for r in [base, *runs])
    scale = float(np.max(np.maximum(1.0, np.abs(want))))
    tolerance = round_up(max(margin * deviation, FLOOR * scale))
    return FieldSpread(name, spread, deviation, scale, tolerance)


def calibrate_samples(path: str, expect: Any, samples: Sequence[Sample], margin: float = MARGIN) -> Calibration:
    """Spreads and tolerances from a config's samples (``samples[0]`` is the plain run)."""
    from optrun.engine.expect import nearest_minimizer

    plain, others = samples[0], list(samples[1:])
    reference = plain.reference
    problems: list[str] = []
    statuses = sorted({s.status for s in samples})
    if len(statuses) > 1:
        counts = ", ".join(f"{s} x{sum(x.status == s for x in samples)}" for s in statuses)
        problems.append(f"the status depends on rounding ({counts}): loosen the stop tolerances or drop expect.status")
    if any(s.fun is None for s in samples):
        problems.append(
            "a perturbed run ended without a finite f: " + ", ".join(s.label for s in samples if s.fun is None)
        )
    if expect.max_nit is not None and max(s.nit for s in samples) > expect.max_nit:
        problems.append(f"a perturbed run took {max(s.nit for s in samples)} iterations > max_nit {expect.max_nit}")
    fields: list[FieldSpread] = []
    if not problems and expect.fun is not None:
        target = reference.fun if expect.fun == "known" and reference is not None else expect.fun
        if target == "known":
            problems.append("expect.fun is known but the problem has no known minimum")
        else:
            fields.append(_field("fun", float(target), [s.fun for s in others], plain.fun, margin))
    if not problems and expect.params is not None:
        if expect.params == "known":
            if reference is None:
                problems.append("expect.params is known but the problem has no known minimum")
                wanted: Mapping[str, Any] = {}
            else:
                wanted = nearest_minimizer(reference.params, plain.params)
        else:
            wanted = expect.params
        for name, value in wanted.items():
            fields.append(
                _field(f"params.{name}", value, [s.params.get(name) for s in others], plain.params.get(name), margin)
            )
    for f in fields:  # a value that fails its check by more than rounding explains is a change, not noise
        known = (f.field == "fun" and expect.fun == "known") or (
            f.field.startswith("params.") and expect.params == "known"
        )
        moved, allowed = _moved(f, expect, plain)
        if not known and moved > allowed and moved > margin * max(f.spread, FLOOR * f.scale):
            problems.append(
                f"expect.{f.field} fails its check by {moved:.3g}, more than rounding explains ({margin:g} x spread "
                f"{f.spread:.3g}): the results changed; rewrite the value with --update"
            )
    return Calibration(path, tuple(samples), tuple(fields), tuple(problems), plain.machine)


def _moved(f: FieldSpread, expect: Any, plain: Sample) -> tuple[float, float]:
    """(|plain run - expected value|, what the current tolerance allows) for a
    field, at its worst entry."""
    atol, rtol = expect.tolerance(f.field)
    if f.field == "fun":
        if not isinstance(expect.fun, (int, float)):
            return 0.0, 0.0
        assert plain.fun is not None  # fields are measured only when every run ended with an f
        return abs(plain.fun - float(expect.fun)), atol + rtol * abs(float(expect.fun))
    name = f.field.split(".", 1)[1]
    if not isinstance(expect.params, Mapping):
        return 0.0, 0.0
    want = flat_values(expect.params[name])
    excess = np.abs(flat_values(plain.params.get(name)) - want) - (atol + rtol * np.abs(want))
    worst = int(np.argmax(excess))
    return float(abs(flat_values(plain.params.get(name))[worst] - want[worst])), float(atol + rtol * abs(want[worst]))


# ------------------------------------------------------------ running them
def _sample_or_error(
    path: str, overrides: Sequence[str], problems: str | None, variant: Variant, threads: int
) -> Sample | str:
    """:func:`run_sample`, with a config's error as its one-line text (the
    calibration goes on with the other configs)."""
    try:
        return run_sample(path, overrides, problems, variant, threads)
    except OptrunError as exc:
        return str(exc)


def collect(
    paths: Sequence[str],
    overrides: Sequence[str],
    problems: str | None,
    workers: int,
    on_sample: Callable[[str, Sample], None] = lambda path, sample: None,
) -> tuple[dict[str, list[Sample]], dict[str, str], str]:
    """Run every variant of every config. Returns (path -> samples, plain
    first; path -> the error that stopped a config; a note on variants left
    out). Variants that need their own environment (another BLAS kernel)
    run in fresh worker processes, one pool per environment (it must be
    set before NumPy loads); the others in this process with ``workers``
    1, else in a local pool. A signal stops the calibration before any
    file is written (StoppedBySignal)."""
    from optrun.core.machine import blas_threads
    from optrun.engine.signals import StoppedBySignal, signal_name

    threads = blas_threads()
    plan, note = variants(threads)
    samples: dict[str, list[Sample | None]] = {p: [None] * len(plan) for p in paths}
    errors: dict[str, str] = {}
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, variant in enumerate(plan):
        groups.setdefault(tuple(sorted(variant.env.items())), []).append(i)
    for env, members in groups.items():
        todo = [(path, i) for path in paths if path not in errors for i in members]
        executor = FreshPool(workers, dict(env)) if env else choose(workers)

        def sampled(k: int, value: Sample | str, todo: list[tuple[str, int]] = todo) -> None:
            path, i = todo[k]
            if isinstance(value, str):
                errors.setdefault(path, value)
            else:
                samples[path][i] = value
                on_sample(path, value)

        calls = [(path, tuple(overrides), problems, plan[i], threads) for path, i in todo]
        ended = run_many(executor, _sample_or_error, calls, sampled)
        if ended.signum is not None:
            raise StoppedBySignal(
                f"interrupted by {signal_name(ended.signum)} while calibrating; no config was changed", ended.signum
            )
    done = {p: [s for s in found if s is not None] for p, found in samples.items() if p not in errors}
    return done, errors, note


# ------------------------------------------------------- configs, calibrated
@dataclass(frozen=True)
class CalibrationResult:
    """One config's calibration, or why it could not be calibrated."""

    path: str
    calibration: Any = None  # optrun.engine.calibrate.Calibration, when the config could be calibrated
    error: str = ""  # a config error, or why there was nothing to calibrate
    written: bool = False

    @property
    def outcome(self) -> str:
        if self.error:
            return SKIP if self.error in SKIP_REASONS else ERROR
        return PASS if self.calibration.ok else FAIL


def calibrate_configs(
    paths: Sequence[Path],
    overrides: Sequence[str] = (),
    workers: int = 1,
    problems: str | None = None,
    margin: float | None = None,
    write: bool = True,
    on_sample: Any = None,
) -> tuple[list[CalibrationResult], str]:
    """Re-run every config with an expect: block under perturbations that
    stand in for another machine, and write the tolerances that cover them
    (see :mod:`optrun.engine.calibrate`). Returns the results and a note on the
    variants that could not be run here."""
    from optrun.config import load_config
    from optrun.config.plugins import load_user_problems
    from optrun.engine import calibrate

    margin = calibrate.MARGIN if margin is None else margin
    load_user_problems(problems)
    expects: dict[str, Any] = {}
    results: dict[str, CalibrationResult] = {}
    from optrun.config.bench import is_bench_suite

    for path in map(str, paths):
        if is_bench_suite(path):
            results[path] = CalibrationResult(path, error=BENCH_SUITE)
            continue
        try:
            config = load_config(path, overrides)
        except OptrunError as exc:
            results[path] = CalibrationResult(path, error=str(exc))
            continue
        if config.expect is None:
            results[path] = CalibrationResult(path, error=NO_EXPECT)
        else:
            expects[path] = config.expect
    samples, errors, note = calibrate.collect(
        list(expects), overrides, problems, workers, on_sample=on_sample or (lambda path, sample: None)
    )
    for path, expect in expects.items():
        if path in errors:
            results[path] = CalibrationResult(path, error=errors[path])
            continue
        found = calibrate.calibrate_samples(path, expect, samples[path], margin)
        written = False
        if write and found.ok:
            write_calibration(Path(path), found, margin)
            written = True
        results[path] = CalibrationResult(path, found, written=written)
    return [results[str(p)] for p in paths], note
