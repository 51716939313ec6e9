"""The compiled loop of the jax backend: runner.minimize's meaning, run in chunks.

:func:`minimize_compiled` runs a first-order method (an optimizer entry with
the ``compiled`` capability, :mod:`optrun.core.optimizers`) on a jax-traceable
flat objective. It gives the rows, stop rules, statuses, best point and
:class:`~optrun.core.stopping.Outcome` of :func:`optrun.core.runner.minimize`
(iteration 0 is the start, row k holds f after k steps), but computes the
iterations in chunks of ``length`` rows, each chunk one call of a jitted
``jax.lax.scan``:

    scan step k:  x_k = x_{k-1} + step_{k-1}            (the carry's x and step: make_chunk says why;
                                                          with bounds, projected: P(x_{k-1} + step_{k-1}))
                  f_k, g_k = value_and_grad(fun)(x_k)
                  d_k, state = direction.update(clip(g_k), state, x_k)
                  step_k = -step_size(k) * d_k
                  emit (f_k, |g_k|, x_k, g_k)

The host then hands the chunk's rows to the observers (in one call to an
observer with ``record_rows``, such as the trace writer; row by row to the
others), and applies
the stop rules in runner.minimize's order (divergence or non-finite,
``evaluated`` (max_iter 0), ``grad_tol``, ``f_tol``, interrupt, ``max_fev``, ``max_iter``, ``time_limit``): the same
rule functions runner.minimize applies (:mod:`optrun.core.stopping`), here to
the chunk's rows at once. When a rule
fires at row j the run ends there exactly as the Python loop ends: x is x_j,
the best point is the lowest f of rows 0..j, nfev = njev = j + 1 (as the Python
loop counts them: the rows past j that the chunk computed are thrown away and
not counted; so ``max_fev`` stops the run at row max_fev - 1, as it stops gd's
Python loop). Memory is one chunk of rows, whatever the number of iterations.

What differs from the Python loop, by construction:

* ``t`` (the trace's ``time_s``, and the ``time_limit`` rule): a chunk's rows
  are computed in one call, so each row gets the chunk's elapsed time spread
  evenly over its rows (row i of L: the chunk's start + (i + 1)/L of its
  duration). A ``time_limit`` can thus be overrun by up to one chunk.
* A signal is seen at the next row the host streams: a signal that arrives
  while a chunk computes ends the run at that chunk's first row.
* Without observers, rows carry no x and g (stacking them costs more than a
  small problem's step): when a rule fires before a chunk's last row, the
  chunk runs again from its start with rows that carry x (a second compiled
  program: the same arithmetic, equal to rounding) to give the stop row's x.
  The interrupt flag is then read once per chunk (no observer can set it
  between rows): a signal ends the run at the chunk's first row.
* jax compiles the chunk on its first call (as it compiles the Python loop's
  jitted value_and_grad on its first), so the first chunk's rows and
  ``wall_time_s`` include the compile time; the jitted chunk is kept for the
  next run with the same objective, optimizer and options (:func:`chunk_for`).
* f and the gradient are jax's float64 arithmetic inside one compiled program,
  and XLA may fuse a direction's multiply-adds (momentum, Adam's moments) into
  single roundings: equal to the Python loop on the jax backend to rounding
  (the tests ask for 1e-12 relative over the first 100 rows). gd's steps round
  as the Python loop's: the rounding-sensitive mlp-gd config agrees to the bit.

The parts, each a module: the jitted chunk, built and kept
(:mod:`optrun.core.compiled.chunk`); the host side of a run, which streams
the rows and applies the stop rules of :mod:`optrun.core.stopping`, the
Python loop's own (:mod:`optrun.core.compiled.track`); and a batch of starts
at once, ``jax.vmap`` of the chunk, each member with its own host side, its
own step sizes and its own numeric options (:mod:`optrun.core.compiled.batch`,
for ``sweep --vectorize`` over seeds and option grids).

Bounds (``oracle.feasible.box``, for a method whose entry declares
``bounds="projected"``): each new iterate is projected onto the box inside
the chunk (optax's ``projection_box``, a clip, exact as the Python loop's
``Box.project``), each row's grad_norm is the projected gradient's
``|P(x - g) - x|`` (what grad_tol measures, as in the Python loop), and the
Outcome's ``best_x`` is the best row's x (every iterate is in the box, so the
best row is the best feasible one; without observers it costs at most one
more replay of a chunk). Constraints are refused (:func:`chunk.box_of`): only
SciPy's methods take them, and the compiled loop never ignores them.

The step-size schedule stays defined once (:mod:`optrun.core.optimizers.schedules`,
host Python functions of t): the host evaluates it for the chunk's t values and
feeds them to the scan as an array. ``clip_grad_norm`` is written in jax.numpy.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from optrun.core.compiled.batch import minimize_compiled_batch
from optrun.core.compiled.chunk import (
    CHUNK,
    batch_problem,
    box_of,
    chunk_for,
    chunk_length,
    prepare_chunk,
    step_sizes,
    unpack,
)
from optrun.core.compiled.track import Track
from optrun.core.optimizers import OptimizerEntry
from optrun.core.oracle import Oracle
from optrun.core.runner import Observer, SignalFlag
from optrun.core.stopping import Outcome, StopRules

# the compiled loop's API; its parts are the package's modules (chunk, track, batch)
__all__ = ["batch_problem", "can_compile", "minimize_compiled", "minimize_compiled_batch", "supports"]


def supports(entry: OptimizerEntry) -> bool:
    """Whether the compiled loop can run this optimizer (its entry declares the capability)."""
    return entry.compiled is not None


def can_compile(entry: OptimizerEntry, backend: Any) -> bool:
    """Whether a run takes the compiled loop: the optimizer has a compiled
    direction and the Oracle's backend is jax (its objective is traceable).
    Otherwise runner.minimize, the Python loop, runs it. Bounds do not change
    the answer (the compiled loop projects the steps, as the Python loop
    does); constraints, which no method with a compiled direction takes
    (prepare refuses them), make :func:`minimize_compiled` raise a
    ConfigError rather than run without them."""
    return supports(entry) and getattr(backend, "name", None) == "jax"


def minimize_compiled(
    oracle: Oracle,
    x0: np.ndarray,
    entry: OptimizerEntry,
    options: Any,
    stop: StopRules,
    observers: Sequence[Observer] = (),
    clock: Callable[[], float] = time.perf_counter,
    interrupt: SignalFlag | None = None,
    chunk: int = CHUNK,
) -> Outcome:
    """runner.minimize for an optimizer entry with the ``compiled`` capability,
    on ``oracle.objective`` (the flat objective, jax-traceable), in compiled chunks
    of at most ``chunk`` rows (module docstring). Same arguments as
    runner.minimize, except the optimizer: its ``entry`` and validated
    ``options`` (the compiled loop builds the direction, the schedule and the
    clipping from them). Returns the same :class:`Outcome`. With bounds on
    the oracle (``oracle.feasible``) the steps are projected (module
    docstring); constraints raise a ConfigError (:func:`chunk.box_of`)."""
    import jax.numpy as jnp

    x = np.array(x0, dtype=float)
    points = bool(observers)
    box = box_of(oracle, entry)  # bounds: projected steps (constraints: refused, never ignored)
    # counts from the oracle's, as minimize does; with bounds or constraints the best (feasible) x is kept, as there
    track = Track(x, stop, observers, interrupt, base=oracle.nfev, best_x=getattr(oracle, "feasible", None) is not None)
    length = chunk_length(track.last_row, x.size, points, chunk)
    run_chunk, hyper, state, failure = prepare_chunk(oracle, x, entry, options, points, box=box)
    if failure is not None:
        track.fail(failure[0], **failure[1])

    start = clock()
    carry = (jnp.asarray(x), jnp.full_like(jnp.asarray(x), -0.0), state) if failure is None else None
    try:
        while not track.reason:
            sizes, shown = step_sizes(options, track.k0, length)
            c0 = clock()
            try:
                before = carry
                carry, packed = run_chunk(carry, sizes, hyper)
                # writable copies, as the Oracle's gradients are on both backends (jax's own are read-only)
                fs, gns, xs, gs = unpack(packed)
            except Exception as exc:  # compiling or running the chunk (the checks above passed)
                track.fail("failed", where="the compiled loop", at=track.k0, error=f"{type(exc).__name__}: {exc}")
                break
            oracle.nfev += length  # the chunk's evaluations (set to the rows used when the run ends)
            oracle.njev += length
            c1 = clock()
            ts = (c0 - start) + (c1 - c0) * (np.arange(1, length + 1) / length)

            def x_at(row: int, before=before, carry=carry, sizes=sizes) -> np.ndarray:
                if row == length - 1:  # the carry holds the last row's x
                    return np.asarray(carry[0])
                # the chunk again from its start, with rows that carry x
                _, with_points = chunk_for(oracle.objective, entry, options, points=True, box=box)
                return unpack(with_points(before, sizes, hyper)[1]).x[row]

            track.take(fs, gns, xs, gs, ts, shown, x_at)
    except KeyboardInterrupt as exc:  # a second signal (the flag raises when armed)
        track.interrupted(getattr(exc, "signum", signal.SIGINT))
    finally:
        if track.streamed:
            oracle.nfev = oracle.njev = track.nfev  # as runner.minimize counts: one evaluation per row used
    return track.outcome(clock() - start)
