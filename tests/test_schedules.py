"""Step-size schedules: closed forms, warm-up, validation and round trips."""

import math

import numpy as np
import pytest
import yaml
from helpers import run_cli
from tolerances import rounding

import optrun
from optrun.config import load_config
from optrun.core.errors import ConfigError
from optrun.core.optimizers.schedules import SCHEDULES, ScheduleOptions, as_schedule


def config(step_size, name="gd"):
    return load_config({"problem": "trid", "optimizer": {"name": name, "step_size": step_size}})


def schedule(**spec):
    """The step size of update t, from a spec validated exactly as a config's."""
    return as_schedule(config(spec).optimizer.options.step_size)


def error_of(step_size, name="gd"):
    with pytest.raises(ConfigError) as info:
        config(step_size, name)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_the_registered_schedules():
    # the built-ins stay (a config names them); a new schedule needs no edit here
    assert {"constant", "cosine", "exponential", "inverse_time", "step"} <= set(SCHEDULES)
    for name, entry in SCHEDULES.items():
        assert issubclass(entry.options, ScheduleOptions) and entry.description


# ------------------------------------------------------------- closed forms
# A schedule is a few operations on its options: a value times a power of 2 (decay 0.5) is exact in binary, and one
# correctly rounded division is the literal's (1 / 3 is 1 / 3); otherwise rounding(n) for n roundings.
def test_a_number_is_a_constant_step_size():
    at = as_schedule(0.25)
    assert [at(0), at(1), at(10**6)] == [0.25, 0.25, 0.25]


def test_constant():
    at = schedule(schedule="constant", value=0.3)
    assert [at(0), at(7), at(10**6)] == [0.3, 0.3, 0.3]


def test_exponential():
    at = schedule(schedule="exponential", value=0.2, decay_rate=0.5)
    assert at(0) == 0.2
    assert at(3) == 0.025  # 0.2 * 0.5**3: scaling by a power of 2 is exact
    assert at(10) == 0.2 / 1024


def test_inverse_time():
    at = schedule(schedule="inverse_time", value=1.0, decay_rate=0.5)
    assert at(0) == 1.0
    assert at(4) == 1 / 3  # 1 / (1 + 0.5 * 4): exact up to the one division, the literal's
    assert at(10) == 1 / 6


def test_step():
    at = schedule(schedule="step", value=0.8, every=3, factor=0.5)
    assert [at(t) for t in range(10)] == [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.1]  # 0.8 * 0.5**k: exact


def test_cosine():
    at = schedule(schedule="cosine", value=1.0, final_value=0.1, decay_steps=4)
    # ~8 roundings a side, math.cos within 4 ulps and pi's rounding in its argument; 1 + cos(3 pi / 4) = 0.29 cancels
    # 3.4x, and at t >= 4, 1 + cos(pi) is 0 within 4 ulps of 1, 4e-15 relative to 0.1: rounding(16)
    tol = rounding(16)
    assert at(0) == pytest.approx(1.0, rel=tol)
    assert at(1) == pytest.approx(0.1 + 0.9 * (1 + math.sqrt(0.5)) / 2, rel=tol)
    assert at(2) == pytest.approx(0.55, rel=tol)
    assert at(3) == pytest.approx(0.1 + 0.9 * (1 - math.sqrt(0.5)) / 2, rel=tol)
    assert at(4) == pytest.approx(0.1, rel=tol)
    assert at(100) == pytest.approx(0.1, rel=tol)  # stays at final_value


def test_defaults_of_each_schedule():
    cfg = config({"schedule": "cosine", "value": 0.5})
    assert cfg.optimizer.options.step_size.model_dump() == {
        "schedule": "cosine",
        "value": 0.5,
        "warmup_steps": 0,
        "decay_steps": 1000,
        "final_value": 0.0,
    }
    assert schedule(schedule="exponential", value=1.0)(2) == 0.99**2  # 1.0 * 0.99**2: the same power, exact
    assert schedule(schedule="inverse_time", value=1.0)(100) == pytest.approx(
        0.5, rel=rounding(3)
    )  # 1 / (1 + 0.01 * 100)
    assert schedule(schedule="step", value=1.0)(250) == 0.25  # 0.5**2: exact


