"""The runner loop: stop rules, statuses, counting and the best point."""

import math
from typing import NamedTuple

import autograd.numpy as anp
import numpy as np
import pytest

from optrun.config import StopConfig
from optrun.core.optimizers import OPTIMIZERS
from optrun.core.oracle import Oracle
from optrun.core.runner import minimize
from optrun.core.stopping import TERMINATION


class Recorder:
    def __init__(self):
        self.rows = []

    def record(self, k, f, grad_norm, step_size, t, nfev, njev, x, g):
        self.rows.append((k, f, grad_norm, step_size, nfev, njev, x.copy()))


def gd(step_size):
    entry = OPTIMIZERS.get("gd")
    return entry.make(entry.options(step_size=step_size), None)


def quadratic(x):
    return anp.sum((x - 1.0) ** 2)


def run(fun, x0, step_size=0.1, **stop):
    rec = Recorder()
    outcome = minimize(Oracle(fun), np.asarray(x0, dtype=float), gd(step_size), StopConfig(**stop), [rec])
    return outcome, rec.rows


def test_rows_are_hand_computed_gd_steps():
    # f = sum (x-1)^2, g = 2(x-1): x_k - 1 = (1 - 2*0.1)^k (x_0 - 1)
    outcome, rows = run(quadratic, [3.0], step_size=0.1, max_iter=5, grad_tol=None)
    assert [r[0] for r in rows] == [0, 1, 2, 3, 4, 5]
    for k, f, gnorm, step, nfev, njev, x in rows:
        expected_x = 1.0 + 0.8**k * 2.0
        assert x[0] == pytest.approx(expected_x, rel=1e-15)
        assert f == pytest.approx((expected_x - 1) ** 2, rel=1e-14)
        assert gnorm == pytest.approx(2 * abs(expected_x - 1), rel=1e-14)
        assert nfev == njev == k + 1
        assert math.isnan(step) if k == 0 else step == 0.1
    assert outcome.status == "max_iter" and outcome.nit == 5 and outcome.nfev == 6


def test_converged_on_grad_tol():
    outcome, rows = run(quadratic, [3.0, -2.0], grad_tol=1e-6, max_iter=1000)
    assert outcome.status == "converged" and outcome.reason == "grad_tol"
    assert outcome.grad_norm <= 1e-6 < rows[-2][2]
    assert outcome.nit == rows[-1][0]


def test_converged_at_the_start_takes_no_step():
    outcome, rows = run(quadratic, [1.0], grad_tol=1e-8)
    assert outcome.status == "converged" and outcome.nit == 0 and len(rows) == 1


def test_converged_on_f_tol():
    outcome, rows = run(quadratic, [3.0], grad_tol=None, f_tol=1e-3, max_iter=1000)
    assert outcome.reason == "f_tol"
    f_prev, f_last = rows[-2][1], rows[-1][1]
    assert abs(f_last - f_prev) <= 1e-3 * max(1, abs(f_last))
    assert abs(rows[-2][1] - rows[-3][1]) > 1e-3 * max(1, abs(rows[-2][1]))


def test_time_limit():
    clock = iter(np.arange(0.0, 1e6, 0.5))  # each clock reading is 0.5 s later
    rec = Recorder()
    outcome = minimize(
        Oracle(quadratic),
        np.array([3.0]),
        gd(1e-6),
        StopConfig(max_iter=10**9, grad_tol=None, time_limit=10.0),
        [rec],
        clock=lambda: next(clock),
    )
    assert outcome.status == "time_limit"
    assert 15 <= outcome.nit <= 25


def test_diverged_on_non_finite_f():
    # gd on x^4 with step 1 from 10: x <- x - 4x^3 explodes and overflows to inf
    outcome, rows = run(lambda x: anp.sum(x**4), [10.0], step_size=1.0, grad_tol=None, max_iter=10**6, divergence=1e308)
    assert outcome.status == "diverged" and outcome.reason in ("nonfinite_f", "nonfinite_grad")
    assert not math.isfinite(rows[-1][1]) or not math.isfinite(rows[-1][2])


