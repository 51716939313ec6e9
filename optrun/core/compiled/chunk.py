"""The compiled chunk of the jax backend's loop: many first-order steps in one jitted call.

:func:`make_chunk` builds the chunk, one ``jax.lax.scan`` over rows (each
row: take the previous step, evaluate f and the gradient, ask the optimizer's
optax direction for the next step; :mod:`optrun.core.compiled` shows the
scan step). :func:`chunk_for` keeps the last few chunks built, so that runs
with the same objective, optimizer and options compile once;
:func:`prepare_chunk` checks, before anything is computed, that the objective
and the direction have the shapes the loop needs. :func:`chunk_length` sizes
the chunks, :func:`step_sizes` gives each row's step size from the host's
schedule, and :func:`varying_options` and :func:`batch_problem` say which
options a batch of runs (:mod:`optrun.core.compiled.batch`) carries as arrays.
:func:`box_of` gives the box a run with bounds projects each step onto
(optax's ``projection_box``, the Python loop's ``Box.project``), and refuses
what the compiled loop cannot take (constraints).

Nothing here streams rows or applies stop rules: that is the host's side
(:mod:`optrun.core.compiled.track`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from optrun.core.errors import ConfigError
from optrun.core.optimizers import ContractError, OptimizerEntry
from optrun.core.optimizers.schedules import ScheduleOptions, as_schedule
from optrun.core.oracle import Oracle

CHUNK = 2048  # rows per compiled call, at most (a call costs tens of microseconds: many rows amortize it)
# at most this many rows x entries per chunk, so a large problem's chunk stays short (seconds, not minutes)
WORK = 2**20
ROW_BYTES = 16 * 2**20  # at most this many bytes of x and g rows per chunk, when observers want them


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)  # float64, as the jax backend computes (and NumPy, autograd)
    return jax


def chunk_length(max_iter: int, n: int, points: bool, chunk: int = CHUNK) -> int:
    """Rows per chunk: at most ``chunk``, at most ``WORK / n`` (at least 16)
    and, when rows carry x and g (``points``), at most ``ROW_BYTES`` of them;
    within those, the run's ``max_iter + 1`` rows split into equal chunks, so
    the last chunk computes few rows past max_iter (a 300-row run is one chunk
    of 300). ``max_iter``: the last row the run's budgets allow (Track.last_row)."""
    cap = min(chunk, max(16, WORK // max(1, n)))
    if points:
        cap = min(cap, ROW_BYTES // (16 * max(1, n)))
    cap = max(1, cap)
    rows = max(0, int(max_iter)) + 1
    chunks = -(-rows // cap)
    return -(-rows // chunks)


class Rows(NamedTuple):
    """A chunk's rows of the trace, before the host adds t and the counts (NumPy arrays, one row per scan step)."""

    f: Any  # f(x_k)
    grad_norm: Any  # |g_k| (2-norm, before clipping); with bounds |P(x_k - g_k) - x_k|, the projected gradient's
    x: Any = None  # x_k, only when observers want the rows (stacking x costs more than a small problem's step)
    g: Any = None  # g_k (before clipping), likewise


# XLA writes each scan output apart, and four outputs a step (f, |g|, x, g) cost a small problem's step
# three times over: up to this many parameters a step's row is one packed vector. Beyond it, a packed
# row costs a transposing copy on the way to the host (16 MB of trid 1e5 rows: 27 ms, against 6 ms of steps).
PACK_MAX = 1024


def unpack(packed: Any) -> Rows:
    """The :class:`Rows` of a chunk's output (:func:`make_chunk`: one vector
    ``[f, |g|, x..., g...]`` per scan step, or ``[f, |g|]``; or, for more than
    PACK_MAX parameters, ``([f, |g|], x, g)``), as writable NumPy arrays."""
    if isinstance(packed, tuple):
        head, x, g = (np.array(part, dtype=float) for part in packed)
        return Rows(head[..., 0], head[..., 1], x, g)
    rows = np.array(packed, dtype=float)
    n = (rows.shape[-1] - 2) // 2
    if n == 0:
        return Rows(rows[..., 0], rows[..., 1])
    return Rows(rows[..., 0], rows[..., 1], rows[..., 2 : 2 + n], rows[..., 2 + n :])


Bounds = tuple[np.ndarray, np.ndarray]  # (lower, upper) on the flat vector, -inf/inf for an open side


def box_of(oracle: Oracle, entry: OptimizerEntry) -> Bounds | None:
    """The box of the run (``oracle.feasible.box``) as (lower, upper), which
    the compiled loop projects each new iterate onto, as runner.minimize does
    for a method whose entry declares ``bounds="projected"``; None without
    one. A ConfigError (at ``optimizer.name``, as prepare words it) for what
    the compiled loop cannot honour, rather than a run that ignores it:
    constraints, or a box for a method that does not declare projected steps
    (prepare refuses both before a run starts; this guards a direct call)."""
    from optrun.core.optimizers import OPTIMIZERS

    feasible = getattr(oracle, "feasible", None)
    if feasible is None:
        return None
    listed = [OPTIMIZERS.get(name) for name in OPTIMIZERS.listed()]
    if feasible.constraints:
        raise ConfigError(
            f"optimizer '{entry.name}' cannot take constraints (the compiled loop projects onto bounds only); "
            f"methods that can: {', '.join(e.name for e in listed if e.constraints)}",
            path="optimizer.name",
        )
    if feasible.box is None:
        return None
    if entry.bounds != "projected":
        raise ConfigError(
            f"optimizer '{entry.name}' cannot take bounds (the compiled loop projects the steps of methods "
            f"that declare projected steps); methods that can: {', '.join(e.name for e in listed if e.bounds)}",
            path="optimizer.name",
        )
    return np.array(feasible.box.lower, dtype=float), np.array(feasible.box.upper, dtype=float)


def make_chunk(fun: Callable, direction_of: Callable, points: bool, box: Bounds | None = None) -> Callable:
    """The jitted chunk ``(carry, step_sizes, hyper) -> (carry, packed rows)``
    (:func:`unpack` gives the :class:`Rows`): one scan step per entry of
    ``step_sizes`` (the step size of that row's update).

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
    options are constants of the program).

    ``box``: (lower, upper) of a run with bounds (:func:`box_of`), constants
    of the program: each new iterate is projected onto it,
    ``x_k = projection_box(x + step, lower, upper)`` (optax's, a clip: exact,
    so the iterates are the Python loop's ``Box.project(x + step)``), and the
    row's grad_norm is the projected gradient's, ``|P(x_k - g_k) - x_k|``,
    as runner.minimize measures it; clipping still rescales by ``|g_k|``.
    The start must lie in the box (prepare sees to it: a start outside is
    refused, or clipped with ``init.clip_to_bounds``), since row 0's x is
    projected here too, where the Python loop evaluates x0 as given."""
    jax = _jax()
    import jax.numpy as jnp

    value_and_grad = jax.value_and_grad(fun)
    if box is not None:
        from optax.projections import projection_box

        lower, upper = (jnp.asarray(side) for side in box)

    def run(carry, step_sizes, hyper):
        direction, clip = direction_of(hyper)

        def scan_step(carry, step_size):
            x, step, state = carry
            x = x + step if box is None else projection_box(x + step, lower, upper)  # x_k
            f, g = value_and_grad(x)
            grad_norm = jnp.sqrt(g @ g)
            seen = g if clip is None else jnp.where(grad_norm > clip, g * (clip / grad_norm), g)
            d, new_state = direction.update(seen, state, x)
            if box is not None:  # the row's grad_norm: the projected gradient's (the Python loop's _projected_norm)
                moved = projection_box(x - g, lower, upper) - x
                grad_norm = jnp.sqrt(moved @ moved)
            head = jnp.stack([f, grad_norm]).astype(x.dtype)
            if not points:
                return (x, -step_size * d, new_state), head
            if x.shape[-1] <= PACK_MAX:  # one packed vector per step (see PACK_MAX)
                return (x, -step_size * d, new_state), jnp.concatenate([head, x, g])
            return (x, -step_size * d, new_state), (head, x, g)

        return jax.lax.scan(scan_step, carry, step_sizes)

    return jax.jit(run)


def direction_builder(entry: OptimizerEntry, options: Any) -> Callable[[dict[str, Any]], tuple[Any, Any]]:
    """``hyper -> (direction, clip)`` for make_chunk: the entry's compiled
    direction from ``options`` with the fields in ``hyper`` replaced (by jax
    arrays, in a batch whose members differ in them; pydantic's model_copy
    does not validate, so a traced value passes)."""
    make = entry.compiled
    if make is None:
        raise ContractError(f"optimizer '{entry.name}' has no compiled direction (its entry's 'compiled' capability)")

    def direction_of(hyper: dict[str, Any]) -> tuple[Any, Any]:
        opts = options.model_copy(update=hyper) if hyper else options
        clip = opts.clip_grad_norm if "clip_grad_norm" in entry.transforms else None
        return make(opts), clip

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


# the last few (direction_of, jitted chunk), reused
_CHUNKS: OrderedDict[tuple, tuple[Callable, Callable]] = OrderedDict()


def chunk_for(
    fun: Callable,
    entry: OptimizerEntry,
    options: Any,
    points: bool,
    batch: bool = False,
    varying: tuple[str, ...] = (),
    box: Bounds | None = None,
) -> tuple[Callable, Callable]:
    """``direction_of`` (:func:`direction_builder`) and the jitted chunk of
    (objective, optimizer, options, points), built once and kept for the
    next run with the same ones (a repeated run, a benchmark, a sweep over
    step sizes): jax compiles a jitted function once per shape and length.
    ``batch``: the chunk mapped over a batch of carries, step sizes and the
    ``varying`` options (``jax.vmap``). The step size is fed as an array,
    so it is not part of what is compiled; the ``box`` (bounds) is."""
    jax = _jax()
    key = (
        fun,
        entry.compiled,
        type(options),
        options.model_dump_json(exclude={"step_size", *varying}),
        points,
        batch,
        varying,
        None if box is None else (box[0].tobytes(), box[1].tobytes()),
    )
    if key in _CHUNKS:
        _CHUNKS.move_to_end(key)
        return _CHUNKS[key]
    direction_of = direction_builder(entry, options)
    run = make_chunk(fun, direction_of, points, box)
    built = _CHUNKS[key] = (direction_of, jax.jit(jax.vmap(run)) if batch else run)
    if len(_CHUNKS) > 16:
        _CHUNKS.popitem(last=False)
    return built


def prepare_chunk(
    oracle: Oracle,
    x: np.ndarray,
    entry: OptimizerEntry,
    options: Any,
    points: bool,
    batch: Sequence[Any] | None = None,
    box: Bounds | None = None,
) -> tuple[Any, Any, Any, tuple[str, dict[str, Any]] | None]:
    """Check that the objective traces to a number and the direction keeps x's
    shape (jax.eval_shape: no computation), so either is blamed as
    runner.minimize blames it; returns the jitted chunk, the options it takes
    as arrays (``hyper``: {} for one run), the direction's first state and
    None, or three Nones and (reason, details) of a failure. ``batch``: each member's
    options (x holds one start per row); ``box``: the run's bounds (:func:`box_of`).
    jax compiles the chunk on its first call."""
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
        direction_of, run_chunk = chunk_for(oracle.objective, entry, options, points, batch is not None, varying, box)
        hyper = {name: jnp.asarray([float(getattr(o, name)) for o in batch or ()]) for name in varying}
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


def step_sizes(options: Any, k0: int, length: int) -> tuple[np.ndarray, list[float]]:
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