# ------------------------------------------------------------------ warm-up
def test_linear_warmup_then_the_value():
    at = schedule(schedule="constant", value=1.0, warmup_steps=4)
    assert [at(t) for t in range(7)] == [0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0]  # (t + 1) / 5: one division, the literal's


def test_warmup_delays_the_decay():
    # the schedule proper starts at update W with its own t = 0
    at = schedule(schedule="exponential", value=1.0, decay_rate=0.5, warmup_steps=2)
    assert [at(t) for t in range(5)] == [1 / 3, 2 / 3, 1.0, 0.5, 0.25]  # (t + 1) / 3, then 0.5**k: exact
    at = schedule(schedule="cosine", value=1.0, decay_steps=2, warmup_steps=1)
    # halves, but for 0.5 (1 + cos(pi)): math.cos(pi) is -1 within 4 ulps (1.1e-16 each), halved: rounding(2)
    assert [at(t) for t in range(4)] == pytest.approx([0.5, 1.0, 0.5, 0.0], abs=rounding(2))


def test_the_trace_logs_the_step_size_each_update_used(workdir):
    result = optrun.run(
        {
            "problem": "trid",
            "optimizer": {
                "name": "gd",
                "step_size": {"schedule": "cosine", "value": 0.2, "decay_steps": 8, "warmup_steps": 2},
            },
            "stop": {"max_iter": 12, "grad_tol": None},
            "output": {"plots": False},
        }
    )
    logged = result.trace["step_size"]
    assert math.isnan(logged[0])  # row 0 is the start, before any update
    cos = [0.1 * (1 + math.cos(math.pi * t / 8)) for t in range(9)]
    expected = [0.2 / 3, 0.4 / 3] + cos + [0.0]
    # the warm-up rows are (t + 1) / 3 * 0.2 against 0.2 / 3 here, two roundings against one: rounding(2); the cosine
    # rows are the schedule's own operations; the last, 0.1 (1 + cos(pi)), is 0 within 4 ulps of 1, times 0.1
    np.testing.assert_allclose(logged[1:], expected, rtol=rounding(2), atol=rounding(4, 0.1))
    # and it is the step size that moved x: x_k = x_{k-1} - t_k g(x_{k-1}) on Trid 2-D
    x = np.column_stack([result.trace["x[0]"], result.trace["x[1]"]])
    # |x| < 1.5 and |t g| <= 0.2 * 5 from the start (1, -1): this g rounds otherwise than autograd's (a few eps of its
    # terms, up to 4), t by the warm-up's rounding(2), and x - t g once: rounding(8, 2) absolute
    for k in range(1, 13):
        g = np.array([2 * (x[k - 1, 0] - 1) - x[k - 1, 1], 2 * (x[k - 1, 1] - 1) - x[k - 1, 0]])
        np.testing.assert_allclose(x[k], x[k - 1] - expected[k - 1] * g, rtol=0, atol=rounding(8, 2))


# --------------------------------------------------------------- validation
def test_unknown_schedule_suggests_and_lists_the_known_names():
    assert error_of({"schedule": "cosin", "value": 0.1}) == (
        "optimizer.step_size.schedule: unknown schedule 'cosin'; did you mean 'cosine'? "
        "(known: constant, cosine, exponential, inverse_time, step)"
    )


def test_unknown_schedule_without_a_close_match():
    message = error_of({"schedule": "linear", "value": 0.1})
    assert message.startswith("optimizer.step_size.schedule: unknown schedule 'linear' (known: constant, cosine,")
    assert "did you mean" not in message


