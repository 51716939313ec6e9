"""First-order methods: each needs only the gradient.

Each method is written as a *direction* (an ``init``/``update`` pair, as in
optax, whose update returns ``d`` with the method's own typed state); the
step is ``-step_size * d`` (:func:`descend`). The shared options come from
the registry's generic transforms (:mod:`optrun.core.optimizers`), declared
once by :func:`first_order`:

* ``clip_grad_norm``: the gradient is rescaled to at most that 2-norm before
  the method sees it;
* ``step_size``: a number or a schedule mapping
  (:mod:`optrun.core.optimizers.schedules`); update ``t`` (from 0) steps
  ``-step_size(t) * d`` and the state stores the step size it used.

Variants are the same function with a keyword fixed by ``functools.partial``
(``nesterov`` is momentum) or a composition (``adamw`` is adam followed by
:func:`add_decayed_weights`), not copies.

Each method also declares its direction for the jax backend's compiled loop
(:mod:`optrun.core.compiled`, the entry's ``compiled`` capability): a function
``options -> optax.GradientTransformation`` computing the same ``d`` as the
NumPy direction, with optax's transforms where they compute optrun's formula
(``identity``, ``trace``, ``scale_by_rms(eps_in_sqrt=False)``,
``scale_by_adam``, ``add_decayed_weights``) and one of optrun's own where optax
differs (:func:`scale_by_root_sum_of_squares`, for adagrad). optax and jax are
imported only when a compiled direction is built.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import numpy as np
from pydantic import Field

from optrun.core.optimizers import StepRule, register_optimizer
from optrun.core.optimizers.schedules import STEP_SIZE_MEANING, StepSize
from optrun.core.options import Options


class Direction(NamedTuple):
    """A method's own part: ``update(grad, state, x) -> (d, state)``; the step is ``-step_size * d``."""

    init: Callable[[np.ndarray], Any]
    update: Callable[[np.ndarray, Any, np.ndarray], tuple[np.ndarray, Any]]


class FirstOrderOptions(Options):
    """Options every first-order method has."""

    step_size: StepSize = Field(0.01, description=STEP_SIZE_MEANING)
    clip_grad_norm: float | None = Field(None, gt=0, description="rescale the gradient to at most this 2-norm")


def descend(direction: Direction) -> StepRule:
    """The step rule stepping ``-step_size * d``."""

    def update(grad, state, x, step_size):
        d, state = direction.update(grad, state, x)
        return -step_size * d, state, step_size

    return StepRule(direction.init, update)


def first_order(
    name: str,
    *,
    options: type[FirstOrderOptions],
    description: str,
    compiled: Callable[[Any], Any] | None = None,
    reference: str = "",
):
    """Register a direction ``direction(options) -> Direction`` as the
    optimizer ``name``, with the step-size schedule and gradient clipping;
    ``compiled(options)``: the same direction as an optax
    GradientTransformation, for the jax backend's compiled loop;
    ``reference``: what the update follows (``optrun describe``)."""

    def decorate(direction: Callable[[Any], Direction]):
        def make(opts: FirstOrderOptions, oracle=None) -> StepRule:
            return descend(direction(opts))

        register_optimizer(
            name,
            options=options,
            description=description,
            transforms=("step_size", "clip_grad_norm"),
            compiled=compiled,
            reference=reference,
            bounds="projected",
        )(make)
        return direction

    return decorate


# ----------------------------------------------------------------------- gd
class GDOptions(FirstOrderOptions):
    step_size: StepSize = Field(0.01, description=STEP_SIZE_MEANING)


class GDState(NamedTuple):
    pass


def gd_compiled(options: GDOptions) -> Any:
    import optax

    return optax.identity()  # d = g


@first_order(
    "gd",
    options=GDOptions,
    description="gradient descent: x <- x - step_size * g",
    compiled=gd_compiled,
    reference="optax.sgd without momentum (the same update)",
)
def gd(options: GDOptions) -> Direction:
    return Direction(lambda x0: GDState(), lambda grad, state, x: (grad, state))


# ----------------------------------------------------------------- momentum
class MomentumOptions(FirstOrderOptions):
    step_size: StepSize = Field(0.01, description=STEP_SIZE_MEANING)
    beta: float = Field(0.9, ge=0, lt=1, description="momentum coefficient: v <- beta v + g")


class MomentumState(NamedTuple):
    velocity: np.ndarray


