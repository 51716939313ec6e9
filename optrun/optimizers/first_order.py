"""First-order methods: each needs only the gradient."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from pydantic import Field

from optrun.optimizers import Optimizer, register_optimizer
from optrun.options import Options


class GDOptions(Options):
    step_size: float = Field(0.01, gt=0)


class GDState(NamedTuple):
    step_size: float


@register_optimizer("gd", options=GDOptions, description="gradient descent: x <- x - step_size * g")
def gd(options: GDOptions, oracle=None) -> Optimizer:
    def init(x0):
        return GDState(step_size=options.step_size)

    def update(grad, state, x):
        return -state.step_size * grad, state

    return Optimizer(init, update)


class MomentumOptions(Options):
    step_size: float = Field(0.01, gt=0)
    beta: float = Field(0.9, ge=0, lt=1)


class MomentumState(NamedTuple):
    velocity: np.ndarray
    step_size: float


@register_optimizer(
    "momentum",
    options=MomentumOptions,
    description="heavy ball: v <- beta v + g; x <- x - step_size * v",
)
def momentum(options: MomentumOptions, oracle=None) -> Optimizer:
    def init(x0):
        return MomentumState(velocity=np.zeros_like(x0), step_size=options.step_size)

    def update(grad, state, x):
        velocity = options.beta * state.velocity + grad
        return -state.step_size * velocity, state._replace(velocity=velocity)

    return Optimizer(init, update)


class AdamOptions(Options):
    step_size: float = Field(0.001, gt=0)
    b1: float = Field(0.9, ge=0, lt=1)
    b2: float = Field(0.999, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)


class AdamState(NamedTuple):
    m: np.ndarray
    v: np.ndarray
    count: int
    step_size: float


@register_optimizer(
    "adam",
    options=AdamOptions,
    description="Adam with bias correction (Kingma & Ba, 2015)",
)
def adam(options: AdamOptions, oracle=None) -> Optimizer:
    b1, b2, eps = options.b1, options.b2, options.eps

    def init(x0):
        return AdamState(m=np.zeros_like(x0), v=np.zeros_like(x0), count=0, step_size=options.step_size)

    def update(grad, state, x):
        count = state.count + 1
        m = b1 * state.m + (1 - b1) * grad
        v = b2 * state.v + (1 - b2) * grad * grad
        m_hat = m / (1 - b1**count)
        v_hat = v / (1 - b2**count)
        step = -state.step_size * m_hat / (np.sqrt(v_hat) + eps)
        return step, AdamState(m=m, v=v, count=count, step_size=state.step_size)

    return Optimizer(init, update)