@pytest.mark.slow
def test_the_unknown_schedule_error_on_the_command_line(workdir):
    (workdir / "cfg.yaml").write_text(
        "problem: trid\noptimizer: {name: adam, step_size: {schedule: exponental, value: 0.1}}\n"
    )
    proc = run_cli("run", "cfg.yaml", cwd=workdir)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: cfg.yaml: optimizer.step_size.schedule: unknown schedule 'exponental'; did you mean 'exponential'? "
        "(known: constant, cosine, exponential, inverse_time, step)"
    )
    assert not (workdir / "outputs").exists()


@pytest.mark.parametrize(
    "step_size, expected",
    [
        (
            {"value": 0.1},
            "optimizer.step_size: a schedule mapping needs 'schedule:' naming the schedule (known: constant, cosine,",
        ),
        ({"schedule": "cosine"}, "optimizer.step_size.value: is required but missing"),
        ({"schedule": "cosine", "value": 0}, "optimizer.step_size.value: input should be greater than 0, got 0"),
        (
            {"schedule": "exponential", "value": 0.1, "decay_rate": 2},
            "optimizer.step_size.decay_rate: input should be less than or equal to 1, got 2",
        ),
        (
            {"schedule": "inverse_time", "value": 0.1, "decay_rate": 0},
            "optimizer.step_size.decay_rate: input should be greater than 0, got 0",
        ),
        (
            {"schedule": "step", "value": 0.1, "every": 0},
            "optimizer.step_size.every: input should be greater than or equal to 1, got 0",
        ),
        (
            {"schedule": "step", "value": 0.1, "factor": 1.5},
            "optimizer.step_size.factor: input should be less than or equal to 1, got 1.5",
        ),
        (
            {"schedule": "cosine", "value": 0.1, "final_value": -1},
            "optimizer.step_size.final_value: input should be greater than or equal to 0, got -1",
        ),
        (
            {"schedule": "cosine", "value": 0.1, "decay_steps": 2.5},
            "optimizer.step_size.decay_steps: input should be a valid integer",
        ),
        (
            {"schedule": "constant", "value": 0.1, "warmup_steps": -1},
            "optimizer.step_size.warmup_steps: input should be greater than or equal to 0, got -1",
        ),
        (
            {"schedule": "cosine", "valu": 0.1},
            "optimizer.step_size.valu: unknown key 'valu'; did you mean 'value'? "
            "(allowed for schedule 'cosine': schedule, value, warmup_steps, decay_steps, final_value)",
        ),
        (
            {"schedule": "constant", "value": 0.1, "decay_rate": 0.5},
            "optimizer.step_size.decay_rate: unknown key 'decay_rate' "
            "(allowed for schedule 'constant': schedule, value, warmup_steps)",
        ),
        (0, "optimizer.step_size: input should be greater than 0, got 0"),
        (float("inf"), "optimizer.step_size: input should be a finite number"),
        (True, "optimizer.step_size: input should be a valid number or a schedule mapping"),
        ([0.1], "optimizer.step_size: input should be a valid number or a schedule mapping"),
    ],
)
def test_bad_schedules_name_the_key_value_and_range(step_size, expected):
    message = error_of(step_size)
    assert message.startswith(expected), message


def test_a_schedule_error_inside_another_optimizer():
    assert error_of({"schedule": "step", "value": -1}, name="backtracking").startswith(
        "optimizer.step_size.value: input should be greater than 0, got -1"
    )
    assert error_of({"schedule": "cosin", "value": 1.0}, name="newton").startswith(
        "optimizer.step_size.schedule: unknown schedule 'cosin'; did you mean 'cosine'?"
    )


