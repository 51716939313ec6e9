"""The compiled loop of the jax backend: runner.minimize's meaning, run in chunks.

:func:`minimize_compiled` runs a first-order method (an optimizer entry with
the ``compiled`` capability, :mod:`optrun.core.optimizers`) on a jax-traceable
flat objective. It gives the rows, stop rules, statuses, best point and
:class:`~optrun.core.runner.Outcome` of :func:`optrun.core.runner.minimize`
(iteration 0 is the start, row k holds f after k steps), but computes the
iterations in chunks of ``length`` rows, each chunk one call of a jitted
``jax.lax.scan``:

    scan step k:  x_k = x_{k-1} + step_{k-1}            (the carry's x and step: make_chunk says why)
                  f_k, g_k = value_and_grad(fun)(x_k)
                  d_k, state = direction.update(clip(g_k), state, x_k)
                  step_k = -step_size(k) * d_k
                  emit (f_k, |g_k|, x_k, g_k)

The host then streams the chunk's rows to the observers, in order, and applies
the stop rules row by row in runner.minimize's order (divergence or non-finite,
``grad_tol``, ``f_tol``, interrupt, ``max_iter``, ``time_limit``). When a rule
fires at row j the run ends there exactly as the Python loop ends: x is x_j,
the best point is the lowest f of rows 0..j, nfev = njev = j + 1 (as the Python
loop counts them: the rows past j that the chunk computed are thrown away and
not counted). Memory is one chunk of rows, whatever the number of iterations.

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

:func:`minimize_compiled_batch` runs a batch of starts at once (``jax.vmap``
of the chunk), each member with its own host side (:class:`Track`), its own
step sizes and its own numeric options (carried as arrays), for ``sweep
--vectorize`` over seeds and option grids.

The step-size schedule stays defined once (:mod:`optrun.core.optimizers.schedules`,
host Python functions of t): the host evaluates it for the chunk's t values and
feeds them to the scan as an array. ``clip_grad_norm`` is written in jax.numpy.
"""

from __future__ import annotations

import math
import signal
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from optrun.core.optimizers import ContractError, OptimizerEntry
from optrun.core.optimizers.schedules import ScheduleOptions, as_schedule
from optrun.core.runner import TERMINATION, Observer, Oracle, Outcome, SignalFlag, StopRules, termination_message

CHUNK = 2048  # rows per compiled call, at most (a call costs tens of microseconds: many rows amortize it)
WORK = (
    2**20
)  # at most this many rows x entries per chunk, so a large problem's chunk stays short (seconds, not minutes)
ROW_BYTES = 16 * 2**20  # at most this many bytes of x and g rows per chunk, when observers want them


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)  # float64, as the jax backend computes (and NumPy, autograd)
    return jax


def supports(entry: OptimizerEntry) -> bool:
    """Whether the compiled loop can run this optimizer (its entry declares the capability)."""
    return entry.compiled is not None


def can_compile(entry: OptimizerEntry, backend: Any) -> bool:
    """Whether a run takes the compiled loop: the optimizer has a compiled
    direction and the Oracle's backend is jax (its objective is traceable).
    Otherwise runner.minimize, the Python loop, runs it."""
    return supports(entry) and getattr(backend, "name", None) == "jax"