def momentum(options: MomentumOptions, *, nesterov: bool = False) -> Direction:
    beta = options.beta

    def init(x0):
        return MomentumState(velocity=np.zeros_like(x0))

    def update(grad, state, x):
        velocity = beta * state.velocity + grad
        d = grad + beta * velocity if nesterov else velocity
        return d, MomentumState(velocity=velocity)

    return Direction(init, update)


def momentum_compiled(options: MomentumOptions, *, nesterov: bool = False) -> Any:
    import optax

    # optax.trace: v <- g + decay v; with nesterov, d = g + decay v (the new v): optrun's formulas
    return optax.trace(decay=options.beta, nesterov=nesterov)


first_order(
    "momentum",
    options=MomentumOptions,
    description="heavy ball: v <- beta v + g; x <- x - step_size * v",
    compiled=momentum_compiled,
    reference="optax.sgd(momentum=beta) (optax.trace, then the step size)",
)(momentum)

nesterov = first_order(
    "nesterov",
    options=MomentumOptions,
    description="Nesterov momentum: v <- beta v + g; x <- x - step_size * (g + beta v)",
    compiled=partial(momentum_compiled, nesterov=True),
    reference="optax.sgd(momentum=beta, nesterov=True) (optax.trace with nesterov, then the step size)",
)(partial(momentum, nesterov=True))


# ------------------------------------------------------------------ adagrad
class AdagradOptions(FirstOrderOptions):
    step_size: StepSize = Field(0.1, description=STEP_SIZE_MEANING)
    initial_accumulator: float = Field(0.0, ge=0, description="starting value of the sum of squared gradients")
    eps: float = Field(1e-8, gt=0, description="added to sqrt(G) in the denominator")


class AdagradState(NamedTuple):
    sum_sq: np.ndarray


def scale_by_root_sum_of_squares(initial_accumulator: float, eps: float) -> Any:
    """Adagrad's direction as an optax GradientTransformation:
    G <- G + g^2 (G starts at ``initial_accumulator``), d = g / (sqrt(G) + eps).

    Not ``optax.scale_by_rss``, which computes ``where(G > 0, 1/sqrt(G + eps), 0) * g``:
    eps inside the root instead of outside, and d = 0 where G = 0. With
    optrun's defaults (G from 0, eps 1e-8) its first step is g/sqrt(g^2 + 1e-8)
    instead of g/(|g| + 1e-8): a different method for small gradients."""
    import jax.numpy as jnp
    import optax

    def init(params):
        return AdagradState(sum_sq=jnp.full_like(params, initial_accumulator))

    def update(grad, state, params=None):
        sum_sq = state.sum_sq + grad * grad
        return grad / (jnp.sqrt(sum_sq) + eps), AdagradState(sum_sq=sum_sq)

    return optax.GradientTransformation(init, update)


def adagrad_compiled(options: AdagradOptions) -> Any:
    return scale_by_root_sum_of_squares(options.initial_accumulator, options.eps)


@first_order(
    "adagrad",
    options=AdagradOptions,
    description="Adagrad (Duchi et al., 2011): G <- G + g^2; x <- x - step_size * g / (sqrt(G) + eps)",
    compiled=adagrad_compiled,
    reference="Duchi, Hazan & Singer (2011), diagonal Adagrad with eps outside the root "
    "(not optax.adagrad, which puts eps inside it)",
)
def adagrad(options: AdagradOptions) -> Direction:
    eps = options.eps

    def init(x0):
        return AdagradState(sum_sq=np.full_like(x0, options.initial_accumulator, dtype=float))

    def update(grad, state, x):
        sum_sq = state.sum_sq + grad * grad
        return grad / (np.sqrt(sum_sq) + eps), AdagradState(sum_sq=sum_sq)

    return Direction(init, update)


# ------------------------------------------------------------------ rmsprop
class RMSpropOptions(FirstOrderOptions):
    step_size: StepSize = Field(0.001, description=STEP_SIZE_MEANING)
    decay: float = Field(0.9, ge=0, lt=1, description="decay of the mean of squared gradients")
    eps: float = Field(1e-8, gt=0, description="added to sqrt(E) in the denominator")


class RMSpropState(NamedTuple):
    mean_sq: np.ndarray