def test_diverged_on_the_bound_and_best_point_is_kept():
    outcome, rows = run(quadratic, [1.5], step_size=1.5, grad_tol=None, max_iter=10**6, divergence=1e6)
    assert outcome.status == "diverged" and outcome.reason == "bound"
    assert abs(outcome.fun) > 1e6
    fs = [r[1] for r in rows]
    assert outcome.best_fun == min(fs) and outcome.best_iter == int(np.argmin(fs)) == 0
    assert "exceeded the divergence bound" in outcome.message


def test_failed_when_the_objective_raises():
    def fun(x):
        if float(getattr(x[0], "_value", x[0])) < 2.0:
            raise ValueError("left the domain")
        return anp.sum((x - 1.0) ** 2)

    outcome, rows = run(fun, [3.0], step_size=0.1, grad_tol=None, max_iter=100)
    # x_k = 1 + 2 * 0.8^k; x_3 = 2.024, x_4 = 1.8192 raises
    assert outcome.status == "failed"
    assert outcome.nit == 3 and len(rows) == 4
    assert outcome.message == "the objective raised ValueError: left the domain while computing iteration 4"


def test_a_failing_observer_is_named_not_the_objective():
    class Failing:
        def record(self, k, *rest):
            if k == 3:
                raise ValueError("no room")

    outcome = minimize(
        Oracle(quadratic), np.array([3.0]), gd(0.1), StopConfig(grad_tol=None, max_iter=100), [Failing()]
    )
    assert outcome.status == "failed" and outcome.nit == 3
    assert outcome.message == "an observer raised ValueError: no room while computing iteration 3"


def test_keyboard_interrupt_ends_as_interrupted():
    calls = {"n": 0}

    def fun(x):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return anp.sum(x**2)

    outcome, rows = run(fun, [3.0], grad_tol=None, max_iter=100)
    assert outcome.status == "interrupted" and outcome.signum == 2
    assert outcome.nit == 8 and len(rows) == 9
    assert "interrupted by SIGINT" in outcome.message


def test_every_termination_reason_maps_to_a_spec_status():
    from optrun.core.status import Status

    assert {status for status, _ in TERMINATION.values()} == {s.value for s in Status}


def test_signal_flag_stops_at_the_next_iteration_and_a_second_signal_at_once():
    from optrun.core.runner import Interrupted, SignalFlag

    flag = SignalFlag()
    calls = {"n": 0}

    def fun(x):
        calls["n"] += 1
        if calls["n"] == 5:
            flag(15, None)  # as if SIGTERM arrived during this evaluation
        return anp.sum(x**2)

    rec = Recorder()
    outcome = minimize(Oracle(fun), np.array([3.0]), gd(0.1), StopConfig(grad_tol=None), [rec], interrupt=flag)
    assert outcome.status == "interrupted" and outcome.signum == 15 and outcome.nit == 4
    assert "interrupted by SIGTERM at iteration 4" == outcome.message
    with pytest.raises(Interrupted):
        flag(2, None)


def test_an_optimizer_whose_state_has_no_step_size_is_blamed_clearly():
    """The runner logs state.step_size; a state without it fails the run naming
    the optimizer, not as an error of the objective."""
    from optrun.core.optimizers import Optimizer

    broken = Optimizer(init=lambda x0: (), update=lambda g, s, x: (-0.1 * g, s))
    outcome = minimize(Oracle(lambda x: (x**2).sum()), np.array([1.0]), broken, StopConfig(max_iter=3))
    assert outcome.status == "failed" and outcome.reason == "contract"
    assert outcome.message.startswith(
        "the optimizer broke the optimizer contract at iteration 0: init returned a tuple without a step_size field"
    )


class Plain(NamedTuple):
    step_size: float


class NoStepSize(NamedTuple):
    velocity: float


def _good_init(x0):
    return Plain(0.1)


def _good_update(g, s, x):
    return -0.1 * g, s


