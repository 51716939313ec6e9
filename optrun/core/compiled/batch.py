"""A batch of compiled runs at once: ``jax.vmap`` of the compiled chunk, for ``sweep --vectorize``.

:func:`minimize_compiled_batch` runs one objective and one first-order method
from many starts together: each chunk is one call of the vmapped compiled
chunk (:mod:`optrun.core.compiled.chunk`) over the batch's starts, step sizes
and differing numeric options (with bounds: the members' one box, each
member's steps projected onto it), and each member keeps its own host side
(:class:`~optrun.core.compiled.track.Track`), so each member's rows and
Outcome are those its own run (:func:`optrun.core.compiled.minimize_compiled`)
would give.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from optrun.core.compiled.chunk import CHUNK, box_of, chunk_length, prepare_chunk, step_sizes, unpack
from optrun.core.compiled.track import Track
from optrun.core.optimizers import ContractError, OptimizerEntry
from optrun.core.oracle import Oracle
from optrun.core.runner import Observer, SignalFlag
from optrun.core.stopping import Outcome, StopRules


def minimize_compiled_batch(
    oracle: Oracle,
    x0s: np.ndarray,
    entry: OptimizerEntry,
    options: Any,
    stop: StopRules,
    observers: Sequence[Sequence[Observer]] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    interrupt: SignalFlag | None = None,
    chunk: int = CHUNK,
) -> list[Outcome]:
    """minimize_compiled for a batch of starts ``x0s`` (one per row) with the
    same objective and optimizer (``sweep --vectorize``): ``options`` is one
    validated options object for every member, or a sequence of one per
    member that may differ in step_size and numeric options
    (:func:`batch_problem` says whether they can). Each chunk is one
    ``jax.vmap`` of the compiled chunk over the batch (the starts, the step
    sizes and the differing options), and each member has its own host side
    (:class:`Track`: its observers, ``observers[i]``, its stop rules, its best
    point), so each member's rows and Outcome mean what its own run's mean. A
    member that has ended is carried along, its rows ignored, until every
    member has. A member's ``wall_time_s`` is the batch's elapsed time when
    its last chunk was done; the oracle's counts are left as they are (each
    Outcome has its member's). With bounds on the oracle (one box for the
    whole batch) every member's steps are projected onto it, as in
    :func:`optrun.core.compiled.minimize_compiled`."""
    import jax.numpy as jnp

    xs0 = np.array(x0s, dtype=float)
    members = xs0.shape[0]
    each = list(options) if isinstance(options, Sequence) else [options] * members
    if len(each) != members:
        raise ContractError(f"{len(each)} options for a batch of {members} starts")
    observers = observers if observers is not None else [()] * members
    box = box_of(oracle, entry)  # one box for every member (constraints: refused)
    keep = getattr(oracle, "feasible", None) is not None  # the best (feasible) x too, as minimize_compiled keeps it
    tracks = [Track(xs0[i], stop, observers[i], interrupt, base=0, best_x=keep) for i in range(members)]
    length = chunk_length(tracks[0].last_row, xs0[0].size * members, True, chunk)
    run_chunk, hyper, state, failure = prepare_chunk(oracle, xs0, entry, each[0], points=True, batch=each, box=box)
    if failure is not None:
        for track in tracks:
            track.fail(failure[0], **failure[1])

    start = clock()
    carry = (jnp.asarray(xs0), jnp.full_like(jnp.asarray(xs0), -0.0), state) if failure is None else None
    ended: dict[int, float] = {}
    try:
        while not all(track.reason for track in tracks):
            k0 = next(track.k0 for track in tracks if not track.reason)  # running members are at the same row
            steps = [step_sizes(opts, k0, length) for opts in each]
            sizes = np.stack([sizes for sizes, _ in steps])
            c0 = clock()
            try:
                carry, packed = run_chunk(carry, sizes, hyper)
                fs, gns, xs, gs = unpack(packed)  # writable, as in minimize_compiled
            except Exception as exc:
                for track in tracks:
                    if not track.reason:
                        track.fail("failed", where="the compiled loop", at=k0, error=f"{type(exc).__name__}: {exc}")
                break
            c1 = clock()
            ts = (c0 - start) + (c1 - c0) * (np.arange(1, length + 1) / length)
            for i, track in enumerate(tracks):
                if not track.reason:
                    track.take(fs[i], gns[i], xs[i], gs[i], ts, steps[i][1], x_at=None)
                    if track.reason:
                        ended[i] = clock() - start
    except KeyboardInterrupt as exc:
        for track in tracks:
            if not track.reason:
                track.interrupted(getattr(exc, "signum", signal.SIGINT))
    now = clock() - start
    return [track.outcome(ended.get(i, now)) for i, track in enumerate(tracks)]
