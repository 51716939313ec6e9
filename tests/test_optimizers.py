"""Update rules against hand-computed steps; every registered optimizer end to end."""

import contextlib
import math
import subprocess
import sys

import autograd.numpy as anp
import numpy as np
import pytest
from tolerances import rounding

import optrun
from optrun.config import load_config
from optrun.core.errors import ConfigError
from optrun.core.optimizers import OPTIMIZERS, OptimizerFinished
from optrun.core.oracle import Oracle


def make(name, **options):
    entry = OPTIMIZERS.get(name)
    return entry.make(entry.options(**options), None)


def steps(opt, grads, x0=np.zeros(2)):
    state = opt.init(x0)
    x = x0.copy()
    out = []
    for g in grads:
        step, state = opt.update(np.asarray(g, dtype=float), state, x)
        x = x + step
        out.append(step)
    return out, state


# The update rules below run on gradients exact in binary: where the test does the method's own operations in its
# order the step is bit-identical (==); elsewhere each tolerance counts the roundings between the two sides.
GRADS = [[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0]]


# Every list of optimizers below is derived from the registry, by the capabilities the entries declare
# (optrun/core/optimizers/__init__.py), so a new entry is tested without editing a list here:
def _defined_in(entry):
    """The module that defines an entry's method (SciPy's entries are functools.partial objects)."""
    factory = getattr(entry.factory, "func", entry.factory)
    return getattr(factory, "__module__", "")


BUILT_IN = sorted(name for name, entry in OPTIMIZERS.items() if _defined_in(entry).startswith("optrun.core.optimizers"))
# methods that take a step size (a number or a schedule): the "step_size" transform
WITH_STEP_SIZE = sorted(name for name, entry in OPTIMIZERS.items() if "step_size" in entry.transforms)
# the first-order methods: a step size and clipping, and nothing but the gradient (no oracle needed to build them)
FIRST_ORDER = sorted(
    name
    for name, entry in OPTIMIZERS.items()
    if {"step_size", "clip_grad_norm"} <= set(entry.transforms) and entry.needs == ("gradient",)
)
# (method, option) for each transform option a method neither declares nor defines itself (SciPy's methods, which
# choose their own steps): an unknown key there
UNDECLARED = [
    (name, option)
    for name, entry in OPTIMIZERS.items()
    for option in ("clip_grad_norm", "step_size")
    if option not in entry.transforms and option not in entry.options.model_fields
]

# Trid 10-D near its minimizer x* = (10, 18, 24, 28, 30, 30, 28, 24, 18, 10), f* = -210 (exact in integers): f sums
# terms whose sizes add up to ~1e4 (sum (x_i - 1)^2 = 4938, sum x_i x_i+1 = 5148), each term and partial sum rounding
# once, so f as computed is within rounding(24, 1e4) = 5e-11 of f(x); a gradient entry 2 (x_i - 1) - x_i-1 - x_i+1
# rounds ~3 times at terms up to 60: the computed |g| is within sqrt(10) rounding(3, 60) = 1.3e-13 of the true one.
TRID10_F_ROUNDING = rounding(24, 1e4)
TRID10_G_ROUNDING = math.sqrt(10) * rounding(3, 60)


def test_gd():
    out, state = steps(make("gd", step_size=0.1), GRADS)
    np.testing.assert_array_equal(out, -0.1 * np.array(GRADS))  # descend's one product, -step_size * g
    assert state.step_size == 0.1


def test_momentum_heavy_ball():
    out, _ = steps(make("momentum", step_size=0.1, beta=0.5), GRADS)
    v1 = np.array([1.0, -2.0])
    v2 = 0.5 * v1 + [0.5, 0.5]
    v3 = 0.5 * v2 + [-1.0, 3.0]
    np.testing.assert_array_equal(out, [-0.1 * v1, -0.1 * v2, -0.1 * v3])  # v is exact (halves); then the same product


