"""The array backends (optrun/core/backend.py): autograd and jax give the same
numbers, problems run on the backends they declare, and ``backend:`` is a
config key with one-line errors.

The same-numbers tests run the ordinary Python runner loop
(``runner.minimize`` with the Oracle ``prepare`` builds) on both backends,
float64 on both, and compare the traces row by row. jax is in the test
extra, so CI tests both backends; every test that imports jax is marked slow
(its import and first compiles take 1-2 s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tolerances
from tolerances import rounding

import optrun
from optrun.config import load_config
from optrun.core import runner
from optrun.core.backend import BACKENDS, Backend, get_backend, register_backend
from optrun.core.errors import ConfigError
from optrun.core.optimizers import OPTIMIZERS
from optrun.core.problems import PROBLEMS, Problem, register_problem
from optrun.core.registry import DuplicateName

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
ROWS = 100  # rows 0..99 of the trace: 99 steps


# ------------------------------------------------------------------ helpers
class Rows:
    """An observer keeping f and x of every row."""

    def __init__(self):
        self.f, self.x = [], []

    def record(self, k, f, grad_norm, step_size, t, nfev, njev, x, g):
        self.f.append(f)
        self.x.append(np.array(x))


def trace(config, backend, overrides=()):
    """f and x over the first ROWS rows of ``config`` run on ``backend`` with
    the Python runner loop, and the prepared run (its trace's parameter columns)."""
    from optrun.engine.prepare import prepare

    cfg = load_config(config, [f"backend={backend}", f"stop.max_iter={ROWS - 1}", *overrides])
    prep = prepare(cfg)
    rows = Rows()
    optimizer = cfg.optimizer.entry.make(cfg.optimizer.options, prep.oracle)
    outcome = runner.minimize(prep.oracle, prep.x0, optimizer, cfg.stop, [rows])
    return np.array(rows.f), np.array(rows.x), prep, outcome


def run_config(path):
    """A run config (a bench suite file is not one) and its optimizer entry."""
    try:
        return load_config(path)
    except ConfigError:
        return None


def covered(path):
    """Configs the same-numbers test runs: every run config whose optimizer
    is pure (its step depends on its arguments only: the first-order methods,
    backtracking and newton; SciPy's methods run their own loop) and whose
    problem runs on jax."""
    cfg = run_config(path)
    return cfg is not None and cfg.optimizer.entry.pure and "jax" in cfg.problem.entry.backends


SHIPPED = sorted(CONFIGS.glob("*.yaml"))
COVERED = [p for p in SHIPPED if covered(p)]
# every shipped config the same-numbers test leaves out, and why (test_no_config_is_left_out_silently)
NOT_COVERED = {
    "bench-mgh.yaml": "a bench suite file, not a run config",
    "rastrigin-user-problem.yaml": "a user problem file that declares no backends: autograd only (refused on jax, tested below)",
    "nelder-mead-scipy-default.yaml": "SciPy's Nelder-Mead runs its own loop (tested against SciPy in test_max_fev.py)",
    **dict.fromkeys(
        [
            "hs21-slsqp.yaml",
            "hs35-slsqp.yaml",
            "hs71-slsqp.yaml",
            "hs71-trust-constr.yaml",
            "hs71-infeasible.yaml",
            "rosenbrock-box-lbfgs.yaml",
            "rosenbrock-disc-slsqp.yaml",
            "rosenbrock-config-constraints.yaml",
        ],
        "SciPy's method runs its own loop (tested against SciPy directly in test_scipy_constrained.py, "
        "test_constrained_problems.py; the constraints on jax in test_constraints.py)",
    ),
}
# Rounding-sensitive configs: their trace is compared with the problem's own
# sensitivity to one rounding (test_a_chaotic_trace_drifts_no_more_than_one_rounding_moves_it)
CHAOTIC = {
    "mlp-gd.yaml": "300 gd steps at the edge of stability: a start moved by one ulp moves f by 2e-5 (relative) at row 99",
}


# ------------------------------------------------------------- the registry
def test_backends_are_registered_and_a_typo_names_the_close_match():
    assert list(BACKENDS) == ["autograd", "jax"]
    with pytest.raises(
        ConfigError, match=r"^backend: unknown backend 'jaxx'; did you mean 'jax'\? \(known: autograd, jax\)$"
    ):
        from optrun.core.backend import check_backend

        check_backend("jaxx")
    with pytest.raises(DuplicateName):
        register_backend("jax", lambda: None, description="again")


@pytest.mark.parametrize(
    "name", ["autograd", pytest.param("jax", marks=pytest.mark.slow)]
)  # jax: its import and compiles take 1-2 s
def test_a_backend_gives_f_gradient_hessian_and_hvp_in_float64(name):
    backend = get_backend(name)
    assert isinstance(backend, Backend) and backend.name == name and get_backend(name) is backend
    xp = backend.np

    def f(x):
        return xp.sum(x**3) + x[0] * x[1]

    x, v = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    fx, g = backend.value_and_grad(f)(x)
    H = np.asarray(backend.hessian(f)(x))
    assert float(fx) == 11.0 and np.asarray(g).dtype == np.float64
    np.testing.assert_array_equal(np.asarray(g), [3.0 + 2.0, 12.0 + 1.0])
    np.testing.assert_array_equal(H, [[6.0, 1.0], [1.0, 12.0]])
    np.testing.assert_array_equal(np.asarray(backend.hvp(f)(x, v)), H @ v)
    # a value that needs 64 bits survives the round trip
    fx, _ = backend.value_and_grad(lambda x: xp.sum(x))(np.array([1.0, 1e-12]))
    assert float(fx) == 1.0 + 1e-12


@pytest.mark.slow
def test_both_backends_flatten_in_the_same_order():
    """Dict keys sorted (capitals first), lists in order, arrays in C order:
    the MLP's list of layers gives the same flat vector, so trace columns agree."""
    params = {
        "layers": [
            {"w": np.arange(6.0).reshape(2, 3), "b": np.arange(3.0) + 10},
            {"w": np.ones((3, 1)), "b": np.array([30.0])},
        ],
        "a": 1.5,
        "Z": np.array([7.0, 8.0]),
    }
    flat = {name: get_backend(name).ravel(params) for name in ("autograd", "jax")}
    np.testing.assert_array_equal(np.asarray(flat["autograd"][0]), np.asarray(flat["jax"][0]))
    back = flat["jax"][1](flat["jax"][0])
    np.testing.assert_array_equal(np.asarray(back["layers"][0]["w"]), params["layers"][0]["w"])


@pytest.mark.slow
def test_jax_is_imported_only_when_a_run_uses_it():
    code = (
        "import sys; from optrun.commands.catalogue import *; import optrun.cli; from optrun.config import load_config; "
        "load_config({'problem': 'trid', 'optimizer': 'gd', 'backend': 'jax'}); print('jax' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_missing_jax_is_one_line_naming_the_extra(monkeypatch):
    import importlib.util

    from optrun.core.backend import check_backend

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    with pytest.raises(ConfigError) as info:
        check_backend("jax")
    assert str(info.value) == (
        "backend: the 'jax' backend needs jax, which is not installed: "
        'pip install -e ".[jax]" (or pip install "optrun[jax]")'
    )


# ----------------------------------------------------------- the config key
def test_backend_defaults_to_autograd_and_is_recorded():
    cfg = load_config({"problem": "trid", "optimizer": "gd"})
    assert cfg.backend == "autograd" and cfg.resolved()["backend"] == "autograd"
    again = load_config(load_config({"problem": "trid", "optimizer": "gd", "backend": "jax"}).resolved())
    assert again.backend == "jax"


def test_a_problem_without_jax_is_refused_at_backend_naming_its_backends():
    with pytest.raises(ConfigError) as info:
        load_config(CONFIGS / "rastrigin-user-problem.yaml", ["backend=jax"])
    assert str(info.value) == (
        f"{CONFIGS / 'rastrigin-user-problem.yaml'}: backend: problem 'rastrigin' runs on the 'autograd' "
        "backend only, not 'jax' (a problem lists its backends in register_problem(..., backends=...))"
    )


@pytest.mark.slow
def test_cli_backend_errors_are_one_line_with_exit_status_2(workdir):
    for value, message in (
        ("jaxx", "backend: unknown backend 'jaxx'; did you mean 'jax'?"),
        ("[jax]", "backend: input should be text"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "optrun", "run", str(CONFIGS / "trid-gd.yaml"), "--set", f"backend={value}"],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 2 and out.stdout == ""
        assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr


# ------------------------------------------------------- problems on backends
@pytest.fixture
def both_ways():
    """A user problem declaring both backends, and one with the old one-argument build."""

    @register_problem("test_both_bowl", description="bowl", backends=("autograd", "jax"))
    def both(options, xp):
        return Problem(objective=lambda p: xp.sum(xp.exp(p["x"]) - p["x"]), start={"x": np.array([1.0, -2.0])})

    @register_problem("test_old_bowl", description="bowl")
    def old(options):
        return Problem(objective=lambda p: (p["x"] - 1.0) ** 2, start={"x": 0.0})

    yield
    PROBLEMS.unregister("test_both_bowl")
    PROBLEMS.unregister("test_old_bowl")


@pytest.mark.slow
def test_a_problem_declaring_backends_gets_the_module_and_an_old_one_keeps_its_build(both_ways):
    import jax

    both, old = PROBLEMS.get("test_both_bowl"), PROBLEMS.get("test_old_bowl")
    assert both.backends == ("autograd", "jax") and old.backends == ("autograd",)
    assert (
        float(
            both.build(both.options()).objective(  # called as every entry was before backends: autograd.numpy
                {"x": np.zeros(2)}
            )
        )
        == 2.0
    )
    jax_problem = both.make(both.options(), get_backend("jax"))
    assert float(jax.jit(lambda x: jax_problem.objective({"x": x}))(np.zeros(2))) == 2.0
    assert old.make(old.options(), get_backend("autograd")).start == {"x": 0.0}
    with pytest.raises(
        ConfigError, match="^backend: problem 'test_old_bowl' runs on the 'autograd' backend only, not 'jax'"
    ):
        old.make(old.options(), get_backend("jax"))


@pytest.mark.slow
def test_a_python_function_declares_its_backends(workdir):
    import jax.numpy as jnp

    from optrun.core.problems.python import PythonFunction

    function = PythonFunction(lambda x: jnp.sum((x - 2.0) ** 2), np.zeros(3), backends=("jax",))
    result = optrun.run(
        {
            "problem": function,
            "optimizer": {"name": "gd", "step_size": 0.5},
            "backend": "jax",
            "stop": {"max_iter": 5},
            "output": {"plots": False},
        }
    )
    np.testing.assert_array_equal(
        result.params["x"], 2.0
    )  # x - 0.5 * 2 (x - 2) from 0: one exact step to 2, gradient 0 there
    with pytest.raises(ConfigError, match=r"^backend: problem 'python' runs on the 'jax' backend only, not 'autograd'"):
        optrun.run({"problem": function, "optimizer": "gd"})


every_problem = tolerances.backend_problems


def test_every_built_in_problem_runs_on_jax():
    """A built-in not ported to jax would be missing from every_problem()."""
    built_in = [name for name, entry in PROBLEMS.items() if entry.build.__module__.startswith("optrun.core.problems")]
    assert sorted(set(built_in) - set(every_problem())) == ["python"]  # a Python function declares its own (above)


@pytest.mark.slow
@pytest.mark.parametrize("name", every_problem())
def test_f_and_gradient_agree_at_the_default_start(name):
    """Every problem, built for each backend from its defaults, gives f and the
    gradient equal at its default start (jitted on jax), to the measured
    agreement of the two libraries on that problem (tests/tolerances.py
    "agree/NAME": the start moved by up to 4 ulps, every lower NumPy SIMD level,
    another OpenBLAS kernel; 10 x the largest difference seen). Problems whose f
    cancels (MGH gaussian: f = 3.9e-6 from terms of 0.4) get a wider one."""
    pairs = tolerances.backends_agree(name)
    tol = tolerances.measured(f"agree/{name}")
    for key, (jx, ag) in pairs.items():
        scale = np.max(np.abs(ag), initial=0.0)
        rtol = tol[key] if tol[key] is not None else 0.0  # None: a value at zero, where only exact agreement holds
        np.testing.assert_allclose(jx, ag, rtol=0, atol=rtol * scale, err_msg=key)


# -------------------------------------------------------------- same numbers
def test_no_config_is_left_out_silently():
    """COVERED is derived from the configs (covered()); every shipped config
    it leaves out is in NOT_COVERED with a reason, and nothing else is there."""
    left_out = {p.name for p in SHIPPED} - {p.name for p in COVERED}
    assert left_out <= set(NOT_COVERED), (
        f"shipped configs neither covered by the same-numbers test nor in NOT_COVERED in tests/test_backend.py "
        f"with a reason: {sorted(left_out - set(NOT_COVERED))}"
    )
    stale = sorted(set(NOT_COVERED) - left_out)
    assert not stale, f"NOT_COVERED in tests/test_backend.py names configs that are covered or gone: {stale}"
    assert COVERED, "covered() selects no shipped config"


def assert_same_trace(f_jx, x_jx, f_ag, x_ag):
    """f to 1e-12 relative, and x to 1e-12 of its largest entry. f also within
    1e-15 of the start's |f|: near a zero minimum (Himmelblau, Rosenbrock) f is
    a square of residuals computed by cancellation, so one rounding apart (XLA
    fuses a*b + c into one FMA on CPU; NumPy rounds twice) f's relative
    difference is large while x agrees to an ulp."""
    np.testing.assert_allclose(f_jx, f_ag, rtol=1e-12, atol=1e-15 * abs(f_ag[0]))
    np.testing.assert_allclose(x_jx, x_ag, rtol=1e-12, atol=1e-12 * np.max(np.abs(x_ag)))


@pytest.mark.slow
@pytest.mark.parametrize("config", [p for p in COVERED if p.name not in CHAOTIC], ids=lambda p: p.stem)
def test_the_python_loop_gives_the_same_trace_on_both_backends(config):
    f_ag, x_ag, prep_ag, out_ag = trace(config, "autograd")
    f_jx, x_jx, prep_jx, out_jx = trace(config, "jax")
    assert prep_jx.param_names == prep_ag.param_names  # the trace's parameter columns
    assert (out_jx.status, out_jx.nit) == (out_ag.status, out_ag.nit) and len(f_jx) == len(f_ag) <= ROWS
    assert_same_trace(f_jx, x_jx, f_ag, x_ag)


@pytest.mark.slow
def test_the_mlp_gives_the_same_trace_at_a_stable_step():
    """mlp-gd's network and data at step 1e-7, where gd descends steadily (f
    1.2e7 -> 6.8e6): the MLP's trace agrees like the classic functions' (4e-16 measured)."""
    f_ag, x_ag, prep_ag, _ = trace(CONFIGS / "mlp-gd.yaml", "autograd", ["optimizer.step_size=1.0e-7"])
    f_jx, x_jx, prep_jx, _ = trace(CONFIGS / "mlp-gd.yaml", "jax", ["optimizer.step_size=1.0e-7"])
    assert prep_jx.param_names == prep_ag.param_names and len(prep_ag.param_names) == 41  # layers[0].b[0], ...
    assert len(f_ag) == len(f_jx) == ROWS
    assert_same_trace(f_jx, x_jx, f_ag, x_ag)


def moved_by_one_ulp(x0):
    """Every entry one ulp up: one entry alone can round away on another BLAS
    kernel (on OpenBLAS's Prescott kernels the largest entry's ulp left the
    whole trace unchanged), every entry together cannot."""
    x = np.array(x0, dtype=float)
    return np.nextafter(x, np.inf)


@pytest.mark.slow
@pytest.mark.parametrize("config", sorted(CHAOTIC), ids=lambda name: name.removesuffix(".yaml"))
def test_a_chaotic_trace_drifts_no_more_than_one_rounding_moves_it(config):
    """mlp-gd (step 1e-6) amplifies every rounding about tenfold each 9 steps:
    no two float64 implementations that round differently anywhere (tanh,
    FMA, a dot product's order) can agree to 1e-7 over 100 rows. Its drift
    between backends is held to the problem's own sensitivity: autograd
    against autograd from a start moved by one ulp in every entry (measured at
    row 99: jax's relative drift 2.0e-4, below 1e-7 through row 57; one ulp
    1.4e-4, 8.4e-5 on OpenBLAS's Prescott kernels)."""
    f_ag, x_ag, prep, _ = trace(CONFIGS / config, "autograd")
    f_jx, *_ = trace(CONFIGS / config, "jax")
    rows = Rows()
    optimizer = prep.config.optimizer.entry.make(prep.config.optimizer.options, prep.oracle)
    runner.minimize(prep.oracle, moved_by_one_ulp(prep.x0), optimizer, prep.config.stop, [rows])
    one_ulp = np.maximum.accumulate(np.abs(np.array(rows.f) - f_ag) / np.abs(f_ag))
    drift = np.abs(f_jx - f_ag) / np.abs(f_ag)
    assert len(drift) == ROWS and drift[0] == 0.0
    assert np.all(drift <= 100 * one_ulp + 1e-14), np.max(drift / (100 * one_ulp + 1e-14))


def scipy_methods_by_derivatives():
    """One method run by SciPy (not pure: SciPy takes its own iterates) for each
    set of derivatives such methods ask the Oracle for (gradient; Hessian-vector
    products; Hessian), the first by name: derived from the entries' needs."""
    first: dict[tuple[str, ...], str] = {}
    for name, entry in sorted(OPTIMIZERS.items()):
        if not entry.pure and "gradient" in entry.needs:
            first.setdefault(entry.needs, name)
    return sorted(first.values())


@pytest.mark.slow
@pytest.mark.parametrize("method", scipy_methods_by_derivatives())
def test_scipy_methods_run_on_jax_derivatives(method):
    """SciPy's methods take the Oracle's gradient, Hessian-vector products and
    Hessian: on jax they reach the same minimum of Rosenbrock in as many iterations."""
    ends = {
        backend: trace({"problem": "rosenbrock", "optimizer": method}, backend)[3] for backend in ("autograd", "jax")
    }
    assert ends["jax"].status == ends["autograd"].status and ends["jax"].nit == ends["autograd"].nit
    # converged: |gradient| <= grad_tol 1e-8, so |x - 1| <= 1e-8 / lambda_min of the Hessian at the minimum,
    # [[802, -400], [-400, 200]]; 1% more for the third derivatives over that distance and the gradient's rounding (1e-13)
    assert ends["jax"].status == "converged"
    near = 1.01 * 1e-8 / np.linalg.eigvalsh([[802.0, -400.0], [-400.0, 200.0]])[0]
    np.testing.assert_allclose(ends["jax"].x, np.ones(2), rtol=0, atol=near)


@pytest.mark.slow
def test_optrun_grad_differentiates_with_autograd_whatever_the_backend():
    """optrun grad (optrun.core.derivatives) stays on autograd: a config asking
    for jax gets autograd's derivatives of the same problem."""
    from optrun.engine.grad import grad

    config = {"problem": {"name": "rosenbrock"}, "optimizer": "gd", "fix": {}}
    on_jax = grad({**config, "backend": "jax"}, hessian=True, write=False)
    on_autograd = grad(config, hessian=True, write=False)
    # (-215.6, -88): -1.2 is not exact in binary (the gradient at fl(-1.2) is 1.2 eps from these decimals), y - x^2 = -0.44
    # amplifies x^2's rounding 3.3 times, and a few more roundings: 8 eps
    assert on_jax.gradient.flat == on_autograd.gradient.flat == pytest.approx((-215.6, -88.0), rel=rounding(8))
    assert on_jax.hessian.matrix == on_autograd.hessian.matrix


def test_describe_and_list_problems_show_the_backends(both_ways):
    import re

    from rich.console import Console

    from optrun.commands.catalogue import problems_table
    from optrun.commands.describe import describe_problem
    from optrun.core.problems import PROBLEMS

    def text(renderable):
        console = Console(record=True, width=300)
        console.print(renderable)
        return console.export_text()

    assert re.search(r"│ backends +│ autograd, jax +│", text(describe_problem(PROBLEMS.get("trid"), 300)))
    listed = text(problems_table())
    assert "backends: autograd, jax" in listed and "backends: autograd " in listed  # test_both_bowl, test_old_bowl


@pytest.mark.slow
def test_the_oracle_hands_out_numpy_arrays_an_optimizer_may_change_in_place():
    """jax's results are read-only views of its buffers; the Oracle gives every
    optimizer writable float64 NumPy arrays on either backend."""
    from optrun.core.oracle import Oracle

    for name in ("autograd", "jax"):
        xp = get_backend(name).np
        oracle = Oracle(lambda x: xp.sum(x**3), backend=get_backend(name))
        x = np.array([1.0, 2.0])
        f, g = oracle.value_and_grad(x)
        for array in (g, oracle.hessian(x), oracle.hvp(x, np.ones(2))):
            assert type(array) is np.ndarray and array.dtype == np.float64 and array.flags.writeable
        g *= 2.0
        assert (f, oracle.value(x)) == (9.0, 9.0) and list(g) == [6.0, 24.0]


@pytest.mark.slow
def test_a_jax_only_problem_builds_with_jax_numpy_when_called_the_old_way():
    """build(options), as the catalogue calls every entry, uses the first declared backend's module."""
    import jax.numpy as jnp

    seen = []

    @register_problem("test_jax_only", description="bowl", backends=("jax",))
    def build(options, xp):
        seen.append(xp)
        return Problem(objective=lambda p: xp.sum(p["x"] ** 2), start={"x": np.ones(2)})

    try:
        entry = PROBLEMS.get("test_jax_only")
        entry.build(entry.options())
        assert seen == [jnp]
        with pytest.raises(
            ConfigError, match="^backend: problem 'test_jax_only' runs on the 'jax' backend only, not 'autograd'"
        ):
            load_config({"problem": "test_jax_only", "optimizer": "gd"})
        assert load_config({"problem": "test_jax_only", "optimizer": "gd", "backend": "jax"}).backend == "jax"
    finally:
        PROBLEMS.unregister("test_jax_only")