# update -> the problem the message names (the state from init is fine in each case)
BROKEN_UPDATES = {
    "no step size": (
        lambda g, s, x: (-0.1 * g, NoStepSize(0.0)),
        "at iteration 1: the state is a NoStepSize without a step_size field",
    ),
    "step size not a number": (
        lambda g, s, x: (-0.1 * g, Plain("big")),  # type: ignore[arg-type]  # deliberately not a number
        "at iteration 1: the state's step_size is not a number: 'big'",
    ),
    "not a pair": (
        lambda g, s, x: -0.1 * g,
        "at iteration 1: update returned ndarray array([-0.2]), not (step, state)",
    ),
    "a triple": (lambda g, s, x: (-0.1 * g, s, 0.1), "at iteration 1: update returned tuple"),
    "wrong shape": (
        lambda g, s, x: (np.zeros((1, 1)), s),
        "at iteration 1: update returned a step of shape (1, 1) for x of shape (1,)",
    ),
    "a scalar step": (
        lambda g, s, x: (0.5, s),
        "at iteration 1: update returned a step of shape () for x of shape (1,)",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_UPDATES))
def test_a_registered_optimizer_that_breaks_the_contract_in_update_is_blamed_by_name(case):
    """A contract violation found during the run fails it, naming the optimizer,
    never as the objective's error (the state is read right after the update)."""
    from optrun.core.optimizers import OPTIMIZERS, Optimizer, register_optimizer
    from optrun.core.options import Options

    update, problem = BROKEN_UPDATES[case]

    class BrokenOptions(Options):
        pass

    name = "test-broken-update"
    register_optimizer(name, options=BrokenOptions, description="breaks the contract in update")(
        lambda options, oracle: Optimizer(_good_init, update)
    )
    try:
        opt = OPTIMIZERS.get(name).make(BrokenOptions(), None)
        outcome = minimize(Oracle(lambda x: (x**2).sum()), np.array([1.0]), opt, StopConfig(max_iter=3))
    finally:
        OPTIMIZERS.unregister(name)
    assert outcome.status == "failed" and outcome.reason == "contract"
    assert outcome.message.startswith(f"optimizer '{name}' broke the optimizer contract {problem}"), outcome.message
    assert "objective" not in outcome.message
    assert outcome.nit == 0


def test_an_error_inside_the_optimizer_names_it():
    from optrun.core.optimizers import OPTIMIZERS, Optimizer, register_optimizer
    from optrun.core.options import Options

    class BuggyOptions(Options):
        pass

    def update(g, s, x):
        raise ZeroDivisionError("a bug in the method")

    register_optimizer("test-buggy", options=BuggyOptions, description="raises")(
        lambda options, oracle: Optimizer(_good_init, update)
    )
    try:
        outcome = minimize(
            Oracle(lambda x: (x**2).sum()),
            np.array([1.0]),
            OPTIMIZERS.get("test-buggy").make(BuggyOptions(), None),
            StopConfig(max_iter=3),
        )
    finally:
        OPTIMIZERS.unregister("test-buggy")
    assert outcome.status == "failed"
    assert (
        outcome.message
        == "optimizer 'test-buggy' raised ZeroDivisionError: a bug in the method while computing iteration 1"
    )


def test_an_objective_error_raised_through_the_optimizer_blames_the_objective():
    """A line search evaluates f itself: when f raises there, the objective is
    to blame, not the optimizer that called it."""
    entry = OPTIMIZERS.get("backtracking")

    def fun(x):
        if float(getattr(x[0], "_value", x[0])) < 0.5:
            raise ValueError("left the domain")
        return anp.sum(x**2)

    oracle = Oracle(fun)
    outcome = minimize(oracle, np.array([1.0]), entry.make(entry.options(), oracle), StopConfig(max_iter=3))
    # the first trial, x - 1.0 * 2 = -1, raises inside the line search
    assert outcome.status == "failed"
    assert outcome.message == "the objective raised ValueError: left the domain while computing iteration 1"


