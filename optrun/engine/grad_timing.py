"""Forward against reverse mode, timed as the input grows (``optrun grad --timing``).

For each size, the config's problem is rebuilt with its size option
(``dim``, or else ``n``) set to that size, at the config's start for that
size, and its full derivative is built twice:

* reverse mode: one VJP per output (one ``grad`` call, 1 pass, for a scalar f);
* forward mode: one JVP per input direction (n passes).

Each mode is timed with ``time.perf_counter``, the best of up to
:data:`REPEATS` repeats, within :data:`MAX_SECONDS` in all (a note says
which sizes were left out when the budget ran out). On the jax backend both
modes are compiled with ``jax.jit``: the first call (one pass: trace,
compile and run) is ``compile_seconds``, and ``seconds`` is the later,
compiled calls. Sizes beyond :data:`MAX_FORWARD` inputs are refused: forward
mode would take that many passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optrun.config import Config, load_config
from optrun.core.errors import ConfigError

DEFAULT_SIZES = (10, 100, 1000)
MAX_FORWARD = 5000  # inputs at most: forward mode takes one pass per input
MAX_SECONDS = 5.0  # the measuring budget, all sizes together
REPEATS = 3  # repeats per mode at most (the best is kept)
SIZE_OPTIONS = ("dim", "n")  # the problem option that sets the input size, the first found


@dataclass(frozen=True)
class ModeTiming:
    """One mode's full derivative at one size."""

    mode: str  # "forward" (JVPs) or "reverse" (VJPs)
    passes: int
    seconds: float  # the best repeat; on jax, of the compiled function
    repeats: int
    compile_seconds: float | None = None  # jax: the first call (one pass, compiled then)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"passes": self.passes, "seconds": self.seconds, "repeats": self.repeats}
        if self.compile_seconds is not None:
            data["compile_seconds"], data["run_seconds"] = self.compile_seconds, self.seconds
        return data


@dataclass(frozen=True)
class SizeTiming:
    """Both modes at one size: ``inputs`` free entries, ``outputs`` values of f."""

    size: int
    inputs: int
    outputs: int
    forward: ModeTiming
    reverse: ModeTiming

    @property
    def ratio(self) -> float:
        """Forward seconds over reverse seconds."""
        return self.forward.seconds / self.reverse.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "forward": self.forward.to_json(),
            "reverse": self.reverse.to_json(),
            "ratio": self.ratio,
        }


@dataclass(frozen=True)
class Timing:
    """What ``--timing`` measured: one row per size, and the sizes left out."""

    option: str  # the problem option set to each size
    backend: str
    rows: tuple[SizeTiming, ...]
    notes: tuple[str, ...] = ()


def parse_sizes(text: str | None) -> tuple[int, ...]:
    """``10,100,1000`` as sizes (default :data:`DEFAULT_SIZES`); a one-line ConfigError otherwise."""
    if text is None:
        return DEFAULT_SIZES
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(not 1 <= s <= MAX_FORWARD for s in sizes):
        raise ConfigError(
            f"{text!r} must be sizes from 1 to {MAX_FORWARD} separated by commas (e.g. 10,100,1000)",
            source="--timing-sizes",
        )
    return sizes


def size_option(cfg: Config) -> str:
    """The problem option that sets the input size; a one-line ConfigError naming the options there are."""
    fields = type(cfg.problem.options).model_fields
    for name in SIZE_OPTIONS:
        if name in fields:
            return name
    have = ", ".join(fields) or "none"
    raise ConfigError(
        f"--timing needs a problem with a size option (dim or n); '{cfg.problem.name}' has options: {have}",
        path="problem",
    )


def measure(cfg: Config, sizes: Sequence[int], max_seconds: float = MAX_SECONDS) -> Timing:
    """Both modes' full derivative at each size (see the module doc)."""
    from optrun.core.backend import get_backend

    option = size_option(cfg)
    backend = get_backend(cfg.backend)
    deadline = time.perf_counter() + max_seconds
    rows: list[SizeTiming] = []
    notes: list[str] = []
    for i, size in enumerate(sizes):
        if rows and time.perf_counter() > deadline:
            left = ", ".join(map(str, sizes[i:]))
            notes.append(f"timing cut at {max_seconds:g} s: sizes {left} not measured")
            break
        rows.append(_one_size(cfg, option, size, backend, deadline))
    return Timing(option=option, backend=backend.name, rows=tuple(rows), notes=tuple(notes))


