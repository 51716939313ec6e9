"""The compiled loop (optrun.core.compiled) against the Python loop
(runner.minimize): the same rows, stop rules, statuses, best points and counts,
for every first-order method, with and without a schedule and clipping.
A test that runs a loop on jax (its compiles take 1-2 s) is marked slow, but
for two short runs (a nan, a signal) and the checks that compile nothing."""

from __future__ import annotations

import math
import signal
from pathlib import Path
from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import REPO
from tolerances import rounding

from optrun.config import load_config
from optrun.core import runner
from optrun.core.backend import get_backend
from optrun.core.compiled import can_compile, minimize_compiled, minimize_compiled_batch, supports
from optrun.core.compiled.chunk import chunk_length
from optrun.core.errors import ConfigError
from optrun.core.optimizers import OPTIMIZERS, ContractError, register_optimizer
from optrun.core.optimizers.first_order import AdagradState, GDOptions, scale_by_root_sum_of_squares
from optrun.core.oracle import Oracle
from optrun.core.status import Status
from optrun.engine.prepare import prepare

get_backend("jax")  # float64 on (before any jax.numpy array below is made)

# Every registered optimizer with a compiled form (its entry's ``compiled`` capability), read from the registry: a
# method registered with ``compiled=`` later is tested compiled against its Python form by every test taking this list.
FIRST_ORDER = tuple(name for name in OPTIMIZERS if supports(OPTIMIZERS.get(name)))


def trid(x):
    return jnp.sum((x - 1.0) ** 2) - jnp.sum(x[1:] * x[:-1])


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def jax_oracle(fun):
    """The Oracle the jax backend builds on a flat jax.numpy objective."""
    return Oracle(fun, backend=get_backend("jax"))


def stop_rules(max_iter=99, grad_tol=None, f_tol=None, time_limit=None, divergence=1e100, max_fev=None):
    return SimpleNamespace(
        max_iter=max_iter,
        max_fev=max_fev,
        grad_tol=grad_tol,
        f_tol=f_tol,
        time_limit=time_limit,
        divergence=divergence,
    )


class Rows:
    """An observer keeping every row (x and g copied)."""

    def __init__(self, on_record=None):
        self.rows: list[tuple] = []
        self.on_record = on_record

    def record(self, k, f, grad_norm, step_size, t, nfev, njev, x, g):
        self.rows.append((k, f, grad_norm, step_size, t, nfev, njev, np.array(x), np.array(g)))
        if self.on_record is not None:
            self.on_record(k)

    def column(self, i):
        return np.array([row[i] for row in self.rows], dtype=float)


def both(fun, x0, name, options, stop, chunk=32, clock_of=None, flag_at=None):
    """Run the Python loop and the compiled loop, each with an observer;
    returns (outcome, rows) for each. The compiled loop also runs without
    observers (its rows then carry no x and g: it replays its last chunk for
    the final x); that outcome must equal the one with an observer (checked
    here), except when an observer sets the interrupt flag."""
    entry = OPTIMIZERS.get(name)
    opts = entry.options.model_validate(options)
    results = []
    for compiled, observed in ((False, True), (True, True), (True, False)):
        if not observed and flag_at is not None:
            continue
        oracle = jax_oracle(fun)
        flag = runner.SignalFlag() if flag_at is not None else None

        def on_record(k, flag=flag):
            if flag is not None and k == flag_at:
                flag.signum = signal.SIGINT

        rows = Rows(on_record)
        kwargs = {"interrupt": flag}
        if clock_of is not None:
            kwargs["clock"] = clock_of(oracle)
        observers = [rows] if observed else []
        if compiled:
            outcome = minimize_compiled(oracle, x0, entry, opts, stop, observers, chunk=chunk, **kwargs)
        else:
            outcome = runner.minimize(oracle, x0, entry.make(opts, oracle), stop, observers, **kwargs)
        results.append((outcome, rows))
    if len(results) == 3:
        (with_rows, _), (without, _) = results[1], results[2]
        assert without.x.tolist() == with_rows.x.tolist() or np.allclose(without.x, with_rows.x, rtol=1e-12, atol=0)
        assert (without.status, without.message, without.nit, without.nfev, without.best_iter) == (
            with_rows.status,
            with_rows.message,
            with_rows.nit,
            with_rows.nfev,
            with_rows.best_iter,
        )
    return results[:2]