def test_the_runner_takes_any_object_with_the_stop_rules():
    """The core does not import the config layer: stop is any object with the StopRules fields."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Stop:
        max_iter: int = 4
        max_fev: int | None = None
        grad_tol: float | None = None
        f_tol: float | None = None
        time_limit: float | None = None
        divergence: float = 1e100

    outcome = minimize(Oracle(quadratic), np.array([3.0]), gd(0.1), Stop())
    assert outcome.status == "max_iter" and outcome.nit == 4


def test_the_core_does_not_import_the_config_layer():
    import subprocess
    import sys

    code = (
        "import sys, optrun.core.runner; "
        "print(any(m == 'optrun.config' or m.startswith('optrun.config.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_each_status_says_what_it_means():
    from optrun.core.status import Status, status

    assert [s.value for s in Status if s.success] == ["converged", "max_iter", "max_fev", "time_limit", "evaluated"]
    assert [s.value for s in Status if s.failure] == ["diverged", "infeasible", "failed"]
    assert [s.value for s in Status if not s.finished] == ["interrupted"]
    assert status("error") is None and status("converged") is Status.CONVERGED


@pytest.fixture
def halving():
    """A registered derivative-free method (its entry needs function values,
    not the gradient): each step halves the distance to 1. It records the
    gradient argument update receives."""
    from optrun.core.optimizers import OPTIMIZERS, Optimizer, register_optimizer
    from optrun.core.options import Options

    seen = []

    class HalvingOptions(Options):
        pass

    @register_optimizer(
        "test_halving", options=HalvingOptions, description="halves the distance to 1", needs=("function values",)
    )
    def make(options, oracle):
        def update(g, state, x):
            seen.append(g)
            return 0.5 * (1.0 - x), state

        return Optimizer(_good_init, update)

    entry = OPTIMIZERS.get("test_halving")
    yield entry.make(entry.options(), None), seen
    OPTIMIZERS.unregister("test_halving")


def no_gradient(x):
    """f = sum (x-1)^2 that autograd cannot differentiate (np.asarray of a traced value raises)."""
    return float(np.sum((np.asarray(x) - 1.0) ** 2))


def test_a_derivative_free_method_gets_no_gradient(halving):
    """The entry's needs decide: f only (an objective autograd cannot
    differentiate runs), update gets None, the rows have nan for the gradient
    norm and None for the gradient, njev is 0, and grad_tol (set here, as it
    is by default) does not stop the run."""
    optimizer, seen = halving
    rows = []

    class Rows:
        def record(self, k, f, grad_norm, step_size, t, nfev, njev, x, g):
            rows.append((k, f, grad_norm, nfev, njev, g))

    outcome = minimize(Oracle(no_gradient), np.array([3.0]), optimizer, StopConfig(max_iter=5, grad_tol=1e30), [Rows()])
    assert outcome.status == "max_iter" and outcome.nit == 5, outcome.message
    assert seen == [None] * 5
    assert [(k, nfev, njev, g) for k, f, gn, nfev, njev, g in rows] == [(k, k + 1, 0, None) for k in range(6)]
    assert all(math.isnan(gn) for k, f, gn, *rest in rows) and math.isnan(outcome.grad_norm)
    assert [f for k, f, *rest in rows] == [4.0 * 0.25**k for k in range(6)]  # (2 * 0.5^k)^2, exact in binary
    assert (outcome.nfev, outcome.njev, outcome.nhev) == (6, 0, 0)


def test_a_derivative_free_method_still_diverges_on_f(halving):
    optimizer, _ = halving

    def blows_up(x):
        return float(np.inf if x[0] < 1.5 else (x[0] - 1.0) ** 2)

    outcome = minimize(Oracle(blows_up), np.array([3.0]), optimizer, StopConfig(max_iter=50))
    assert outcome.status == "diverged" and outcome.reason == "nonfinite_f" and outcome.nit == 3  # x: 3, 2, 1.5, 1.25


def test_gradient_false_overrides_the_entry():
    """``gradient=False`` for an optimizer that is not registered (the default for one is True)."""
    from optrun.core.optimizers import Optimizer

    step = Optimizer(_good_init, lambda g, s, x: (0.5 * (1.0 - x), s))
    outcome = minimize(Oracle(no_gradient), np.array([3.0]), step, StopConfig(max_iter=3), gradient=False)
    assert outcome.status == "max_iter" and outcome.njev == 0
    outcome = minimize(Oracle(no_gradient), np.array([3.0]), step, StopConfig(max_iter=3))
    assert outcome.status == "failed" and outcome.message.startswith("the objective raised")


def test_outcome_counts_hessians():
    entry = OPTIMIZERS.get("newton")
    oracle = Oracle(quadratic)
    outcome = minimize(oracle, np.array([3.0, -2.0]), entry.make(entry.options(), oracle), StopConfig(max_iter=10))
    assert outcome.status == "converged" and outcome.nhev == oracle.nhev == outcome.nit >= 1


def test_the_oracle_counts_requests_as_scipy_does_and_computes_each_point_once():
    """With remember_last: value and grad each count every request (SciPy's
    ScalarFunction counts each call it makes), a point asked again is not
    computed again, and the runner's look at an iterate counts nothing."""
    computed = []

    def f(x):
        computed.append(1)
        return anp.sum((x - 1.0) ** 2)

    oracle = Oracle(f, remember_last=True)
    x = np.array([3.0, 0.0])
    assert oracle.iterate(x) == (5.0, pytest.approx(np.array([4.0, -2.0])))  # the runner, before SciPy starts
    assert (oracle.nfev, oracle.njev, len(computed)) == (0, 0, 1)
    assert oracle.value(x, with_grad=True) == 5.0 and list(oracle.grad(x)) == [4.0, -2.0]
    assert (oracle.nfev, oracle.njev, len(computed)) == (1, 1, 1)
    y = np.array([1.0, 2.0])
    assert oracle.value(y) == 1.0 and (oracle.nfev, len(computed)) == (2, 2)
    assert list(oracle.grad(y)) == [0.0, 2.0] and (oracle.njev, len(computed)) == (
        2,
        3,
    )  # the gradient needs its own pass
    oracle.remember(np.array([7.0, 1.0]), 36.0)  # SciPy's f of its iterate
    assert oracle.iterate(np.array([7.0, 1.0]), gradient=False) == (36.0, None) and len(computed) == 3
    plain = Oracle(f)  # without remember_last, the runner's evaluation is the method's: counted
    plain.iterate(x), plain.iterate(x, gradient=False)
    assert (plain.nfev, plain.njev) == (2, 1)