def chunk_length(max_iter: int, n: int, points: bool, chunk: int = CHUNK) -> int:
    """Rows per chunk: at most ``chunk``, at most ``WORK / n`` (at least 16)
    and, when rows carry x and g (``points``), at most ``ROW_BYTES`` of them;
    within those, the run's ``max_iter + 1`` rows split into equal chunks, so
    the last chunk computes few rows past max_iter (a 300-row run is one chunk
    of 300)."""
    cap = min(chunk, max(16, WORK // max(1, n)))
    if points:
        cap = min(cap, ROW_BYTES // (16 * max(1, n)))
    cap = max(1, cap)
    rows = max(0, int(max_iter)) + 1
    chunks = -(-rows // cap)
    return -(-rows // chunks)


class Rows(NamedTuple):
    """What one scan step emits: row k of the trace, before the host adds t and the counts."""

    f: Any  # f(x_k)
    grad_norm: Any  # |g_k| (2-norm, before clipping)
    x: Any = None  # x_k, only when observers want the rows (stacking x costs more than a small problem's step)
    g: Any = None  # g_k (before clipping), likewise


def make_chunk(fun: Callable, direction_of: Callable, points: bool) -> Callable:
    """The jitted chunk ``(carry, step_sizes, hyper) -> (carry, Rows)``: one
    scan step per entry of ``step_sizes`` (the step size of that row's update).

    The carry is ``(x, step, state)``: the previous row's x, the step taken
    from it and the direction's state; a scan step first takes that step,
    ``x_k = x + step``, so the product ``-step_size * d`` and the sum are never
    in one fused kernel (XLA would make them one multiply-add, rounded once,
    where the Python loop rounds the step, then the sum: on the chaotic
    mlp-gd config that moved f by 1e-4 relative by row 50). The first carry is
    ``(x0, -0.0, state0)``: x0 + -0.0 is x0 exactly. ``points``: emit x_k and
    g_k in each row (for observers, and to find the x of a stop row).

    ``direction_of(hyper) -> (direction, clip)``: the optax
    GradientTransformation (the entry's ``compiled``) and the gradient clipping
    (rescale to at most that 2-norm before the direction sees it, as the
    ``clip_grad_norm`` transform does; None: off), built from ``hyper``, the
    options given as arrays (:func:`varying_options`; empty for one run, whose
    options are constants of the program)."""
    jax = _jax()
    import jax.numpy as jnp

    value_and_grad = jax.value_and_grad(fun)

    def run(carry, step_sizes, hyper):
        direction, clip = direction_of(hyper)

        def scan_step(carry, step_size):
            x, step, state = carry
            x = x + step  # x_k
            f, g = value_and_grad(x)
            grad_norm = jnp.sqrt(g @ g)
            seen = g if clip is None else jnp.where(grad_norm > clip, g * (clip / grad_norm), g)
            d, new_state = direction.update(seen, state, x)
            return (x, -step_size * d, new_state), Rows(f, grad_norm, x, g) if points else Rows(f, grad_norm)

        return jax.lax.scan(scan_step, carry, step_sizes)

    return jax.jit(run)


def direction_builder(entry: OptimizerEntry, options: Any) -> Callable[[dict[str, Any]], tuple[Any, Any]]:
    """``hyper -> (direction, clip)`` for make_chunk: the entry's compiled
    direction from ``options`` with the fields in ``hyper`` replaced (by jax
    arrays, in a batch whose members differ in them; pydantic's model_copy
    does not validate, so a traced value passes)."""

    def direction_of(hyper: dict[str, Any]) -> tuple[Any, Any]:
        opts = options.model_copy(update=hyper) if hyper else options
        clip = opts.clip_grad_norm if "clip_grad_norm" in entry.transforms else None
        return entry.compiled(opts), clip

    return direction_of


def varying_options(options: Sequence[Any]) -> tuple[str, ...]:
    """The option fields, step_size aside (the host feeds step sizes as an
    array), in which a batch's members differ: the batch carries them as
    arrays, one value per member."""
    first = options[0]
    return tuple(
        name
        for name in type(first).model_fields
        if name != "step_size" and any(getattr(o, name) != getattr(first, name) for o in options[1:])
    )


def batch_problem(options: Sequence[Any]) -> str:
    """Why members with these options cannot be one batch ('' when they
    can): they may differ in step_size (any schedule) and in numeric options;
    an option set in some members and not in others (clip_grad_norm) changes
    the program."""
    for name in varying_options(options):
        values = [getattr(o, name) for o in options]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            shown = ", ".join(sorted({repr(v) for v in values}))
            return (
                f"optimizer.{name}: --vectorize runs differ only in numeric option values, and this option is "
                f"{shown} across the runs (set it to a number in every run, or leave it out of the sweep)"
            )
    return ""


_CHUNKS: OrderedDict[tuple, tuple[Callable, Callable]] = (
    OrderedDict()
)  # the last few (direction_of, jitted chunk), reused


def chunk_for(
    fun: Callable, entry: OptimizerEntry, options: Any, points: bool, batch: bool = False, varying: tuple[str, ...] = ()
) -> tuple[Callable, Callable]:
    """``direction_of`` (:func:`direction_builder`) and the jitted chunk of
    (objective, optimizer, options, points), built once and kept for the
    next run with the same ones (a repeated run, a benchmark, a sweep over
    step sizes): jax compiles a jitted function once per shape and length.
    ``batch``: the chunk mapped over a batch of carries, step sizes and the
    ``varying`` options (``jax.vmap``). The step size is fed as an array,
    so it is not part of what is compiled."""
    jax = _jax()
    key = (
        fun,
        entry.compiled,
        type(options),
        options.model_dump_json(exclude={"step_size", *varying}),
        points,
        batch,
        varying,
    )
    if key in _CHUNKS:
        _CHUNKS.move_to_end(key)
        return _CHUNKS[key]
    direction_of = direction_builder(entry, options)
    run = make_chunk(fun, direction_of, points)
    built = _CHUNKS[key] = (direction_of, jax.jit(jax.vmap(run)) if batch else run)
    if len(_CHUNKS) > 16:
        _CHUNKS.popitem(last=False)
    return built


class Stop(NamedTuple):
    """The first row of a chunk where a rule fires, or -1."""

    row: int
    reason: str
    change: float = math.nan  # f_tol's relative change


def hard_stop(f: np.ndarray, grad_norm: np.ndarray, k0: int, prev_f: float, stop: StopRules) -> Stop:
    """The first row where a rule that outranks an interrupt fires
    (divergence or non-finite, then grad_tol, then f_tol), as runner.minimize
    tests them; ``prev_f``: the row before the chunk's first (unused at k0 = 0)."""
    with np.errstate(all="ignore"):
        diverged = ~((np.abs(f) <= stop.divergence) & (grad_norm <= math.inf))
        small_grad = grad_norm <= (-1.0 if stop.grad_tol is None else stop.grad_tol)
        fired = diverged | small_grad
        change = None
        if stop.f_tol is not None:
            before = np.concatenate(([prev_f], f[:-1]))
            scale = np.maximum(1.0, np.abs(f))
            close = np.abs(f - before) <= stop.f_tol * scale
            if k0 == 0:
                close[0] = False  # the start has no change
            change = np.abs(f - before) / scale
            fired = fired | close
    hits = np.flatnonzero(fired)
    if hits.size == 0:
        return Stop(-1, "")
    j = int(hits[0])
    if diverged[j]:
        fj, gj = float(f[j]), float(grad_norm[j])
        return Stop(
            j, "nonfinite_f" if not math.isfinite(fj) else ("nonfinite_grad" if not math.isfinite(gj) else "bound")
        )
    if small_grad[j]:
        return Stop(j, "grad_tol")
    return Stop(j, "f_tol", float(change[j]))


def soft_stop(t: np.ndarray, k0: int, stop: StopRules) -> Stop:
    """The first row where max_iter or time_limit fires (an interrupt outranks them)."""
    rows = len(t)
    j_iter = stop.max_iter - k0 if stop.max_iter - k0 < rows else -1
    j_time = -1
    if stop.time_limit is not None:
        hits = np.flatnonzero(t >= stop.time_limit)
        j_time = int(hits[0]) if hits.size else -1
    if j_iter >= 0 and (j_time < 0 or j_iter <= j_time):
        return Stop(max(j_iter, 0), "max_iter")
    return Stop(j_time, "time_limit" if j_time >= 0 else "")


class Track:
    """One run's host side of the compiled loop: it takes the rows of each
    chunk in turn, hands them to the run's observers, applies the stop rules
    in runner.minimize's order (an observer may set the interrupt flag, so
    with observers the flag is read after every row), keeps the best point,
    and builds the run's :class:`Outcome` when it has ended."""

    def __init__(
        self, x0: np.ndarray, stop: StopRules, observers: Sequence[Observer], interrupt: SignalFlag | None, base: int
    ):
        self.stop, self.interrupt, self.base = stop, interrupt, base
        self.record = [obs.record for obs in observers]
        self.k0 = 0  # the next chunk's first row
        self.prev_f = math.nan  # f of the row before it
        self.k, self.f, self.grad_norm, self.x = 0, math.nan, math.nan, np.array(x0, dtype=float)
        self.best_fun, self.best_iter = math.inf, -1
        self.reason, self.signum = "", None
        self.details: dict[str, Any] = {}
        self.streamed = False  # whether any row reached the host

    def fail(self, reason: str, **details: Any) -> None:
        self.reason, self.details = reason, details

    def take(
        self,
        fs: np.ndarray,
        gns: np.ndarray,
        xs: np.ndarray | None,
        gs: np.ndarray | None,
        ts: np.ndarray,
        shown: list[float],
        x_at: Callable[[int], np.ndarray],
    ) -> None:
        """The run's next chunk of rows (rows k0, k0 + 1, ...): f, |g|, x and g
        (None: rows without points, then ``x_at(row)`` gives the stop row's x),
        times and the step size each row shows."""
        stop, interrupt, k0 = self.stop, self.interrupt, self.k0
        length = len(fs)
        hard, soft = hard_stop(fs, gns, k0, self.prev_f, stop), soft_stop(ts, k0, stop)
        last = min((j for j in (hard.row, soft.row) if j >= 0), default=length - 1)
        reason = ""
        if self.record:  # row by row: the observers, then the rules in minimize's order (an observer may set the flag)
            f_list, gn_list, t_list = fs.tolist(), gns.tolist(), ts.tolist()
            base = self.base
            for i in range(last + 1):
                kk = k0 + i
                for rec in self.record:
                    rec(kk, f_list[i], gn_list[i], shown[i], t_list[i], base + kk + 1, base + kk + 1, xs[i], gs[i])
                if i != hard.row and interrupt is not None and interrupt.signum is not None:
                    reason, self.signum, last = "interrupted", interrupt.signum, i
                    break
        elif interrupt is not None and interrupt.signum is not None and hard.row != 0:
            # no observer can set the flag: a signal arrived while the chunk computed, before its first row
            reason, self.signum, last = "interrupted", interrupt.signum, 0
        if not reason and last == hard.row:
            reason = hard.reason
            if reason == "f_tol":
                self.details["change"] = hard.change
        elif not reason and last == soft.row:
            reason = soft.reason
        # rows 0..last of this chunk are the run's
        self.streamed = True
        self.k, self.f, self.grad_norm = k0 + last, float(fs[last]), float(gns[last])
        if xs is not None:
            self.x = xs[last]
        elif reason:
            self.x = x_at(last)
        masked = np.where(np.isnan(fs[: last + 1]), math.inf, fs[: last + 1])
        i_best = int(np.argmin(masked))  # the first lowest f, as minimize's `f < best_fun`
        if masked[i_best] < self.best_fun:
            self.best_fun, self.best_iter = float(masked[i_best]), k0 + i_best
        self.k0, self.prev_f = self.k + 1, self.f
        self.reason = reason

    def interrupted(self, signum: int) -> None:
        self.reason, self.signum = "interrupted", signum

    @property
    def nfev(self) -> int:
        return self.base + self.k + 1 if self.streamed else self.base  # one evaluation per row used

    def outcome(self, wall_time_s: float) -> Outcome:
        reason, stop = self.reason, self.stop
        message = termination_message(reason, stop, self.f, self.grad_norm, self.k, self.signum, **self.details)
        return Outcome(
            status=TERMINATION[reason][0],
            reason=reason,
            message=message,
            x=np.array(self.x, dtype=float),
            fun=self.f,
            grad_norm=self.grad_norm,
            nit=self.k,
            nfev=self.nfev,
            njev=self.nfev,
            best_fun=self.best_fun,
            best_iter=self.best_iter,
            wall_time_s=wall_time_s,
            signum=int(self.signum) if self.signum else None,
        )


def _prepare(
    oracle: Oracle, x: np.ndarray, entry: OptimizerEntry, options: Any, points: bool, batch: Sequence[Any] | None = None
) -> tuple[Callable, Any, Any, tuple[str, dict[str, Any]] | None]:
    """Check that the objective traces to a number and the direction keeps x's
    shape (jax.eval_shape: no computation), so either is blamed as
    runner.minimize blames it; returns the jitted chunk, the options it takes
    as arrays (``hyper``: {} for one run), the direction's first state and
    None, or (reason, details) of a failure. ``batch``: each member's
    options (x holds one start per row). jax compiles the chunk on its first call."""
    jax = _jax()
    import jax.numpy as jnp

    if entry.compiled is None:
        raise ContractError(f"optimizer '{entry.name}' has no compiled direction (its entry's 'compiled' capability)")
    label = f"optimizer '{entry.name}'"
    one = jax.ShapeDtypeStruct(x.shape[1:] if batch else x.shape, x.dtype)
    try:
        where = "the objective"
        out = jax.eval_shape(oracle.fun, one)
        if getattr(out, "shape", None) != ():
            raise TypeError(f"the objective returned shape {getattr(out, 'shape', out)}, not a number")
        where = label
        varying = varying_options(batch) if batch else ()
        direction_of, run_chunk = chunk_for(oracle.objective, entry, options, points, batch is not None, varying)
        hyper = {name: jnp.asarray([float(getattr(o, name)) for o in batch]) for name in varying}
        direction = direction_of({})[0]  # the options as constants: one run's direction, and the batch's shape check
        if batch:
            state = jax.vmap(lambda x0, h: direction_of(h)[0].init(x0))(jnp.asarray(x), hyper)
        else:
            state = direction.init(jnp.asarray(x))
        d_shape = jax.eval_shape(direction.update, one, direction.init(jnp.zeros(one.shape)), jnp.zeros(one.shape))[0]
        if getattr(d_shape, "shape", None) != one.shape:
            raise ContractError(
                f"its compiled direction returned shape {getattr(d_shape, 'shape', d_shape)} for x of shape {one.shape}"
            )
    except ContractError as exc:
        return None, None, None, ("contract", {"where": label, "at": 0, "problem": str(exc)})
    except Exception as exc:
        return None, None, None, ("failed", {"where": where, "at": 0, "error": f"{type(exc).__name__}: {exc}"})
    return run_chunk, hyper, state, None


def _step_sizes(options: Any, k0: int, length: int) -> tuple[np.ndarray, list[float]]:
    """The step sizes of rows k0 .. k0 + length - 1's updates (row k steps with
    step_size(k)), and the step size each row shows (the one that led to it;
    row 0: none). A constant is one array; a schedule is evaluated on the
    host, row by row, from its one definition."""
    if not isinstance(options.step_size, ScheduleOptions):
        value = float(options.step_size)
        return np.full(length, value), [value if k0 > 0 else math.nan] + [value] * (length - 1)
    schedule = as_schedule(options.step_size)
    sizes = [schedule(t) for t in range(k0, k0 + length)]
    return np.array(sizes, dtype=float), [schedule(k0 - 1) if k0 > 0 else math.nan, *sizes[:-1]]


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
    clipping from them). Returns the same :class:`Outcome`."""
    import jax.numpy as jnp

    x = np.array(x0, dtype=float)
    points = bool(observers)
    track = Track(x, stop, observers, interrupt, base=oracle.nfev)  # counts from the oracle's, as minimize does
    length = chunk_length(stop.max_iter, x.size, points, chunk)
    run_chunk, hyper, state, failure = _prepare(oracle, x, entry, options, points)
    if failure is not None:
        track.fail(failure[0], **failure[1])

    start = clock()
    carry = (jnp.asarray(x), jnp.full_like(jnp.asarray(x), -0.0), state) if failure is None else None
    try:
        while not track.reason:
            sizes, shown = _step_sizes(options, track.k0, length)
            c0 = clock()
            try:
                before = carry
                carry, rows = run_chunk(carry, sizes, hyper)
                fs, gns = np.asarray(rows.f), np.asarray(rows.grad_norm)
                # writable copies, as the Oracle's gradients are on both backends (jax's own are read-only)
                xs, gs = (np.array(rows.x), np.array(rows.g)) if points else (None, None)
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
                _, with_points = chunk_for(oracle.objective, entry, options, points=True)
                return np.asarray(with_points(before, sizes, hyper)[1].x[row])

            track.take(fs, gns, xs, gs, ts, shown, x_at)
    except KeyboardInterrupt as exc:  # a second signal (the flag raises when armed)
        track.interrupted(getattr(exc, "signum", signal.SIGINT))
    finally:
        if track.streamed:
            oracle.nfev = oracle.njev = track.nfev  # as runner.minimize counts: one evaluation per row used
    return track.outcome(clock() - start)


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
    Outcome has its member's)."""
    import jax.numpy as jnp

    xs0 = np.array(x0s, dtype=float)
    members = xs0.shape[0]
    each = list(options) if isinstance(options, Sequence) else [options] * members
    if len(each) != members:
        raise ContractError(f"{len(each)} options for a batch of {members} starts")
    observers = observers if observers is not None else [()] * members
    tracks = [Track(xs0[i], stop, observers[i], interrupt, base=0) for i in range(members)]
    length = chunk_length(stop.max_iter, xs0[0].size * members, True, chunk)
    run_chunk, hyper, state, failure = _prepare(oracle, xs0, entry, each[0], points=True, batch=each)
    if failure is not None:
        for track in tracks:
            track.fail(failure[0], **failure[1])

    start = clock()
    carry = (jnp.asarray(xs0), jnp.full_like(jnp.asarray(xs0), -0.0), state) if failure is None else None
    ended: dict[int, float] = {}
    try:
        while not all(track.reason for track in tracks):
            k0 = next(track.k0 for track in tracks if not track.reason)  # running members are at the same row
            steps = [_step_sizes(opts, k0, length) for opts in each]
            sizes = np.stack([sizes for sizes, _ in steps])
            c0 = clock()
            try:
                carry, rows = run_chunk(carry, sizes, hyper)
                fs, gns, xs, gs = (np.array(column) for column in rows)  # writable, as in minimize_compiled
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