def rmsprop_compiled(options: RMSpropOptions) -> Any:
    import optax

    # optax: E <- (1 - decay) g^2 + decay E from E = 0, no bias correction; eps_in_sqrt=False
    # puts eps outside the root as optrun does (optax's default, True, is 1/sqrt(E + eps))
    return optax.scale_by_rms(decay=options.decay, eps=options.eps, initial_scale=0.0, eps_in_sqrt=False)


@first_order(
    "rmsprop",
    options=RMSpropOptions,
    description="RMSprop (Hinton, 2012): E <- decay E + (1 - decay) g^2; x <- x - step_size * g / (sqrt(E) + eps)",
    compiled=rmsprop_compiled,
    reference="optax.scale_by_rms(initial_scale=0, eps_in_sqrt=False), then the step size (Hinton, 2012)",
)
def rmsprop(options: RMSpropOptions) -> Direction:
    decay, eps = options.decay, options.eps

    def init(x0):
        return RMSpropState(mean_sq=np.zeros_like(x0))

    def update(grad, state, x):
        mean_sq = decay * state.mean_sq + (1 - decay) * grad * grad
        return grad / (np.sqrt(mean_sq) + eps), RMSpropState(mean_sq=mean_sq)

    return Direction(init, update)


# --------------------------------------------------------------------- adam
class AdamOptions(FirstOrderOptions):
    step_size: StepSize = Field(0.001, description=STEP_SIZE_MEANING)
    b1: float = Field(0.9, ge=0, lt=1, description="decay of the gradient's running mean m")
    b2: float = Field(0.999, ge=0, lt=1, description="decay of the squared gradient's running mean v")
    eps: float = Field(1e-8, gt=0, description="added to sqrt(v_hat) in the denominator")


class AdamWOptions(AdamOptions):
    weight_decay: float = Field(
        0.01, ge=0, description="decoupled weight decay: adds weight_decay * x to the direction"
    )


class AdamState(NamedTuple):
    m: np.ndarray
    v: np.ndarray
    count: int  # type: ignore[assignment]  # (a field named as tuple's count method: mypy objects, Python does not)


def adam(options: AdamOptions) -> Direction:
    b1, b2, eps = options.b1, options.b2, options.eps

    def init(x0):
        return AdamState(m=np.zeros_like(x0), v=np.zeros_like(x0), count=0)

    def update(grad, state, x):
        count = state.count + 1
        m = b1 * state.m + (1 - b1) * grad
        v = b2 * state.v + (1 - b2) * grad * grad
        m_hat = m / (1 - b1**count)
        v_hat = v / (1 - b2**count)
        return m_hat / (np.sqrt(v_hat) + eps), AdamState(m=m, v=v, count=count)

    return Direction(init, update)


def add_decayed_weights(direction: Direction, weight_decay: float) -> Direction:
    """``direction`` plus ``weight_decay * x`` (decoupled weight decay, as
    optax's ``add_decayed_weights``): the step becomes -step_size * (d + wd x)."""

    def update(grad, state, x):
        d, state = direction.update(grad, state, x)
        return d + weight_decay * x, state

    return Direction(direction.init, update)


def adam_compiled(options: AdamOptions) -> Any:
    import optax

    # bias-corrected m_hat / (sqrt(v_hat) + eps), eps outside the root (eps_root 0): optrun's adam
    return optax.scale_by_adam(b1=options.b1, b2=options.b2, eps=options.eps, eps_root=0.0)


def adamw_compiled(options: AdamWOptions) -> Any:
    import optax

    # optrun's weight_decay (default 0.01, not optax.adamw's 1e-4), added to the direction as in add_decayed_weights
    return optax.chain(adam_compiled(options), optax.add_decayed_weights(options.weight_decay))


first_order(
    "adam",
    options=AdamOptions,
    description="Adam with bias correction (Kingma & Ba, 2015)",
    compiled=adam_compiled,
    reference="optax.adam (eps_root=0); Kingma & Ba (2015), Algorithm 1",
)(adam)


@first_order(
    "adamw",
    options=AdamWOptions,
    description="AdamW (Loshchilov & Hutter, 2019): Adam plus decoupled weight decay, "
    "x <- x - step_size * (m_hat / (sqrt(v_hat) + eps) + weight_decay * x)",
    compiled=adamw_compiled,
    reference="optax.adamw (weight decay added to the Adam direction, then the step size); "
    "default weight_decay 0.01, optax's is 1e-4",
)
def adamw(options: AdamWOptions) -> Direction:
    return add_decayed_weights(adam(options), options.weight_decay)