# ----------------------------------------------- a method that stalls at floating-point precision
class Stalls(NamedTuple):
    step_size: float = math.nan


def stalling(after: int):
    """An optimizer that takes gd steps, then says it cannot decrease f any further (as SciPy's "precision loss")."""
    from optrun.core.optimizers import Optimizer, OptimizerFinished

    def update(g, state, x):
        if state.step_size >= after:
            raise OptimizerFinished("no decrease found.", success=False, stalled=True)
        return -0.25 * g, Stalls(state.step_size + 1 if not math.isnan(state.step_size) else 1.0)

    return Optimizer(lambda x0: Stalls(), update)


@pytest.mark.parametrize(
    "steps, fstar, expected",
    [
        (60, 0.0, ("converged", "precision_limit")),  # f = 0.5^120 * 4: |f - f*| far below sqrt(eps)
        (2, 0.0, ("failed", "stalled_short")),  # f = 0.5^4 * 4 = 0.25: far above it
        (60, 1.0, ("failed", "stalled_short")),  # the same point, measured against another f*
        (60, None, ("failed", "stalled")),  # no known minimum: nothing confirms this is one
    ],
)
def test_a_stall_is_converged_only_within_sqrt_eps_of_the_known_minimum(steps, fstar, expected):
    # f = (x-1)^2 from x = 3 with steps -0.25 g = -(x - 1)/2: x - 1 halves at each step
    outcome = minimize(
        Oracle(quadratic),
        np.array([3.0]),
        stalling(steps),
        StopConfig(max_iter=1000, grad_tol=None),
        known_minimum=fstar,
    )
    assert (outcome.status, outcome.reason) == expected
    assert outcome.message.startswith("no decrease found;" if fstar is not None else "no decrease found (")
    assert outcome.nit == steps


def test_the_stall_line_is_sqrt_eps_relative_to_max_1_and_f_star():
    from optrun.core.stopping import STALL_RTOL, stalled_reason

    assert STALL_RTOL == math.sqrt(np.finfo(float).eps)  # half the digits of a double (a derivation, not a fit)
    assert stalled_reason(1.0 + 0.99 * STALL_RTOL, 1.0)[0] == "precision_limit"
    assert stalled_reason(1.0 + 1.01 * STALL_RTOL, 1.0)[0] == "stalled_short"
    assert stalled_reason(-1e6 * (1 + 0.99 * STALL_RTOL), -1e6)[0] == "precision_limit"  # relative to |f*| above 1
    assert stalled_reason(-1e6 * (1 + 1.01 * STALL_RTOL), -1e6)[0] == "stalled_short"
    assert stalled_reason(0.99 * STALL_RTOL, 0.0)[0] == "precision_limit"  # absolute below 1
    assert stalled_reason(math.nan, 0.0)[0] == "stalled"