@pytest.mark.parametrize("name", ["lbfgs", "nelder-mead"])
def test_a_method_with_its_own_steps_takes_no_schedule(name):
    """SciPy's methods choose their own steps: step_size is an unknown key,
    and the error lists the method's options."""
    from optrun.core.optimizers import OPTIMIZERS

    allowed = ", ".join(sorted(OPTIMIZERS.get(name).options.model_fields))
    assert error_of({"schedule": "constant", "value": 0.1}, name=name) == (
        f"optimizer.step_size: unknown key 'step_size' (allowed: {allowed})"
    )


def test_the_trace_logs_newtons_scheduled_step_sizes(workdir):
    # Newton on Trid 2-D (a quadratic): the full step p = x* - x, so x_k - x* = (1 - t_k)(x_{k-1} - x*)
    result = optrun.run(
        {
            "problem": "trid",
            "optimizer": {"name": "newton", "step_size": {"schedule": "exponential", "value": 0.5, "decay_rate": 0.5}},
            "stop": {"max_iter": 4, "grad_tol": None},
            "output": {"plots": False},
        }
    )
    np.testing.assert_array_equal(result.trace["step_size"][1:], [0.5, 0.25, 0.125, 0.0625])  # 0.5**k: exact
    x = np.column_stack([result.trace["x[0]"], result.trace["x[1]"]])
    # p solves H p = -g by Cholesky (H = [[2, -1], [-1, 2]], condition number 3): backward stable, within ~3 * 6 eps
    # of |p| <= 3 (from (1, -1) to (2, 2)); then t p, x + t p and (1 - t)(x - 2) round once each: rounding(20, 3)
    for k, t in enumerate([0.5, 0.25, 0.125, 0.0625], start=1):
        np.testing.assert_allclose(x[k] - 2.0, (1 - t) * (x[k - 1] - 2.0), rtol=0, atol=rounding(20, 3))


# --------------------------------------------------------------- round trips
SPECS = [
    0.05,
    {"schedule": "constant", "value": 0.1, "warmup_steps": 5},
    {"schedule": "exponential", "value": 0.1, "decay_rate": 0.95},
    {"schedule": "inverse_time", "value": 0.1, "decay_rate": 0.2},
    {"schedule": "step", "value": 0.1, "every": 10, "factor": 0.3},
    {"schedule": "cosine", "value": 0.1, "decay_steps": 50, "final_value": 0.001, "warmup_steps": 3},
]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("name", ["gd", "rmsprop", "adamw", "backtracking", "newton"])
def test_resolved_config_round_trips(spec, name, tmp_path):
    optimizer = {"name": name, "step_size": spec, "clip_grad_norm": 2.0}  # every method with a step size can clip
    cfg = load_config({"problem": "trid", "optimizer": optimizer})
    resolved = cfg.resolved()
    dumped = resolved["optimizer"]["step_size"]
    if isinstance(spec, dict):
        assert {k: dumped[k] for k in spec} == spec  # given values kept, defaults filled in
    path = tmp_path / "resolved.yaml"
    path.write_text(yaml.safe_dump(resolved, sort_keys=False))
    again = load_config(path)
    assert again.resolved() == resolved
    assert again.optimizer.options == cfg.optimizer.options


def test_a_runs_config_yaml_loads_back_to_the_same_config(workdir):
    spec = {
        "problem": "trid",
        "optimizer": {
            "name": "nesterov",
            "clip_grad_norm": 1.5,
            "step_size": {"schedule": "step", "value": 0.1, "every": 3, "warmup_steps": 2},
        },
        "stop": {"max_iter": 5},
        "output": {"plots": False},
    }
    result = optrun.run(spec)
    again = load_config(result.run_dir / "config.yaml")
    assert again.resolved() == load_config(spec).resolved()
    assert again.optimizer.options.step_size.every == 3


def test_no_clipping_is_written_as_null_in_the_resolved_config():
    resolved = load_config({"problem": "trid", "optimizer": "gd"}).resolved()
    assert resolved["optimizer"] == {"name": "gd", "step_size": 0.01, "clip_grad_norm": None}
    assert load_config(resolved).resolved() == resolved