def test_adam_bias_corrected():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    out, state = steps(make("adam", step_size=lr, b1=b1, b2=b2, eps=eps), GRADS)
    m = v = np.zeros(2)
    for t, g in enumerate(np.array(GRADS), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        expected = -lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        # the same formulas (m bit-identical), but (1 - b2) g g and -lr (m / ...) group otherwise: ~20 roundings of
        # values that do not cancel
        np.testing.assert_allclose(out[t - 1], expected, rtol=rounding(20))
    # the first Adam step is -lr g / (|g| + eps): -lr sign(g) within eps / |g| <= 1e-8 relative (|g| >= 1), plus rounding
    np.testing.assert_allclose(out[0], [-lr, lr], rtol=eps + rounding(10))
    assert state.count == 3


def _snapshot(state):
    """A state's values, deeply, for checking that nothing changed them."""
    if isinstance(state, tuple):
        return tuple(_snapshot(v) for v in state)
    return np.array(state, copy=True) if isinstance(state, np.ndarray) else state


def _same(a, b):
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("name", [name for name, entry in OPTIMIZERS.items() if entry.pure])
def test_optimizers_are_pure(name):
    """update(grad, state, x) gives the same step for the same arguments and
    never changes the state it was given (every optimizer that declares pure)."""

    def trid(x):
        return anp.sum((x - 1.0) ** 2) - anp.sum(x[1:] * x[:-1])

    entry = OPTIMIZERS.get(name)
    opt = entry.make(entry.options(), Oracle(trid))
    x = np.array([1.0, -1.0])
    state = opt.init(x)
    before = _snapshot(state)
    grad = np.array([0.5, -2.0])
    step_a, state_a = opt.update(grad, state, x)
    step_b, state_b = opt.update(grad.copy(), state, x.copy())
    np.testing.assert_array_equal(step_a, step_b)
    assert _same(_snapshot(state_a), _snapshot(state_b))
    assert _same(_snapshot(state), before)


def test_only_scipy_methods_are_not_pure():
    from optrun.core.optimizers import scipy_methods

    impure = sorted(name for name, entry in OPTIMIZERS.items() if not entry.pure)
    assert impure and all(OPTIMIZERS.get(n).factory.func is scipy_methods.scipy_method for n in impure)


@pytest.mark.parametrize("name", ["gd", "momentum", "adam"])  # three methods at one shared step size, not a catalogue
@pytest.mark.slow
def test_gd_momentum_and_adam_reach_the_trid_minimum_at_one_step_size(name, workdir):
    import optrun

    result = optrun.run(
        {
            "problem": {"name": "trid", "dim": 10},
            "optimizer": {"name": name, "step_size": 0.05},
            "stop": {"max_iter": 20000, "grad_tol": 1e-8},
            "output": {"plots": False},
        }
    )
    assert result.status == "converged"
    # stopped at |g| <= grad_tol: f - f* <= grad_tol^2 / (2 lambda_min), plus f's rounding
    assert result.fun == pytest.approx(-210, abs=1e-8**2 / (2 * trid_lambda_min(10)) + TRID10_F_ROUNDING)


# ------------------------------------------------------------ update rules
def test_nesterov_looks_ahead():
    # v <- beta v + g; step = -lr (g + beta v), beta = 0.5, lr = 0.1, worked by hand:
    # v1 = (1, -2):       d1 = (1, -2) + (0.5, -1)        = (1.5, -3)
    # v2 = (1, -0.5):     d2 = (0.5, 0.5) + (0.5, -0.25)  = (1, 0.25)
    # v3 = (-0.5, 2.75):  d3 = (-1, 3) + (-0.25, 1.375)   = (-1.25, 4.375)
    out, state = steps(make("nesterov", step_size=0.1, beta=0.5), GRADS)
    # d is exact in binary (quarters and eighths): only fl(0.1) and its product with d round, the literal once
    np.testing.assert_allclose(out, [[-0.15, 0.3], [-0.1, -0.025], [0.125, -0.4375]], rtol=rounding(2))
    np.testing.assert_array_equal(state.inner.velocity, [-0.5, 2.75])  # exact
    assert state.step_size == 0.1


def test_nesterov_with_beta_zero_is_gd():
    out, _ = steps(make("nesterov", step_size=0.1, beta=0.0), GRADS)
    np.testing.assert_array_equal(out, -0.1 * np.array(GRADS))  # d = g + 0 v = g exactly, then gd's product


def test_adagrad_accumulates_squared_gradients():
    # G1 = (1, 4), G2 = (1.25, 4.25), G3 = (2.25, 13.25); step = -0.1 g / sqrt(G)
    out, state = steps(make("adagrad", step_size=0.1, eps=1e-12), GRADS)
    expected = [
        [-0.1, 0.1],
        [-0.1 * 0.5 / math.sqrt(1.25), -0.1 * 0.5 / math.sqrt(4.25)],
        [0.1 / 1.5, -0.1 * 3 / math.sqrt(13.25)],
    ]
    # eps = 1e-12 beside sqrt(G) >= 1 moves each step by <= 1e-12 relative; plus a few roundings a side
    np.testing.assert_allclose(out, expected, rtol=1e-12 + rounding(10))
    np.testing.assert_array_equal(state.inner.sum_sq, [2.25, 13.25])  # sums of squares of halves: exact


def test_adagrad_initial_accumulator():
    out, _ = steps(make("adagrad", step_size=0.1, initial_accumulator=1.0, eps=1e-12), GRADS[:1])
    # as above: eps / sqrt(G) <= 1e-12 / sqrt(2), plus a few roundings
    np.testing.assert_allclose(
        out[0], [-0.1 / math.sqrt(2.0), 0.2 / math.sqrt(5.0)], rtol=1e-12 / math.sqrt(2.0) + rounding(10)
    )


def test_rmsprop_decaying_mean_of_squares():
    # decay 0.5: E1 = (0.5, 2), E2 = (0.375, 1.125), E3 = (0.6875, 5.0625); step = -0.01 g / sqrt(E)
    out, state = steps(make("rmsprop", step_size=0.01, decay=0.5, eps=1e-12), GRADS)
    expected = [
        [-0.01 / math.sqrt(0.5), 0.02 / math.sqrt(2.0)],
        [-0.005 / math.sqrt(0.375), -0.005 / math.sqrt(1.125)],
        [0.01 / math.sqrt(0.6875), -0.03 / 2.25],
    ]
    # eps = 1e-12 beside sqrt(E) >= sqrt(0.375) moves each step by <= 1e-12 / sqrt(0.375) relative; plus rounding
    np.testing.assert_allclose(out, expected, rtol=1e-12 / math.sqrt(0.375) + rounding(10))
    np.testing.assert_array_equal(state.inner.mean_sq, [0.6875, 5.0625])  # halves of squares of halves: exact


def test_adamw_decay_is_decoupled_from_the_moments():
    lr, wd = 0.01, 0.1
    adamw, adam = make("adamw", step_size=lr, weight_decay=wd), make("adam", step_size=lr)
    x = np.array([3.0, -4.0])
    sw, sa = adamw.init(x), adam.init(x)
    m = v = np.zeros(2)
    for t, g in enumerate(np.array(GRADS), start=1):
        step_w, sw = adamw.update(g, sw, x)
        step_a, sa = adam.update(g, sa, x)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        adam_dir = (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        # 0.1 and 0.001 here are 1 and 4 ulps off adamw's (1 - 0.9) and (1 - 0.999), and m = 0.126 - 0.1 at t = 3
        # cancels 9x: ~40 eps; the steps' signs agree with x's (no cancellation in d + wd x): rounding(50)
        np.testing.assert_allclose(step_w, -lr * (adam_dir + wd * x), rtol=rounding(50))
        # the decay is -lr * wd * x on top of the Adam step: it never enters m or v. The difference of the two steps
        # (|d| <= 2 against |wd x| >= 0.3) cancels up to 8x on their roundings: rounding(50)
        np.testing.assert_allclose(step_w - step_a, -lr * wd * x, rtol=rounding(50))
        np.testing.assert_array_equal(sw.inner.m, sa.inner.m)
        x = x + step_w
    assert sw.count == 3


def test_adamw_without_decay_is_adam():
    a, _ = steps(make("adamw", step_size=0.01, weight_decay=0.0), GRADS, x0=np.array([1.0, 2.0]))
    b, _ = steps(make("adam", step_size=0.01), GRADS, x0=np.array([1.0, 2.0]))
    np.testing.assert_array_equal(a, b)


def test_scheduled_step_size_is_used_and_stored():
    opt = make("gd", step_size={"schedule": "exponential", "value": 0.5, "decay_rate": 0.5})
    state = opt.init(np.zeros(2))
    assert state.step_size == 0.5  # before any update: the first update's
    for lr, g in zip([0.5, 0.25, 0.125], GRADS):
        step, state = opt.update(np.array(g), state, np.zeros(2))
        np.testing.assert_array_equal(step, -lr * np.array(g))  # lr = 0.5**k: exact
        assert state.step_size == lr
    assert state.count == 3


def test_momentum_with_warmup_schedule():
    # warm-up over 3 updates: 1/4, 2/4, 3/4 of 0.4, then 0.4
    opt = make("momentum", beta=0.0, step_size={"schedule": "constant", "value": 0.4, "warmup_steps": 3})
    out, state = steps(opt, [[1.0, 0.0]] * 5)
    # (t + 1) / 4 is exact; its product with fl(0.4) rounds once (0.75 * 0.4 is a tie: -0.30000000000000004)
    np.testing.assert_allclose([s[0] for s in out], [-0.1, -0.2, -0.3, -0.4, -0.4], rtol=rounding(2))
    assert state.step_size == 0.4


# ---------------------------------------------------------------- clipping
def test_clip_grad_norm_gd_by_hand():
    opt = make("gd", step_size=0.1, clip_grad_norm=1.0)
    out, _ = steps(opt, [[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    # g * (1 / 5) and -0.1 * g round (and fl(0.1), fl(0.3)), the literal once: rounding(4)
    np.testing.assert_allclose(out[0], [-0.06, -0.08], rtol=rounding(4))  # |g| = 5 -> rescaled to 1
    np.testing.assert_allclose(out[1], [-0.03, -0.04], rtol=rounding(4))  # |g| = 0.5 <= 1: unchanged
    np.testing.assert_array_equal(out[2], [0.0, 0.0])


def test_the_derived_lists_are_not_empty():
    """A registry change that empties a derived list would otherwise pass its tests silently."""
    assert {"gd", "adam"} <= set(FIRST_ORDER) and {"backtracking", "newton"} <= set(WITH_STEP_SIZE) - set(FIRST_ORDER)
    assert ("lbfgs", "step_size") in UNDECLARED and set(FIRST_ORDER) <= set(BUILT_IN)


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_clip_grad_norm_applies_to_every_first_order_method(name):
    # the fifth gradient (below the bound) is for a method that only sees the gradient's sign (e.g. optax's lion,
    # sign(b1 m + (1 - b1) g)): its momentum's first entry is negative unclipped and positive clipped by then
    grads = [[3.0, 4.0], [0.3, -0.4], [-6.0, 8.0], [1.2, 1.6], [0.0, 0.1]]
    clipped = [[0.6, 0.8], [0.3, -0.4], [-0.6, 0.8], [0.6, 0.8], [0.0, 0.1]]  # rescaled by hand to norm <= 1
    with_clip, _ = steps(make(name, clip_grad_norm=1.0), grads, x0=np.array([0.5, -1.0]))
    by_hand, _ = steps(make(name), clipped, x0=np.array([0.5, -1.0]))
    # g * (c / |g|) is 1-3 ulps off the literals; momentum's v and adam's m cancel up to 9x at the third gradient
    # (0.756 - 0.6), on ~20 roundings a step: rounding(100)
    np.testing.assert_allclose(with_clip, by_hand, rtol=rounding(100))
    unclipped, _ = steps(make(name), grads, x0=np.array([0.5, -1.0]))
    assert not np.allclose(with_clip, unclipped)  # the gradients differ by factors 1/5, 1/10, 1/2: far from rounding


def test_clipping_is_not_applied_without_the_option():
    out, _ = steps(make("gd", step_size=1.0), [[300.0, 400.0]])
    np.testing.assert_array_equal(out[0], [-300.0, -400.0])


def test_clipping_and_schedules_are_declared_capabilities_not_per_method_code():
    """One generic wrapper each, applied by register_optimizer to every entry
    that declares it: every built-in method that computes its own steps (pure),
    not SciPy's (which take their iterates from SciPy)."""
    with_both = sorted(
        name for name, entry in OPTIMIZERS.items() if entry.transforms == ("step_size", "clip_grad_norm")
    )
    assert with_both == sorted(name for name in BUILT_IN if OPTIMIZERS.get(name).pure)
    for name, entry in OPTIMIZERS.items():
        fields = entry.options.model_fields
        assert ("clip_grad_norm" in fields) == ("clip_grad_norm" in entry.transforms), name
        assert ("step_size" in fields) == ("step_size" in entry.transforms), name
        if entry.transforms:
            assert fields["clip_grad_norm"].default is None  # off unless asked for


def test_backtracking_searches_along_the_clipped_gradient():
    # f = x^2 at x = 1, g = 2 clipped to 1, t0 = 2: t = 2 -> x = -1 (f 1, no decrease),
    # t = 1 -> x = 0 (f 0 <= 1 - 1e-4 * 1 * 1): accepted at the second trial.
    # Unclipped, the same search accepts t = 0.5 at the third (test_backtracking_by_hand...).
    oracle = square_oracle()
    opt = backtracking(oracle, step_size=2.0, clip_grad_norm=1.0)
    x = np.array([1.0])
    step, state = opt.update(np.array([2.0]), opt.init(x), x)
    np.testing.assert_array_equal(step, [-1.0])
    assert (state.step_size, state.inner.trials) == (1.0, 2)
    assert oracle.nfev == 3
    # at the bound the gradient is unchanged: from x = 0.5, g = 1, t = 2 and 1 give no decrease, t = 0.5 reaches 0
    x = np.array([0.5])
    step, state = opt.update(np.array([1.0]), opt.init(x), x)
    np.testing.assert_array_equal(step, [-0.5])
    assert (state.step_size, state.inner.trials) == (0.5, 3)


def test_newton_with_clipping_shrinks_the_step_by_the_clipping_factor():
    # Trid 2-D at (1, -1) with damping 1: p = (0.25, 1.75) for g = (1, -5) (test_newton_with_fixed_damping_by_hand);
    # g clipped to norm 1 is g / sqrt(26), and p is linear in g
    oracle = Oracle(lambda x: anp.sum((x - 1) ** 2) - x[0] * x[1])
    x = np.array([1.0, -1.0])
    opt = newton(oracle, damping=1.0, clip_grad_norm=1.0)
    step, state = opt.update(np.array([1.0, -5.0]), opt.init(x), x)
    expected = np.array([0.25, 1.75]) / math.sqrt(26)
    np.testing.assert_allclose(step, expected, rtol=0, atol=SOLVE_2X2 * np.abs(expected).max())
    assert state.step_size == 1.0
    # the fallback step -step_size * g is taken along the clipped gradient too
    oracle = Oracle(goldfield)
    x = np.array([0.1, -0.1])
    g = oracle.grad(x)
    opt = newton(oracle, max_damping_tries=0, step_size=0.5, clip_grad_norm=0.5)
    step, state = opt.update(g, opt.init(x), x)
    # the same three products in another order, and |g| by another dot product: a few roundings
    np.testing.assert_allclose(step, -0.5 * g * (0.5 / np.linalg.norm(g)), rtol=rounding(10))
    assert state.inner.fallback


def test_newton_follows_a_step_size_schedule():
    # f = |x|^2: H = 2I, p = -x; exponential 0.5, 0.25, 0.125: x <- (1 - eta) x
    oracle = Oracle(lambda x: anp.sum(x**2))
    opt = newton(oracle, step_size={"schedule": "exponential", "value": 0.5, "decay_rate": 0.5})
    x = np.array([1.0, 2.0])
    state = opt.init(x)
    assert state.step_size == 0.5
    used = []
    for _ in range(3):
        step, state = opt.update(2 * x, state, x)
        x = x + step
        used.append(state.step_size)
    assert used == [0.5, 0.25, 0.125]
    # each step: Cholesky of 2 I (sqrt 2, two divisions) gives p = -x within ~4 eps, and x + eta p (1 - eta >= 1/2:
    # at most 2x cancellation) rounds once: three steps, rounding(20)
    np.testing.assert_allclose(x, np.array([1.0, 2.0]) * 0.5 * 0.75 * 0.875, rtol=rounding(20))
    assert state.count == 3


@pytest.mark.parametrize("name, option", UNDECLARED)
def test_methods_with_their_own_steps_refuse_clipping_and_schedules(name, option):
    """SciPy's methods choose their own steps from the true gradient: the
    options are unknown keys there, and the error lists what is allowed."""
    with pytest.raises(ConfigError) as info:
        load_config({"problem": "trid", "optimizer": {"name": name, option: 1.0}})
    message = str(info.value)
    allowed = ", ".join(sorted(OPTIMIZERS.get(name).options.model_fields))
    assert message.startswith(f"optimizer.{option}: unknown key '{option}'"), message
    assert message.endswith(f"(allowed: {allowed})"), message


# ------------------------------------------------------ the contract, checked
class NoOpts(optrun.Options):
    pass


class ClipOpts(optrun.Options):
    clip_grad_norm: float | None = None


def _pair(options, oracle):
    return optrun.Optimizer(lambda x0: (), lambda g, s, x: (-g, s))


def _nothing(options, oracle):
    return None


REFUSED = {  # case -> (register_optimizer arguments, make, the problem the error names)
    "make without oracle": (
        {},
        lambda options: None,
        "make must be a function of (options, oracle), got <lambda>(options)",
    ),
    "make not callable": ({}, "gd", "make must be a function of (options, oracle), got 'gd'"),
    "options not a model": ({"options": dict}, _pair, "options must be a subclass of optrun.Options"),
    "options an instance": ({"options": NoOpts()}, _pair, "options must be a subclass of optrun.Options"),
    "needs a string": ({"needs": "gradient"}, _pair, "needs must be a non-empty tuple from"),
    "needs unknown": ({"needs": ("gradient", "Jacobian")}, _pair, "needs must be a non-empty tuple from"),
    "needs empty": ({"needs": ()}, _pair, "needs must be a non-empty tuple from"),
    "check signature": ({"check": lambda options: None}, _pair, "check must be a function of (options, n) or None"),
    "no description": ({"description": " "}, _pair, "description must be a non-empty string"),
    "unknown transform": (
        {"transforms": ("momentum",)},
        _pair,
        "transforms must be a tuple from ('step_size', 'clip_grad_norm')",
    ),
    "transform without its option": (
        {"transforms": ("step_size",)},
        _pair,
        "transforms has 'step_size' but NoOpts has no 'step_size' option",
    ),
    "two problems at once": (
        {"options": ClipOpts, "transforms": ("step_size",), "needs": ("gradient", "Jacobian")},
        _pair,
        "needs must be a non-empty tuple from ('gradient', 'function values', 'Hessian', "
        "'Hessian-vector products'), got ('gradient', 'Jacobian'); "
        "transforms has 'step_size' but ClipOpts has no 'step_size' option",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_registration_refuses_an_entry_that_breaks_the_contract(case):
    from optrun.core.optimizers import ContractError, register_optimizer

    arguments, make, problem = REFUSED[case]
    arguments = {"options": NoOpts, "description": "a test entry", **arguments}
    with pytest.raises(ContractError) as info:
        register_optimizer("test-refused", **arguments)(make)
    message = str(info.value)
    assert message.startswith("optimizer 'test-refused' cannot be registered: "), message
    assert problem in message, message
    assert "test-refused" not in OPTIMIZERS


def test_make_must_return_what_the_capabilities_say():
    """A step_size method returns a StepRule (its update takes the step size);
    any other returns an Optimizer. Checked when the optimizer is made."""
    from optrun.core.optimizers import ContractError, StepRule, register_optimizer

    class StepOpts(optrun.Options):
        step_size: float = 0.1

    register_optimizer(
        "test-wrong-kind", options=StepOpts, description="returns an Optimizer", transforms=("step_size",)
    )(_pair)
    register_optimizer("test-nothing", options=NoOpts, description="returns None")(_nothing)
    try:
        with pytest.raises(
            ContractError, match=r"optimizer 'test-wrong-kind': make returned a Optimizer, not a StepRule"
        ):
            OPTIMIZERS.get("test-wrong-kind").make(StepOpts(), None)
        with pytest.raises(
            ContractError, match=r"optimizer 'test-nothing': make returned a NoneType, not an Optimizer"
        ):
            OPTIMIZERS.get("test-nothing").make(NoOpts(), None)
    finally:
        OPTIMIZERS.unregister("test-wrong-kind")
        OPTIMIZERS.unregister("test-nothing")
    # a correct StepRule gets the schedule and the step-size channel from the wrapper
    register_optimizer("test-rule", options=StepOpts, description="gd as a rule", transforms=("step_size",))(
        lambda options, oracle: StepRule(lambda x0: (), lambda g, s, x, eta: (-eta * g, s, eta))
    )
    try:
        opt = OPTIMIZERS.get("test-rule").make(StepOpts(), None)
        out, state = steps(opt, GRADS)
    finally:
        OPTIMIZERS.unregister("test-rule")
    assert opt.name == "test-rule"
    np.testing.assert_array_equal(out, -0.1 * np.array(GRADS))  # the rule's -eta * g: the same product
    assert (state.step_size, state.count, state.inner) == (0.1, 3, ())


def test_every_registered_optimizer_is_named_and_its_state_reports_a_step_size():
    from optrun.core.optimizers import OptimizerState

    for name, entry in OPTIMIZERS.items():
        if not entry.pure:
            continue  # SciPy's: tests/test_scipy_methods.py
        opt = entry.make(entry.options(), Oracle(lambda x: anp.sum(x**2)))
        assert opt.name == name
        assert isinstance(opt.init(np.ones(2)), OptimizerState)


# ------------------------------------------------------------- backtracking
def square_oracle():
    return Oracle(lambda x: x[0] ** 2)


def backtracking(oracle, **options):
    entry = OPTIMIZERS.get("backtracking")
    return entry.make(entry.options(**options), oracle)


def test_backtracking_by_hand_counts_trial_evaluations():
    # f = x^2 at x = 1, g = 2, t0 = 2: t = 2 -> x = -3 (f 9), t = 1 -> x = -1 (f 1, no decrease),
    # t = 0.5 -> x = 0 (f 0 <= 1 - 1e-4 * 0.5 * 4): accepted at the third trial
    oracle = square_oracle()
    opt = backtracking(oracle, step_size=2.0)
    x = np.array([1.0])
    step, state = opt.update(np.array([2.0]), opt.init(x), x)
    np.testing.assert_array_equal(step, [-1.0])
    assert (state.step_size, state.inner.trials, state.inner.fun) == (0.5, 3, 0.0)
    assert oracle.nfev == 4  # f(x) once, then three trials


def test_backtracking_reuses_f_at_the_accepted_point():
    # t0 = 0.4 is accepted at once from x = 1 (f 0.04) and again from x = 0.2 (f 0.0016)
    oracle = square_oracle()
    opt = backtracking(oracle, step_size=0.4)
    x = np.array([1.0])
    state = opt.init(x)
    step, state = opt.update(np.array([2.0]), state, x)
    x = x + step
    # 1 - 0.4 * 2 and then 0.2 - 0.4 * 0.4: a few roundings at |x| <= 1, left absolute by the cancellation
    np.testing.assert_allclose(x, [0.2], rtol=0, atol=rounding(2))
    assert oracle.nfev == 2
    step, state = opt.update(np.array([0.4]), state, x)
    np.testing.assert_allclose(x + step, [0.04], rtol=0, atol=rounding(4))
    # f = x^2 at x = 0.04 within rounding(4): relative error 2 rounding(4) / 0.04 (and the square's own rounding)
    assert state.inner.fun == pytest.approx(0.0016, rel=2 * rounding(4) / 0.04 + rounding(1))
    assert oracle.nfev == 3  # only the trial: f at x = 0.2 was known


def test_backtracking_gives_up_when_no_step_decreases_f():
    oracle = square_oracle()
    opt = backtracking(oracle, step_size=1.0, max_shrinks=3)
    x = np.array([1.0])
    with pytest.raises(OptimizerFinished) as info:
        opt.update(np.array([-2.0]), opt.init(x), x)  # a wrong-signed gradient: -g goes uphill
    assert not info.value.success
    assert "Armijo" in info.value.message
    assert oracle.nfev == 1 + 4  # f(x), then t = 1, 0.5, 0.25, 0.125


def test_backtracking_never_accepts_a_step_without_decrease():
    # f is flat: c t |g|^2 = 1e-4 * 1e-18 is far below the resolution of f = 1, so
    # f(x) - c t |g|^2 rounds to f(x); a step that leaves f unchanged must still be refused
    oracle = Oracle(lambda x: 1.0 + 0.0 * x[0])
    opt = backtracking(oracle, step_size=1.0)
    x = np.array([1.0])
    with pytest.raises(OptimizerFinished):
        opt.update(np.array([1e-9]), opt.init(x), x)


def trid_grad(x):
    g = 2 * (x - 1)
    g[1:] -= x[:-1]
    g[:-1] -= x[1:]
    return g


def trid_f(x):
    return float(np.sum((x - 1) ** 2) - np.sum(x[1:] * x[:-1]))


def test_backtracking_run_satisfies_armijo_and_counts_nfev(workdir):
    c, shrink = 0.3, 0.5
    result = optrun.run(
        {
            "problem": {"name": "trid", "dim": 2},
            "optimizer": {
                "name": "backtracking",
                "c": c,
                "shrink": shrink,
                "step_size": {"schedule": "exponential", "value": 2.0, "decay_rate": 0.9},
            },
            "stop": {"max_iter": 15, "grad_tol": None},
            "output": {"plots": False},
        }
    )
    trace = result.trace
    xs = np.column_stack([trace["x[0]"], trace["x[1]"]])
    for k in range(1, result.nit + 1):
        x, g, t = xs[k - 1], trid_grad(xs[k - 1]), trace["step_size"][k]
        t0 = 2.0 * 0.9 ** (k - 1)  # the schedule's first trial at update k
        trials = 1 + round(math.log(t0 / t) / math.log(1 / shrink))
        assert t == t0 * shrink ** (trials - 1)  # the schedule's own 2.0 * 0.9**t, halved: exact
        # t <= 2 times this g's difference from autograd's (a few roundings of terms up to 4), and x - t g once
        np.testing.assert_allclose(xs[k], x - t * g, rtol=0, atol=rounding(8, 4))
        # Armijo at the accepted step; the step before it (if any) was rejected. Both sides of each inequality are
        # apart by >= 5e-11 in exact arithmetic here (f's decreases are >= 4e-11 down to row 15), where f (|f| <= 2)
        # and this g @ g round by ~1e-15: rounding cannot flip them
        assert trace["f"][k] - trace["f"][k - 1] <= -c * t * (g @ g)
        if trials > 1:
            assert trid_f(x - (t / shrink) * g) - trid_f(x) > -c * (t / shrink) * (g @ g)
        # one value_and_grad per iteration, one value per trial, and f(x0) once at the start
        assert trace["nfev"][k] - trace["nfev"][k - 1] == 1 + trials + (k == 1)
    assert trace["njev"][-1] == result.nit + 1
    assert result.nfev == trace["nfev"][-1]


def test_backtracking_stops_at_the_resolution_of_f(workdir):
    # On Trid in 10-D (f* = -210) f cannot resolve a decrease once |g| ~ 1e-6: the line search says so
    # instead of looping; f is then within sqrt(eps) of f*, so the run is converged at the precision limit
    # (stopping.stalled_reason), with both facts in its message.
    result = optrun.run(
        {
            "problem": {"name": "trid", "dim": 10},
            "optimizer": "backtracking",
            "stop": {"max_iter": 3000, "grad_tol": 1e-8},
            "output": {"plots": False},
        }
    )
    assert result.status == "converged"
    assert "Armijo" in result.message and "converged to floating-point precision" in result.message
    assert result.nit < 3000
    # above grad_tol (the run did not stop there), and below where f resolves an Armijo decrease: at the trial
    # t = 1/4 <= 1/lambda_max f drops by >= t |g|^2 / 2 exactly, and the computed drop is off by at most twice f's
    # rounding; the search fails only if t |g|^2 (1/2 - c) <= 2 TRID10_F_ROUNDING, i.e. |g| <= sqrt(16 TRID10_F_ROUNDING)
    assert 1e-8 < result.grad_norm < math.sqrt(16 * TRID10_F_ROUNDING)


# ------------------------------------------------------------------- newton
def goldfield(v):
    return 2 * v[0] ** 2 - 4 * v[0] * v[1] + v[1] ** 4 + 2


def newton(oracle, **options):
    entry = OPTIMIZERS.get("newton")
    return entry.make(entry.options(**options), oracle)


# Trid 2-D's H + I = [[3, -1], [-1, 3]] (condition number 2): Cholesky and two triangular solves, ~20 roundings of
# values up to 3, backward stable; the reference rounds too: |p - p*| <= rounding(60) |p|_max
SOLVE_2X2 = rounding(60)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_newton_solves_a_convex_quadratic_in_one_step(solver, workdir):
    result = optrun.run(
        {
            "problem": {"name": "trid", "dim": 10},
            "optimizer": {"name": "newton", "solver": solver},
            "stop": {"max_iter": 5},
            "output": {"plots": False},
        }
    )
    assert result.status == "converged"
    assert result.nit == 1
    i = np.arange(1, 11)
    # on a quadratic x - x* = H^-1 g exactly: |x - x*| <= |g| / lambda_min, with g's rounding;
    # f - f* <= |g|^2 / (2 lambda_min), with f's
    g = result.grad_norm + TRID10_G_ROUNDING
    np.testing.assert_allclose(result.params["x"], i * (11 - i), rtol=0, atol=g / trid_lambda_min(10))
    assert result.fun == pytest.approx(-210, abs=g**2 / (2 * trid_lambda_min(10)) + TRID10_F_ROUNDING)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_newton_damps_an_indefinite_hessian(solver):
    # goldfield at (0.1, -0.1): g = (0.8, -0.404), H = [[4, -4], [-4, 0.12]] (det < 0).
    # lambda = 0, 1e-3, 1e-2, 0.1, 1 leave H + lambda I indefinite; lambda = 10 gives
    # [[14, -4], [-4, 10.12]], det 125.68, so p = -[[10.12, 4], [4, 14]] g / 125.68
    oracle = Oracle(goldfield)
    opt = newton(oracle, solver=solver)
    x = np.array([0.1, -0.1])
    g = oracle.grad(x)
    np.testing.assert_allclose(g, [0.8, -0.404], rtol=rounding(10))  # a few roundings of terms of one sign
    step, state = opt.update(g, opt.init(x), x)
    expected = np.array([-6.48 / 125.68, 2.456 / 125.68])
    # H + 10 I has eigenvalues 7.6 and 16.5. cholesky: a backward-stable solve (condition number 2.2) of entries that
    # round, and a reference with 4x cancellation (3.2 - 5.656): rounding(100) of |p|; cg stops at |r| <= cg_rtol |g|,
    # so |p - p*| <= 1e-10 |g| / 7.6
    atol = {"cholesky": rounding(100, np.abs(expected).max()), "cg": 1e-10 * np.linalg.norm(g) / 7.6}[solver]
    np.testing.assert_allclose(step, expected, rtol=0, atol=atol)
    assert state.inner.damping == pytest.approx(10.0, rel=rounding(4))  # 1e-3 times 10 four times
    assert not state.inner.fallback
    assert g @ step < 0


def test_newton_falls_back_to_the_negative_gradient():
    oracle = Oracle(goldfield)
    opt = newton(oracle, max_damping_tries=0, step_size=0.5)
    x = np.array([0.1, -0.1])
    step, state = opt.update(oracle.grad(x), opt.init(x), x)
    np.testing.assert_allclose(step, [-0.4, 0.202], rtol=rounding(10))  # -0.5 g: g's few roundings, halved exactly
    assert state.inner.fallback and math.isnan(state.inner.damping)
    assert oracle.nhev == 1


def test_newton_falls_back_after_the_last_damping_try():
    # lambda = 0, 1e-3, 1e-2 (two raises) all leave H + lambda I indefinite
    oracle = Oracle(goldfield)
    opt = newton(oracle, max_damping_tries=2)
    x = np.array([0.1, -0.1])
    step, state = opt.update(oracle.grad(x), opt.init(x), x)
    np.testing.assert_allclose(step, [-0.8, 0.404], rtol=rounding(10))  # -g: g's few roundings
    assert state.inner.fallback


def test_newton_with_fixed_damping_by_hand():
    # Trid 2-D at (1, -1): g = (1, -5), H + 1 I = [[3, -1], [-1, 3]], inverse [[3, 1], [1, 3]] / 8
    oracle = Oracle(lambda x: anp.sum((x - 1) ** 2) - x[0] * x[1])
    opt = newton(oracle, damping=1.0)
    x = np.array([1.0, -1.0])
    step, state = opt.update(np.array([1.0, -5.0]), opt.init(x), x)
    np.testing.assert_allclose(step, [0.25, 1.75], rtol=0, atol=SOLVE_2X2 * 1.75)
    assert state.inner.damping == 1.0 and not state.inner.fallback


def test_newton_escapes_the_saddle_region_to_a_minimum(workdir):
    result = optrun.run(
        {"problem": "goldfield", "optimizer": "newton", "stop": {"max_iter": 100}, "output": {"plots": False}}
    )
    assert result.status == "converged"
    # at (+-1, +-1) H = [[4, -4], [-4, 12]], lambda_min = 8 - sqrt(32): |(x, y) - x*| <= |g| / lambda_min (x2 for the
    # quartic term), g's entries (4x - 4y, 4y^3 - 4x) rounding at terms of 4; f = 2x^2 - 4xy + y^4 + 2 sums terms of 9
    lam = 8 - math.sqrt(32)
    g = result.grad_norm + math.sqrt(2) * rounding(2, 4)
    assert result.fun == pytest.approx(1.0, abs=g**2 / lam + rounding(10, 9))
    assert abs(result.params["x"]) == pytest.approx(1.0, abs=2 * g / lam)
    assert result.params["y"] == pytest.approx(result.params["x"], abs=4 * g / lam)


@pytest.mark.slow
def test_newton_imports_scipy_only_for_cg():
    code = (
        "import sys, numpy as np; from optrun.core.optimizers import OPTIMIZERS; from optrun.core.oracle import Oracle\n"
        "e = OPTIMIZERS.get('newton'); o = Oracle(lambda x: (x ** 2).sum())\n"
        "opt = e.make(e.options(), o); opt.update(np.ones(2), opt.init(np.ones(2)), np.ones(2))\n"
        "print('scipy' in sys.modules)\n"
        "opt = e.make(e.options(solver='cg'), o); opt.update(np.ones(2), opt.init(np.ones(2)), np.ones(2))\n"
        "print('scipy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


# --------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "optimizer, expected",
    [
        ({"name": "rmsprop", "decay": 2}, "optimizer.decay: input should be less than 1, got 2"),
        ({"name": "rmsprop", "eps": 0}, "optimizer.eps: input should be greater than 0, got 0"),
        ({"name": "momentum", "beta": 1.0}, "optimizer.beta: input should be less than 1, got 1.0"),
        ({"name": "nesterov", "beta": -0.1}, "optimizer.beta: input should be greater than or equal to 0, got -0.1"),
        (
            {"name": "adagrad", "initial_accumulator": -1},
            "optimizer.initial_accumulator: input should be greater than or equal to 0, got -1",
        ),
        ({"name": "adam", "b2": 1}, "optimizer.b2: input should be less than 1, got 1"),
        (
            {"name": "adamw", "weight_decay": -0.01},
            "optimizer.weight_decay: input should be greater than or equal to 0, got -0.01",
        ),
        ({"name": "adamw", "clip_grad_norm": 0}, "optimizer.clip_grad_norm: input should be greater than 0, got 0"),
        ({"name": "gd", "step_size": -1}, "optimizer.step_size: input should be greater than 0, got -1"),
        (
            {"name": "gd", "step_size": "0.1"},
            "optimizer.step_size: input should be a valid number or a schedule mapping",
        ),
        ({"name": "backtracking", "shrink": 1}, "optimizer.shrink: input should be less than 1, got 1"),
        ({"name": "backtracking", "c": 0}, "optimizer.c: input should be greater than 0, got 0"),
        (
            {"name": "backtracking", "max_shrinks": -1},
            "optimizer.max_shrinks: input should be greater than or equal to 0, got -1",
        ),
        ({"name": "newton", "step_size": 0}, "optimizer.step_size: input should be greater than 0, got 0"),
        ({"name": "newton", "damping": -1}, "optimizer.damping: input should be greater than or equal to 0, got -1"),
        (
            {"name": "newton", "damping_increase": 1},
            "optimizer.damping_increase: input should be greater than 1, got 1",
        ),
        ({"name": "newton", "solver": "lu"}, "optimizer.solver: input should be 'cholesky' or 'cg', got 'lu'"),
        ({"name": "adam", "clip": 1}, "optimizer.clip: unknown key 'clip'"),
    ],
)
def test_bad_hyperparameters_name_the_key_value_and_range(optimizer, expected):
    with pytest.raises(ConfigError) as info:
        load_config({"problem": "trid", "optimizer": optimizer})
    message = str(info.value)
    assert message.startswith(expected), message
    assert "\n" not in message


@pytest.mark.parametrize("name", WITH_STEP_SIZE)
def test_every_first_order_method_takes_a_schedule(name):
    step_size = {"schedule": "step", "value": 0.2, "every": 2, "factor": 0.5}
    cfg = load_config({"problem": "trid", "optimizer": {"name": name, "step_size": step_size}})
    opt = cfg.optimizer.entry.make(cfg.optimizer.options, Oracle(lambda x: (x**2).sum()))
    state = opt.init(np.ones(2))
    used = []
    x = np.ones(2)
    for _ in range(5):
        step, state = opt.update(2 * x, state, x)
        x = x + step
        used.append(state.step_size)
    assert used == [0.2, 0.2, 0.1, 0.1, 0.05]  # 0.2 * 0.5**k, exact (every trial is accepted: f halves or better)


# ------------------------------------------- every optimizer, end to end
def trid_lambda_min(d):
    return 2 - 2 * math.cos(math.pi / (d + 1))  # the Trid Hessian is tridiag(-1, 2, -1)


# name -> (problem, smallest Hessian eigenvalue at the minimizer, f's rounding there): at Trid 2-D's (2, 2) f's terms
# add up to 6; Rosenbrock's vanish at (1, 1), where y - x^2 rounds at x^2 ~ 1
PROBLEMS = {
    "trid2": ({"name": "trid", "dim": 2}, trid_lambda_min(2), rounding(8, 6)),
    "trid10": ({"name": "trid", "dim": 10}, trid_lambda_min(10), TRID10_F_ROUNDING),
    "rosenbrock": ("rosenbrock", float(np.linalg.eigvalsh([[802.0, -400.0], [-400.0, 200.0]])[0]), rounding(8, 1)),
}

# optimizer -> problem -> (optimizer options, max_iter[, grad_tol]); grad_tol defaults to 1e-8.
# An optimizer without an entry runs with its declared defaults (DEFAULT_BUDGET); where those do not reach the
# reference, the test fails with the entry to add here (settings, untuned_message). Notes: gd, adagrad,
# rmsprop and backtracking take ~10^4 steps on Rosenbrock (condition number ~2500), so there they
# stop at grad_tol 1e-4; rmsprop (no momentum) only settles with a decaying step size; adamw runs
# with weight_decay 0 (decay moves it off the minimizer of f; its rule is checked by hand above);
# backtracking stops where f can still resolve an Armijo decrease (Trid 10-D has f* = -210).
SETTINGS = {
    "gd": {
        "trid2": ({"step_size": 0.5}, 200),
        "trid10": ({"step_size": 0.5}, 1000),
        "rosenbrock": ({"step_size": 0.0019}, 12000, 1e-4),
        "goldfield": ({"step_size": 0.1}, 200),
    },
    "momentum": {
        "trid2": ({"step_size": 0.3, "beta": 0.3}, 200),
        "trid10": ({"step_size": 0.1}, 1000),
        "rosenbrock": ({"step_size": 0.0015, "beta": 0.95}, 3000),
        "goldfield": ({"step_size": 0.1, "beta": 0.3}, 200),
    },
    "nesterov": {
        "trid2": ({"step_size": 0.3, "beta": 0.3}, 200),
        "trid10": ({"step_size": 0.1}, 1000),
        "rosenbrock": ({"step_size": 0.0008, "beta": 0.97}, 3000),
        "goldfield": ({"step_size": 0.1, "beta": 0.3}, 200),
    },
    "adagrad": {
        "trid2": ({"step_size": 1.0}, 500),
        "trid10": ({"step_size": 3.0}, 2000),
        "rosenbrock": ({"step_size": 0.7}, 12000, 1e-4),
        "goldfield": ({"step_size": 1.0}, 500),
    },
    "rmsprop": {
        "trid2": ({"step_size": {"schedule": "cosine", "value": 0.05, "decay_steps": 2000}}, 2500),
        "trid10": ({"step_size": {"schedule": "cosine", "value": 0.05, "decay_steps": 2000}}, 2500),
        "rosenbrock": ({"step_size": {"schedule": "step", "value": 0.01, "every": 1500, "factor": 0.2}}, 9000, 1e-4),
        "goldfield": ({"step_size": {"schedule": "cosine", "value": 0.05, "decay_steps": 1000}}, 1500),
    },
    "adam": {
        "trid2": ({"step_size": 0.1}, 1000),
        "trid10": ({"step_size": 0.2}, 2000),
        "rosenbrock": ({"step_size": 0.05}, 4000),
        "goldfield": ({"step_size": 0.1}, 1000),
    },
    "adamw": {
        "trid2": ({"step_size": 0.1, "weight_decay": 0.0}, 1000),
        "trid10": ({"step_size": 0.2, "weight_decay": 0.0}, 2000),
        "rosenbrock": ({"step_size": 0.05, "weight_decay": 0.0}, 4000),
        "goldfield": ({"step_size": 0.1, "weight_decay": 0.0}, 1000),
    },
    "backtracking": {
        "trid2": ({}, 200, 1e-7),
        "trid10": ({}, 2000, 1e-5),
        "rosenbrock": ({"step_size": 0.002}, 12000, 1e-4),
        "goldfield": ({}, 200),
    },
    "newton": {"trid2": ({}, 5), "trid10": ({}, 5), "rosenbrock": ({}, 20), "goldfield": ({}, 5)},
    # SciPy-backed methods (optrun/optimizers/scipy_methods.py)
    "lbfgs": {"trid2": ({}, 200), "trid10": ({}, 200), "rosenbrock": ({}, 200), "goldfield": ({}, 200)},
    "bfgs": {"trid2": ({}, 200), "trid10": ({}, 200), "rosenbrock": ({}, 200), "goldfield": ({}, 200)},
    "cg": {"trid2": ({}, 200), "trid10": ({"gtol": 1e-6}, 200, 1e-6), "rosenbrock": ({}, 500), "goldfield": ({}, 200)},
    "newton-cg": {"trid2": ({}, 200), "trid10": ({}, 200), "rosenbrock": ({}, 500), "goldfield": ({}, 200)},
    "trust-ncg": {"trid2": ({}, 200), "trid10": ({}, 200), "rosenbrock": ({}, 500), "goldfield": ({}, 200)},
    "trust-exact": {"trid2": ({}, 200), "trid10": ({}, 200), "rosenbrock": ({}, 500), "goldfield": ({}, 200)},
    "nelder-mead": {
        "trid2": ({}, 2000, 1e-6),
        "trid10": ({"adaptive": True, "xatol": 1e-6, "fatol": 1e-10}, 20000, 1e-5),
        "rosenbrock": ({}, 2000, 1e-6),
        "goldfield": ({}, 2000, 1e-6),
    },
}


END_TO_END = ["trid2", "trid10", "rosenbrock", "goldfield"]  # the problems SETTINGS tunes for (goldfield: with fix)
DEFAULT_BUDGET = (20000, 1e-4)  # max_iter and grad_tol for an optimizer without tuned settings


def settings(name, problem):
    """(optimizer spec, max_iter, grad_tol, tuned): the tuned settings where
    SETTINGS has them; otherwise the optimizer's declared defaults (its options
    model's) with DEFAULT_BUDGET, and tuned False."""
    if name not in SETTINGS:
        return {"name": name}, *DEFAULT_BUDGET, False
    options, max_iter, *tol = SETTINGS[name][problem]
    return {"name": name, **options}, max_iter, (tol[0] if tol else 1e-8), True


def untuned_message(name, problem, what):
    """What a contributor adds when an optimizer's defaults do not reach a reference."""
    entry = OPTIMIZERS.get(name)
    defaults = {
        key: field.default
        for key, field in entry.options.model_fields.items()
        if not field.is_required() and key != "clip_grad_norm"
    }
    rows = ", ".join(f'"{p}": (OPTIONS, MAX_ITER)' for p in END_TO_END)
    return (
        f"optimizer '{name}' has no tuned settings, and with its declared defaults {defaults} "
        f"(max_iter {DEFAULT_BUDGET[0]}, grad_tol {DEFAULT_BUDGET[1]:g}) on '{problem}' it {what}: add an entry to "
        f'SETTINGS in tests/test_optimizers.py, "{name}": {{{rows}}}, each OPTIONS a dict of the options that '
        "converge there (keep anything that moves the minimizer, e.g. a weight decay, at 0), MAX_ITER its budget, "
        "and an optional third item, its grad_tol (default 1e-8)"
    )


def test_tuned_settings_are_for_registered_optimizers_and_every_problem():
    stale = sorted(set(SETTINGS) - set(OPTIMIZERS))
    assert not stale, f"SETTINGS in tests/test_optimizers.py has entries for unregistered optimizers: {stale}"
    for name, per_problem in SETTINGS.items():
        assert sorted(per_problem) == sorted(END_TO_END), f"SETTINGS['{name}'] needs exactly {END_TO_END}"


def gradient_norm(spec, x):
    """|grad f(x)| by autograd, for a run that had no gradient (Nelder-Mead)."""
    from autograd import grad

    from optrun.core.problems import PROBLEMS as REGISTERED

    name, options = (
        (spec, {}) if isinstance(spec, str) else (spec["name"], {k: v for k, v in spec.items() if k != "name"})
    )
    entry = REGISTERED.get(name)
    problem = entry.build(entry.options(**options))
    return float(np.linalg.norm(grad(lambda v: problem.objective({"x": v}))(np.asarray(x, dtype=float))))


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.slow
def test_every_registered_optimizer_reaches_the_reference(name, problem, workdir):
    optimizer, max_iter, grad_tol, tuned = settings(name, problem)
    spec, lam, f_rounding = PROBLEMS[problem]
    result = optrun.run(
        {
            "problem": spec,
            "optimizer": optimizer,
            "stop": {"max_iter": max_iter, "grad_tol": grad_tol},
            "output": {"plots": False},
        }
    )
    with contextlib.nullcontext() if tuned else untuned(name, problem, result):
        reaches_the_reference(result, spec, lam, f_rounding, grad_tol)


@contextlib.contextmanager
def untuned(name, problem, result):
    """An assertion that fails for an optimizer run on its defaults says what to add to SETTINGS."""
    try:
        yield
        return
    except AssertionError as error:
        what = (
            f"ended {result.status} ({result.message})"
            if result.status != "converged"
            else f"converged away from the reference ({str(error).strip().splitlines()[0]})"
        )
    raise pytest.fail.Exception(untuned_message(name, problem, what), pytrace=False) from None  # the message alone


def reaches_the_reference(result, spec, lam, f_rounding, grad_tol):
    assert result.status == "converged", result.message
    # |g| where the run ended: the runner's (<= grad_tol by its rule, or wherever SciPy's own stop left it); for
    # Nelder-Mead, which the runner gives no gradient, autograd's, which its xatol/fatol above are set to bring
    # below grad_tol
    if math.isfinite(result.grad_norm):
        g = max(grad_tol, result.grad_norm)
    else:
        g = gradient_norm(spec, result.params["x"])
        assert g <= grad_tol, f"Nelder-Mead ended at |g| = {g:.3g}, above {grad_tol:g}"
        g = grad_tol
    ref = result.reference
    (x_star,) = [np.asarray(p["x"]) for p in ref.params]
    # near a minimizer |x - x*| <= |g| / lambda_min and f - f* <= |g|^2 / (2 lambda_min): exact on the quadratic Trid,
    # to first order on Rosenbrock, hence a slack of 2. The computed g is within ~1e-13 of the true one (a few
    # roundings of terms up to 60; on Rosenbrock 400 x (y - x^2)), far inside that slack; f as computed rounds too.
    np.testing.assert_allclose(result.params["x"], x_star, rtol=0, atol=2 * g / lam)
    assert result.fun == pytest.approx(ref.fun, abs=g**2 / lam + f_rounding)


# ------------------------------------------------------------- fix: works
GOLDFIELD_FIX = {
    "problem": "goldfield",
    "init": {"kind": "values", "values": {"x": 0.1}},
    "fix": {"y": 1.2},
    "output": {"plots": False},
}


def test_fix_with_gd_matches_the_closed_form(workdir):
    # df/dx = 4x - 4.8 with y = 1.2: x_k = 1.2 - 1.1 * 0.96**k
    result = optrun.run(
        {**GOLDFIELD_FIX, "optimizer": {"name": "gd", "step_size": 0.01}, "stop": {"max_iter": 300, "grad_tol": None}}
    )
    assert result.status == "max_iter"
    # each step rounds by a few eps of |x| <= 1.2, and the error contracts by 0.96 a step: in all at most
    # 1 / (1 - 0.96) = 25 steps' worth, rounding(4 * 25, 1.2); the closed form rounds by a few eps of 1.2 too
    assert result.params["x"] == pytest.approx(1.2 - 1.1 * 0.96**300, abs=rounding(100, 1.2))
    assert result.params["y"] == 1.2
    np.testing.assert_allclose(result.trace["x"][:4], 1.2 - 1.1 * 0.96 ** np.arange(4), rtol=0, atol=rounding(8, 1.2))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fix_works_with_every_optimizer(name, workdir):
    optimizer, max_iter, grad_tol, tuned = settings(name, "goldfield")
    result = optrun.run({**GOLDFIELD_FIX, "optimizer": optimizer, "stop": {"max_iter": max_iter, "grad_tol": grad_tol}})
    with contextlib.nullcontext() if tuned else untuned(name, "goldfield", result):
        assert result.status == "converged", result.message
        # f(x) = 2x^2 - 4.8x + const: the minimizer is x = 1.2 and |x - 1.2| = |g| / 4, g = 4x - 4y rounding at 4.8
        # (Nelder-Mead, which the runner gives no gradient, ends by its own xatol 1e-10 and fatol 1e-12, far inside)
        assert result.params["x"] == pytest.approx(1.2, abs=(grad_tol + rounding(2, 4.8)) / 4)
    assert result.params["y"] == 1.2
    assert np.all(result.trace["y"] == 1.2)