def test_a_signal_that_arrived_before_any_row_ends_both_loops_at_row_0():
    entry = OPTIMIZERS.get("gd")
    opts = entry.options.model_validate({})
    outcomes = []
    for run in (
        lambda o, f: runner.minimize(o, np.zeros(10), entry.make(opts, o), stop_rules(), interrupt=f),
        lambda o, f: minimize_compiled(o, np.zeros(10), entry, opts, stop_rules(), interrupt=f),
    ):
        flag = runner.SignalFlag()
        flag.signum = signal.SIGTERM
        outcomes.append(run(jax_oracle(trid), flag))
    python, compiled = outcomes
    assert python.reason == "interrupted" and python.nit == 0 and python.signum == signal.SIGTERM
    assert (compiled.reason, compiled.message, compiled.nit, compiled.nfev, compiled.best_iter) == (
        python.reason,
        python.message,
        python.nit,
        python.nfev,
        python.best_iter,
    )
    np.testing.assert_array_equal(compiled.x, python.x)


def assert_same_run(python, compiled, f_rtol=1e-12, exact_time=False):
    (o1, r1), (o2, r2) = python, compiled
    assert len(r1.rows) == len(r2.rows)
    np.testing.assert_array_equal(r1.column(0), r2.column(0))  # k
    np.testing.assert_allclose(r2.column(1), r1.column(1), rtol=f_rtol, atol=0)  # f
    np.testing.assert_allclose(r2.column(2), r1.column(2), rtol=f_rtol * 1e3, atol=0)  # grad norm
    np.testing.assert_array_equal(r1.column(3), r2.column(3))  # the step size each row shows
    if exact_time:
        np.testing.assert_array_equal(r1.column(4), r2.column(4))
    np.testing.assert_array_equal(r1.column(5), r2.column(5))  # nfev
    np.testing.assert_array_equal(r1.column(6), r2.column(6))  # njev
    assert (o2.status, o2.reason, o2.message) == (o1.status, o1.reason, o1.message)
    assert (o2.nit, o2.nfev, o2.njev, o2.best_iter, o2.signum) == (o1.nit, o1.nfev, o1.njev, o1.best_iter, o1.signum)
    for a, b in ((o1.fun, o2.fun), (o1.best_fun, o2.best_fun), (o1.grad_norm, o2.grad_norm)):
        assert (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= f_rtol * 1e3 * abs(a)
    np.testing.assert_allclose(o2.x, o1.x, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(o2.x, r2.rows[-1][7])  # the outcome's x is the last row's


SCHEDULE = {"schedule": "cosine", "value": 0.05, "decay_steps": 60, "warmup_steps": 5}
VARIANTS = {
    "plain": {"step_size": 0.02},
    "schedule": {"step_size": SCHEDULE},
    "clip": {"step_size": 0.02, "clip_grad_norm": 2.0},
    "schedule+clip": {"step_size": SCHEDULE, "clip_grad_norm": 2.0},
}


@pytest.mark.parametrize(
    "name,variant",
    [pytest.param(name, variant, marks=pytest.mark.slow) for name in FIRST_ORDER for variant in VARIANTS],
)
def test_first_100_rows_equal_the_python_loop(name, variant):
    """Trid 10 from x = 0 (clipping active early: |g| = 2 at the start),
    Rosenbrock 4 where the method is stable: rows 0..99 agree to 1e-12 in f."""
    x0 = np.zeros(10)
    python, compiled = both(trid, x0, name, VARIANTS[variant], stop_rules(max_iter=99))
    assert len(python[1].rows) == 100
    assert_same_run(python, compiled)
    python, compiled = both(
        rosenbrock,
        np.array([-1.2, 1.0, -1.2, 1.0]),
        name,
        {**VARIANTS[variant], "step_size": 1e-4 if "schedule" not in variant else {**SCHEDULE, "value": 1e-4}},
        stop_rules(max_iter=99),
    )
    assert_same_run(python, compiled)


@pytest.mark.slow
def test_the_step_sizes_are_the_schedule_and_row_0_has_none():
    (_, rows), _ = both(trid, np.zeros(10), "gd", {"step_size": SCHEDULE}, stop_rules(max_iter=70))
    from optrun.core.optimizers.schedules import as_schedule

    at = as_schedule(OPTIMIZERS.get("gd").options.model_validate({"step_size": SCHEDULE}).step_size)
    shown = rows.column(3)
    assert math.isnan(shown[0])
    assert shown[1:].tolist() == [at(t) for t in range(70)]


# ------------------------------------------------------------ stop rules mid-chunk
@pytest.mark.slow
def test_grad_tol_mid_chunk():
    python, compiled = both(trid, np.zeros(10), "gd", {"step_size": 0.1}, stop_rules(max_iter=5000, grad_tol=1e-3))
    assert python[0].reason == "grad_tol" and python[0].nit % 32 not in (0, 31)
    assert_same_run(python, compiled)


@pytest.mark.slow
def test_f_tol_mid_chunk():
    python, compiled = both(trid, np.zeros(10), "momentum", {"step_size": 0.01}, stop_rules(max_iter=5000, f_tol=1e-9))
    assert python[0].reason == "f_tol" and python[0].nit % 32 not in (0, 31)
    assert_same_run(python, compiled)


@pytest.mark.slow
@pytest.mark.parametrize("max_iter", [0, 1, 77])
def test_max_iter_not_a_multiple_of_the_chunk(max_iter):
    python, compiled = both(trid, np.zeros(10), "adam", {"step_size": 0.1}, stop_rules(max_iter=max_iter))
    assert python[0].reason == ("evaluated" if max_iter == 0 else "max_iter") and python[0].nit == max_iter
    assert_same_run(python, compiled)


@pytest.mark.slow
def test_divergence_to_inf():
    """gd with a step far too large on trid 10: f grows past float64 to inf (nonfinite_f)."""
    python, compiled = both(
        trid, np.zeros(10), "gd", {"step_size": 10.0}, stop_rules(max_iter=5000, divergence=math.inf)
    )
    assert python[0].reason == "nonfinite_f" and python[0].status == Status.DIVERGED
    assert_same_run(python, compiled)


def test_divergence_to_nan():
    """sqrt of a negative entry: f is nan as soon as a step crosses 0."""

    def fun(x):
        return jnp.sum(jnp.sqrt(x)) + jnp.sum(x**2)

    python, compiled = both(fun, np.full(3, 4.0), "gd", {"step_size": 0.2}, stop_rules(max_iter=500))
    assert python[0].reason in ("nonfinite_f", "nonfinite_grad") and 0 < python[0].nit < 32
    assert_same_run(python, compiled)


@pytest.mark.slow
def test_divergence_bound():
    python, compiled = both(trid, np.zeros(10), "gd", {"step_size": 1.0}, stop_rules(max_iter=5000, divergence=1e6))
    assert python[0].reason == "bound"
    assert_same_run(python, compiled)


@pytest.mark.slow
def test_time_limit_with_a_clock_that_counts_evaluations():
    """A fake clock: 0.25 s per gradient evaluation. The Python loop reads it
    once per row; the compiled loop before and after each chunk and spreads
    the chunk's time over its rows: row k is at t = 0.25 (k + 1) in both."""

    def clock_of(oracle):
        return lambda: 0.25 * oracle.nfev

    python, compiled = both(
        trid,
        np.zeros(10),
        "gd",
        {"step_size": 0.01},
        stop_rules(max_iter=5000, time_limit=10.0),
        clock_of=clock_of,
        chunk=16,
    )
    assert python[0].reason == "time_limit" and python[0].nit == 39
    assert_same_run(python, compiled, exact_time=True)


@pytest.mark.slow
@pytest.mark.parametrize("at", [0, 45, 63, 64])
def test_interrupt_set_by_an_observer(at):
    python, compiled = both(trid, np.zeros(10), "nesterov", {"step_size": 0.01}, stop_rules(max_iter=5000), flag_at=at)
    assert python[0].reason == "interrupted" and python[0].nit == at and python[0].signum == signal.SIGINT
    assert_same_run(python, compiled)


@pytest.mark.slow
def test_a_tolerance_outranks_an_interrupt_at_the_same_row_and_an_interrupt_outranks_max_iter():
    python, compiled = both(trid, np.zeros(10), "gd", {"step_size": 0.1}, stop_rules(max_iter=5000, grad_tol=1e-3))
    at = python[0].nit
    python, compiled = both(
        trid, np.zeros(10), "gd", {"step_size": 0.1}, stop_rules(max_iter=5000, grad_tol=1e-3), flag_at=at
    )
    assert python[0].reason == "grad_tol"
    assert_same_run(python, compiled)
    python, compiled = both(trid, np.zeros(10), "gd", {"step_size": 0.1}, stop_rules(max_iter=40), flag_at=40)
    assert python[0].reason == "interrupted"
    assert_same_run(python, compiled)


@pytest.mark.slow
def test_best_point_when_f_rises():
    """momentum overshoots on trid 10: the best row (194) is not the last (200)."""
    python, compiled = both(trid, np.zeros(10), "momentum", {"step_size": 0.1, "beta": 0.9}, stop_rules(max_iter=200))
    assert python[0].best_iter not in (-1, python[0].nit)
    assert_same_run(python, compiled)


# ----------------------------------------------------------------- failures
def test_an_objective_that_does_not_trace_fails_blaming_the_objective():
    def fun(x):
        return float(x[0]) ** 2  # float() of a tracer

    entry = OPTIMIZERS.get("gd")
    outcome = minimize_compiled(jax_oracle(fun), np.ones(2), entry, entry.options.model_validate({}), stop_rules())
    assert outcome.status == Status.FAILED and outcome.message.startswith("the objective raised ")
    assert outcome.nit == 0 and outcome.nfev == 0


def test_a_vector_objective_fails_blaming_the_objective():
    entry = OPTIMIZERS.get("gd")
    outcome = minimize_compiled(
        jax_oracle(lambda x: x * 2.0), np.ones(2), entry, entry.options.model_validate({}), stop_rules()
    )
    assert outcome.status == Status.FAILED and "the objective raised TypeError" in outcome.message


def test_a_direction_of_the_wrong_shape_breaks_the_contract():
    entry = OPTIMIZERS.get("gd")
    bad = optax.GradientTransformation(lambda p: (), lambda g, s, p=None: (g[:1], s))
    import dataclasses

    outcome = minimize_compiled(
        jax_oracle(trid),
        np.ones(3),
        dataclasses.replace(entry, compiled=lambda o: bad),
        entry.options.model_validate({}),
        stop_rules(),
    )
    assert outcome.status == Status.FAILED and outcome.reason == "contract"
    assert "optimizer 'gd' broke the optimizer contract" in outcome.message and "shape (1,)" in outcome.message


# ------------------------------------------------------------ registration
def test_every_first_order_method_declares_a_compiled_direction_and_the_others_do_not():
    from optrun.core.optimizers import first_order

    written_first_order = {
        name for name in OPTIMIZERS if getattr(OPTIMIZERS.get(name).factory, "__module__", "") == first_order.__name__
    }
    assert (
        written_first_order == set(FIRST_ORDER) == {"gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", FIRST_ORDER)
def test_a_method_registered_with_a_compiled_form_takes_the_steps_of_its_python_form(name):
    """The two forms of a method, its NumPy direction (the Python loop's) and
    its optax transform (the compiled loop's, ``compiled=``), side by side for
    8 updates on trid 10, each on the same x and gradient: the same steps, to
    rounding. (The slow tests compare whole runs of both loops.)"""
    entry = OPTIMIZERS.get(name)
    options = entry.options.model_validate({"step_size": 0.02})
    python = entry.make(options, jax_oracle(trid))
    direction = entry.compiled(options)
    x = np.linspace(-2.0, 3.0, 10)
    state, compiled_state = python.init(x), direction.init(jnp.asarray(x))
    gradient = get_backend("jax").value_and_grad(trid)
    for k in range(8):
        g = np.asarray(gradient(x)[1], dtype=float)
        step, state = python.update(g.copy(), state, x)
        d, compiled_state = direction.update(jnp.asarray(g), compiled_state, jnp.asarray(x))
        np.testing.assert_allclose(
            -0.02 * np.asarray(d),
            step,
            rtol=1e-12,
            atol=1e-12 * float(np.max(np.abs(step))),
            err_msg=f"optimizer '{name}' is registered with compiled=: its compiled form (the optax transform) must "
            f"take the steps of its Python form (the NumPy direction), and update {k} differs",
        )
        x = x + step


def test_compiled_needs_the_step_size_transform_and_a_function():
    with pytest.raises(ContractError, match="compiled needs the 'step_size' transform"):
        register_optimizer(
            "test-compiled-no-step", options=GDOptions, description="x", compiled=lambda o: optax.identity()
        )(lambda o, oracle: None)
    with pytest.raises(ContractError, match="compiled must be a function of"):
        register_optimizer(
            "test-compiled-not-callable", options=GDOptions, description="x", transforms=("step_size",), compiled=3
        )(lambda o, oracle: None)
    assert "test-compiled-no-step" not in OPTIMIZERS and "test-compiled-not-callable" not in OPTIMIZERS


def test_adagrad_is_not_optax_scale_by_rss():
    """Why adagrad has its own transform: optax's puts eps inside the root and
    gives d = 0 where G = 0; optrun's is g / (sqrt(G) + eps) from G = 0."""
    g = jnp.array([1e-5, 0.0, 3.0])
    ours, _ = scale_by_root_sum_of_squares(0.0, 1e-8).update(g, AdagradState(jnp.zeros(3)))
    theirs, _ = optax.scale_by_rss(0.0, 1e-8).update(g, optax.scale_by_rss(0.0, 1e-8).init(g))
    # sqrt(g * g) is |g| exactly (correctly rounded square and root); then one sum and one division a side (XLA may
    # divide by a reciprocal: one rounding more)
    np.testing.assert_allclose(np.asarray(ours), [1e-5 / (1e-5 + 1e-8), 0.0, 3.0 / (3.0 + 1e-8)], rtol=rounding(3))
    assert abs(float(theirs[0]) - float(ours[0])) > 1e-4  # 1e-5/sqrt(1e-10 + 1e-8) = 0.0995 vs 0.999


def test_chunk_length_fits_the_run_and_the_memory():
    assert chunk_length(0, 10, points=True) == 1
    assert chunk_length(99, 10, points=False) == 100  # a short run is one chunk of its rows
    assert chunk_length(299, 41, points=True) == 300
    assert chunk_length(10**5, 10, points=False) == 2041  # 100001 rows: 49 chunks of 2041 (8 rows past the end)
    assert chunk_length(10**6, 10**5, points=False) == 16  # WORK: 2**20 row entries, at least 16 rows
    assert chunk_length(10**6, 10**5, points=True) == 10  # 16 MB of x and g rows
    assert chunk_length(10**6, 10**9, points=True) == 1


# ---------------------------------------------- the real pipeline, shipped configs
CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def shipped_first_order():
    """Every shipped run config whose optimizer has a compiled direction and whose problem runs on jax."""
    found = []
    for path in sorted(CONFIGS.glob("*.yaml")):
        try:
            cfg = load_config(path)
        except ConfigError:  # a bench suite file
            continue
        if supports(cfg.optimizer.entry) and "jax" in cfg.problem.entry.backends:
            found.append(path.name)
    return found


def dispatch(prep, observers, interrupt=None):
    """What engine/record.py's solve does with the compiled loop: the compiled
    loop on the jax backend for an optimizer with the capability, the Python loop otherwise."""
    config = prep.config
    entry, options = config.optimizer.entry, config.optimizer.options
    if can_compile(entry, prep.oracle.backend):
        return minimize_compiled(prep.oracle, prep.x0, entry, options, config.stop, observers, interrupt=interrupt)
    return runner.minimize(
        prep.oracle, prep.x0, entry.make(options, prep.oracle), config.stop, observers, interrupt=interrupt
    )


# f drift allowed, per config: the MLP config is chaotic (tests/test_backend.py:
# a start moved by one ulp moves f by 2e-5 at row 99). Measured: 0 (the
# compiled loop's gd steps round as the Python loop's: make_chunk); the
# requirement is < 1e-7
DRIFT = {"mlp-gd.yaml": 1e-12}


@pytest.mark.slow
@pytest.mark.parametrize("name", shipped_first_order())
def test_shipped_configs_run_the_same_through_the_pipeline(name):
    """prepare(config with backend: jax) and the dispatch: the compiled loop's
    whole run equals the Python loop's on the jax backend (rows 0..99 in f to
    1e-12, or the config's measured drift; every row's k, step size and
    counts; the status, message, iterations, counts and best iteration)."""
    runs = []
    for compiled in (False, True):
        prep = prepare(load_config(CONFIGS / name, ["backend=jax"]))
        assert prep.oracle.backend.name == "jax"
        rows = Rows()
        if compiled:
            outcome = dispatch(prep, [rows])
        else:
            outcome = runner.minimize(
                prep.oracle,
                prep.x0,
                prep.config.optimizer.entry.make(prep.config.optimizer.options, prep.oracle),
                prep.config.stop,
                [rows],
            )
        runs.append((outcome, rows))
    (o1, r1), (o2, r2) = runs
    head = slice(0, 100)
    np.testing.assert_allclose(r2.column(1)[head], r1.column(1)[head], rtol=DRIFT.get(name, 1e-12), atol=0)
    assert len(r1.rows) == len(r2.rows)
    np.testing.assert_array_equal(r1.column(0), r2.column(0))
    np.testing.assert_array_equal(r1.column(3), r2.column(3))
    np.testing.assert_array_equal(r1.column(5), r2.column(5))
    assert (o2.status, o2.reason, o2.nit, o2.nfev, o2.njev) == (o1.status, o1.reason, o1.nit, o1.nfev, o1.njev)
    # the final f to 1e-12 of the run's scale (rosenbrock ends at f = 1e-16, where relative means nothing)
    scale = 1e-12 * max(1.0, abs(r1.rows[0][1]))
    np.testing.assert_allclose(o2.fun, o1.fun, rtol=max(DRIFT.get(name, 0), 1e-12), atol=scale)
    np.testing.assert_allclose(o2.best_fun, o1.best_fun, rtol=max(DRIFT.get(name, 0), 1e-12), atol=scale)
    # near a converged minimum rows tie to rounding, so the first lowest row may
    # move by one when the last bit does (trid-nesterov: 290 or 291, f equal to 1e-16)
    assert o2.best_iter == o1.best_iter or r1.column(1)[o2.best_iter] == pytest.approx(
        o1.best_fun, rel=1e-12, abs=scale
    )


def test_the_pipeline_covers_the_shipped_first_order_configs():
    names = shipped_first_order()
    assert {
        "trid-gd.yaml",
        "trid-momentum.yaml",
        "trid-nesterov.yaml",
        "trid-adagrad.yaml",
        "trid-rmsprop-cosine.yaml",
        "trid-adam.yaml",
        "rosenbrock-adam-cosine-clip.yaml",
        "mlp-gd.yaml",
        "sum-of-squares-adamw.yaml",
    } <= set(names)
    assert "rastrigin-user-problem.yaml" not in names  # autograd only


def test_the_dispatch_takes_the_python_loop_on_autograd_and_for_methods_without_the_capability():
    assert can_compile(OPTIMIZERS.get("adam"), get_backend("jax"))
    assert not can_compile(OPTIMIZERS.get("adam"), get_backend("autograd"))
    assert not can_compile(OPTIMIZERS.get("newton"), get_backend("jax"))
    assert not can_compile(OPTIMIZERS.get("lbfgs"), get_backend("jax"))


# ------------------------------------------------------------------- the batch
def batch_and_singles(fun, x0s, name, options, stop, chunk=32):
    entry = OPTIMIZERS.get(name)
    opts = entry.options.model_validate(options)
    batch_rows = [Rows() for _ in x0s]
    batch = minimize_compiled_batch(jax_oracle(fun), x0s, entry, opts, stop, [[r] for r in batch_rows], chunk=chunk)
    singles = []
    for x0 in x0s:
        rows = Rows()
        singles.append((minimize_compiled(jax_oracle(fun), x0, entry, opts, stop, [rows], chunk=chunk), rows))
    return list(zip(batch, batch_rows)), singles


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,options",
    [
        ("adam", {"step_size": SCHEDULE, "clip_grad_norm": 2.0}),
        ("nesterov", {"step_size": 0.01}),
        ("adagrad", {"step_size": 0.5}),
    ],
)
def test_each_member_of_a_batch_equals_its_own_run(name, options):
    x0s = np.random.default_rng(1).normal(size=(4, 10)) * 3
    batch, singles = batch_and_singles(trid, x0s, name, options, stop_rules(max_iter=150))
    for member, single in zip(batch, singles):
        assert member[0].reason == "max_iter"
        assert_same_run(single, member)


@pytest.mark.slow
def test_members_that_stop_at_different_rows_and_one_that_diverges():
    """gd with grad_tol from starts at different distances: each member ends
    at its own row; the member started at 1e4 (f = 1e8) is past the divergence
    bound at its start and ends at row 0 while the others go on."""
    x0s = np.stack([np.zeros(10), np.full(10, 50.0), np.linspace(-5, 5, 10), np.full(10, 1e4)])
    batch, singles = batch_and_singles(
        trid, x0s, "gd", {"step_size": 0.1}, stop_rules(max_iter=5000, grad_tol=1e-3, divergence=5e7)
    )
    reasons = [member[0].reason for member in batch]
    assert reasons[:3] == ["grad_tol"] * 3 and reasons[3] == "bound" and batch[3][0].nit == 0
    assert len({member[0].nit for member in batch}) >= 3  # members end at different rows
    for member, single in zip(batch, singles):
        assert_same_run(single, member)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,grid",
    [
        (
            "momentum",
            [
                {"step_size": 0.01, "beta": 0.5, "clip_grad_norm": 100.0},
                {"step_size": 0.02, "beta": 0.9, "clip_grad_norm": 5.0},
                {"step_size": SCHEDULE, "beta": 0.0, "clip_grad_norm": 0.5},
            ],
        ),
        (
            "adagrad",
            [
                {"step_size": 0.5, "initial_accumulator": 0.0},
                {"step_size": 0.5, "initial_accumulator": 10.0, "eps": 1e-3},
            ],
        ),
        (
            "adamw",
            [
                {"step_size": 0.05, "b1": 0.9, "weight_decay": 0.0},
                {"step_size": 0.01, "b1": 0.5, "b2": 0.99, "weight_decay": 0.1},
            ],
        ),
    ],
    ids=["momentum-beta-clip-schedule", "adagrad-accumulator-eps", "adamw-b1-b2-decay"],
)
def test_members_with_their_own_step_sizes_and_options_equal_their_own_runs(name, grid):
    """A sweep grid over numeric options (--vectorize): each member's options
    are carried as arrays (the initial state too: adagrad's accumulator), and
    each member's rows are its own run's."""
    entry = OPTIMIZERS.get(name)
    each = [entry.options.model_validate(options) for options in grid]
    x0s = np.random.default_rng(2).normal(size=(len(grid), 10)) * 3
    batch_rows = [Rows() for _ in grid]
    batch = minimize_compiled_batch(
        jax_oracle(trid), x0s, entry, each, stop_rules(max_iter=120), [[r] for r in batch_rows], chunk=32
    )
    finals = set()
    for x0, opts, outcome, rows in zip(x0s, each, batch, batch_rows):
        single = Rows()
        assert_same_run(
            (
                minimize_compiled(jax_oracle(trid), x0, entry, opts, stop_rules(max_iter=120), [single], chunk=32),
                single,
            ),
            (outcome, rows),
        )
        finals.add(outcome.fun)
    assert len(finals) == len(grid)


def test_what_a_batch_cannot_carry_is_named():
    from optrun.core.compiled.chunk import batch_problem, varying_options

    momentum = OPTIMIZERS.get("momentum").options
    each = [
        momentum.model_validate({"beta": 0.5, "step_size": 0.1}),
        momentum.model_validate({"beta": 0.9, "step_size": SCHEDULE}),
    ]
    assert varying_options(each) == ("beta",) and batch_problem(each) == ""  # step_size is host-side, any schedule
    clipped = [momentum.model_validate({}), momentum.model_validate({"clip_grad_norm": 1.0})]
    assert batch_problem(clipped) == (
        "optimizer.clip_grad_norm: --vectorize runs differ only in numeric option values, and this "
        "option is 1.0, None across the runs (set it to a number in every run, or leave it out of the sweep)"
    )
    with pytest.raises(ContractError, match=r"^3 options for a batch of 2 starts$"):
        minimize_compiled_batch(
            jax_oracle(trid), np.zeros((2, 10)), OPTIMIZERS.get("momentum"), each + each[:1], stop_rules()
        )


def test_a_batch_interrupted_before_its_first_row_ends_every_member_at_row_0():
    entry = OPTIMIZERS.get("gd")
    flag = runner.SignalFlag()
    flag.signum = signal.SIGINT
    outcomes = minimize_compiled_batch(
        jax_oracle(trid), np.zeros((3, 10)), entry, entry.options.model_validate({}), stop_rules(), interrupt=flag
    )
    assert [(o.reason, o.nit, o.nfev, o.best_iter) for o in outcomes] == [("interrupted", 0, 1, 0)] * 3


@pytest.mark.slow
def test_optrun_run_on_jax_takes_the_compiled_loop_and_writes_the_autograd_trace(tmp_path, monkeypatch):
    """Through the CLI: `--set backend=jax` on a shipped first-order config
    never enters the Python loop (it is made to fail here), and its trace.csv
    has the autograd run's iterations, f to 1e-12 and the same status."""
    import csv

    from typer.testing import CliRunner

    from optrun.cli import app

    monkeypatch.chdir(tmp_path)
    cli = CliRunner()
    config = str(CONFIGS / "trid-adam.yaml")
    assert cli.invoke(app, ["run", config, "-q", "--no-plots", "--set", "output.dir=ag"]).exit_code == 0

    def python_loop(*args, **kwargs):
        raise AssertionError("the jax backend ran the Python loop")

    monkeypatch.setattr(runner, "minimize", python_loop)
    result = cli.invoke(app, ["run", config, "-q", "--no-plots", "--set", "backend=jax", "--set", "output.dir=jx"])
    assert result.exit_code == 0, result.stderr

    def rows(folder):
        [run] = (tmp_path / folder / "trid-adam").iterdir()
        return list(csv.DictReader(open(run / "trace.csv"))), (run / "summary.json").read_text()

    (ag, ag_summary), (jx, jx_summary) = rows("ag"), rows("jx")
    assert len(ag) == len(jx) > 100
    for a, j in zip(ag, jx):
        assert a["iter"] == j["iter"]
        assert float(j["f"]) == pytest.approx(float(a["f"]), rel=1e-12, abs=1e-14)
    assert '"status": "converged"' in ag_summary and '"status": "converged"' in jx_summary


# ------------------------------------------------------------- runs that reuse a compile
@pytest.mark.slow
def test_runs_of_one_problem_in_a_process_compile_once_and_give_a_fresh_compiles_numbers(tmp_path, monkeypatch):
    """A sweep's runs on jax differ in seed, init or step size: the second run
    reuses the first's flat objective and its compiled chunk (make_chunk is
    not called again), and its trace is the one a process of its own writes."""
    from optrun.core.compiled import chunk as compiled_chunk
    from optrun.engine import prepare as prepare_module
    from optrun.engine.record import execute

    made = []
    real = compiled_chunk.make_chunk
    monkeypatch.setattr(compiled_chunk, "make_chunk", lambda *a, **k: made.append(1) or real(*a, **k))
    monkeypatch.setattr(prepare_module, "_OBJECTIVES", type(prepare_module._OBJECTIVES)())
    config = REPO / "configs" / "mlp-gd.yaml"

    def run(*overrides):
        cfg = load_config(config, ["backend=jax", "output.plots=false", f"output.dir={tmp_path}", *overrides])
        return np.loadtxt(execute(cfg).run_dir / "trace.csv", delimiter=",", skiprows=1, usecols=(1,))

    run("seed=0")
    assert len(made) == 1
    second = run("seed=1", "optimizer.step_size=2e-6")
    assert len(made) == 1  # the same problem and optimizer: no new compile
    prepare_module._OBJECTIVES.clear()
    compiled_chunk._CHUNKS.clear()
    alone = run("seed=1", "optimizer.step_size=2e-6")
    assert len(made) == 2
    np.testing.assert_array_equal(second, alone)
    run("seed=1", "problem.hidden=[4]")  # another problem: its own objective and compile
    assert len(made) == 3


def test_which_objectives_a_later_run_may_reuse():
    from optrun.engine.prepare import _objective_key
    from optrun.engine.prepare import prepare as prep

    def key(path, *overrides):
        cfg = load_config(REPO / "configs" / path, list(overrides))
        p = prep(cfg)
        return _objective_key(cfg, p.fixed, {k: v for k, v in p.params0.items() if k not in p.fixed})

    assert key("trid-gd.yaml", "backend=jax") == key("trid-gd.yaml", "backend=jax", "seed=3", "optimizer.step_size=0.1")
    assert key("trid-gd.yaml", "backend=jax") != key("trid-gd.yaml", "backend=jax", "problem.dim=7")
    assert key("goldfield-fix-y.yaml", "backend=jax") != key("goldfield-fix-y.yaml", "backend=jax", "fix.y=2.0")
    assert key("trid-gd.yaml") is None  # autograd: nothing compiled to reuse
    assert key("linreg-csv.yaml", "backend=jax") is None  # a data file may change between runs