def _one_size(cfg: Config, option: str, size: int, backend: Any, deadline: float) -> SizeTiming:
    from optrun.engine.grad import restrict_to_free
    from optrun.engine.prepare import build_start

    data = cfg.resolved()
    data["problem"] = {**data["problem"], option: size}
    try:
        sized = load_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{option}={size}: {exc.message}", path=f"problem.{option}") from None
    problem, params0, fixed = build_start(sized, backend)
    free, start = restrict_to_free(problem, params0, fixed)
    flat, unflatten = backend.ravel(start)
    x = np.asarray(flat, dtype=float)
    if free.vector is not None:
        vector = free.vector

        def f(v: Any) -> Any:
            return vector(unflatten(v))
    else:
        objective = free.scalar_objective()

        def f(v: Any) -> Any:
            return objective(unflatten(v))

    outputs = int(np.size(f(x)))
    scalar = free.vector is None
    jvp_pass = backend.jit(lambda x, v: backend.jvp(f)(x)(v)[1])
    if scalar:  # one grad call: the one reverse pass of a scalar f (its direction unused)
        vjp_pass = backend.jit(lambda x, _: backend.grad(f)(x))
    else:
        vjp_pass = backend.jit(lambda x, u: backend.vjp(f)(x)[0](u))
    compiled = backend.name == "jax"
    forward = _time_mode("forward", jvp_pass, x, len(x), compiled, deadline)
    reverse = _time_mode("reverse", vjp_pass, x, outputs, compiled, deadline, scalar=scalar)
    return SizeTiming(size=size, inputs=len(x), outputs=outputs, forward=forward, reverse=reverse)


def _time_mode(
    mode: str, one_pass: Callable, x: np.ndarray, passes: int, compiled: bool, deadline: float, scalar: bool = False
) -> ModeTiming:
    """The best of up to REPEATS full derivatives, ``passes`` calls of
    ``one_pass(x, unit vector)`` each; on jax the first call, timed alone, is the compile time."""
    width = len(x) if mode == "forward" else passes

    def unit(i: int) -> np.ndarray:
        if scalar:
            return np.ones(())
        e = np.zeros(width)
        e[i] = 1.0
        return e

    def full() -> None:
        for i in range(passes):
            np.asarray(one_pass(x, unit(i)))  # np.asarray waits for jax's asynchronous result

    compile_seconds = None
    if compiled:
        start = time.perf_counter()
        np.asarray(one_pass(x, unit(0)))
        compile_seconds = time.perf_counter() - start
    best, repeats = float("inf"), 0
    while repeats < REPEATS and (repeats == 0 or time.perf_counter() < deadline):
        start = time.perf_counter()
        full()
        best, repeats = min(best, time.perf_counter() - start), repeats + 1
    return ModeTiming(mode=mode, passes=passes, seconds=best, repeats=repeats, compile_seconds=compile_seconds)


def measure_stopping(cfg: Config, sizes: Sequence[int], flag: Any = None) -> Timing:
    """:func:`measure` for ``optrun grad``: a signal stops it at once
    (StoppedBySignal, nothing recorded), an objective that raises is one line
    (:class:`~optrun.engine.grad.ObjectiveError`)."""
    from optrun.core.errors import OptrunError
    from optrun.engine.grad import ObjectiveError
    from optrun.engine.signals import StoppedBySignal, armed, signal_name

    try:
        with armed(flag, at_once=True):
            return measure(cfg, sizes)
    except KeyboardInterrupt:
        if flag is None or flag.signum is None:
            raise
        raise StoppedBySignal(f"interrupted by {signal_name(flag.signum)}; nothing was recorded", flag.signum) from None
    except OptrunError:
        raise
    except Exception as exc:  # the objective's own error at some size
        text = " ".join(str(exc).split())[:200]
        raise ObjectiveError(
            f"the objective raised {type(exc).__name__}" + (f": {text}" if text else "") + " while timed",
            path="problem",
        ) from None


def record(timing: Timing, run_dir: Any, name: str, plots: bool, fmt: str = "png") -> tuple[list[Any], list[str]]:
    """``timing.json`` in ``run_dir`` and, with ``plots``, ``timing.<fmt>``;
    returns the plots written and a warning if the plot failed."""
    from optrun.core.outputs import json_safe, write_json_atomic

    write_json_atomic(run_dir / "timing.json", json_safe(to_json(timing)))
    if not plots:
        return [], []
    from optrun.plots.grad import timing_plot

    out = run_dir / f"timing.{fmt}"
    try:
        return [timing_plot(timing, out, name)], []
    except Exception as exc:  # the numbers are in timing.json all the same
        return [], [f"{out.name} not drawn: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"]


def to_json(timing: Timing) -> dict[str, Any]:
    """``timing.json``; its ``timing`` list is also in ``optrun grad --timing --json``."""
    return {
        "timing_option": timing.option,
        "timing_backend": timing.backend,
        "timing": [row.to_json() for row in timing.rows],
        **({"timing_notes": list(timing.notes)} if timing.notes else {}),
    }