# ------------------------------------------- the rules' two forms (optrun.core.stopping)
def _rows_stop_one_by_one(f, grad_norm, t, prev_f, k0, nfev, limits, interrupted_at=-1):
    """What the Python loop decides: row_stop on each row in turn."""
    from optrun.core.stopping import FLOATS, f_change, row_stop

    before = prev_f
    for i in range(len(f)):
        reason = row_stop(f[i], grad_norm[i], t[i], before, k0 + i, nfev[i], limits, i == interrupted_at)
        if reason:
            return i, reason, f_change(f[i], before, FLOATS) if reason == "f_tol" else math.nan
        before = f[i]
    return -1, "", math.nan


@pytest.mark.parametrize("seed", range(40))
def test_the_chunk_form_of_the_stop_rules_decides_as_the_row_form(seed):
    """first_stop (the compiled loop's, on a chunk) and row_stop (the Python
    loop's, row by row) are one set of rules: on random rows with nan, inf,
    large f, small gradients, flat stretches, a time line and an interrupt,
    both stop at the same row for the same reason (f_tol's change included),
    with an evaluation count that grows by one or more per row (max_fev)."""
    from types import SimpleNamespace

    from optrun.core.stopping import first_stop, limits_of

    rng = np.random.default_rng(seed)
    n = 30
    f = rng.normal(size=n) * 10.0 ** rng.integers(0, 8, size=n)
    f[rng.random(n) < 0.3] = f[0]  # flat stretches: f_tol
    for value, share in ((math.nan, 0.03), (math.inf, 0.03), (-math.inf, 0.02)):
        f[rng.random(n) < share] = value
    grad_norm = np.abs(rng.normal(size=n)) * 10.0 ** rng.integers(-6, 2, size=n)
    grad_norm[rng.random(n) < 0.03] = math.nan
    t = np.cumsum(rng.random(n))
    stop = SimpleNamespace(
        max_iter=int(rng.integers(0, 60)),
        max_fev=[None, int(rng.integers(1, 150))][seed // 5 % 2],
        grad_tol=[None, 1e-5, 1e-3][seed % 3],
        f_tol=[None, 1e-12, 1e-6][seed // 3 % 3],
        time_limit=[None, float(rng.uniform(0, 20))][seed % 2],
        divergence=[1e100, 1e6][seed // 2 % 2],
    )
    k0 = int(rng.integers(0, 40))
    prev_f = math.nan if seed % 4 == 0 else float(rng.normal())
    interrupted_at = int(rng.integers(-1, n))
    nfev = k0 + np.cumsum(rng.integers(1, 4, size=n))  # a line search spends several evaluations in a row
    for gradient in (True, False):
        limits = limits_of(stop, gradient)
        rows = grad_norm if gradient else np.full(n, math.nan)
        chunk = first_stop(f, rows, t, prev_f, k0, nfev, limits, interrupted_at)
        one_by_one = _rows_stop_one_by_one(
            f.tolist(), rows.tolist(), t.tolist(), prev_f, k0, nfev.tolist(), limits, interrupted_at
        )
        assert (chunk.row, chunk.reason) == one_by_one[:2]
        assert chunk.change == one_by_one[2] or (math.isnan(chunk.change) and math.isnan(one_by_one[2]))


def test_the_best_point_of_a_chunk_is_the_best_of_its_rows_one_by_one():
    from optrun.core.stopping import best_point

    f = np.array([3.0, math.nan, 1.0, 2.0, 1.0, -math.inf, math.nan])
    for k0, best in ((0, (math.inf, -1)), (5, (2.0, 1)), (5, (-math.inf, 0))):
        chunk = best_point(f, k0, *best)
        one = best
        for i, value in enumerate(f.tolist()):
            one = best_point(value, k0 + i, *one)
        assert chunk == one
