"""The AD tutorial's hand-written forward and reverse passes (its JVP/VJP
cells), shipped as configs/grad-jvp-vjp.yaml: z = x1 * x2 + x2 at (2, 4)."""

from pathlib import Path

import optrun

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "grad-jvp-vjp.yaml"


def tutorial_reverse_pass(x1, x2, dz):
    """The tutorial's function_vjp as written (its sum_vjp receives x1 where
    the sum's second input is x2), kept to show where its [5, 2] comes from."""
    y = x1 * x2
    dy = dx1 = dx2 = 0.0
    dy, dx1 = dy + dz, dx1 + dz  # sum_vjp(y, x1, dy, dx1, dz): the sum's share of x2 goes to x1
    dx2, dx1 = dx2 + dy * x1, dx1 + dy * x2  # mul_vjp
    return y + x2, [dx1, dx2]


def test_optrun_gives_the_passes_the_closed_form_gives(workdir):
    x1, x2 = 2.0, 4.0
    forward_1 = optrun.grad(str(CONFIG), jvp={"x1": 1.0, "x2": 0.0}, write=False)
    forward_2 = optrun.grad(str(CONFIG), jvp={"x1": 0.0, "x2": 1.0}, write=False)
    reverse = optrun.grad(str(CONFIG), vjp=[1.0], write=False)
    assert forward_1.value == x1 * x2 + x2 == 12.0
    assert list(forward_1.jvp.result) == [x2]  # dz/dx1 = x2
    assert list(forward_2.jvp.result) == [x1 + 1.0]  # dz/dx2 = x1 + 1
    assert list(reverse.vjp.result) == [x2, x1 + 1.0] == [4.0, 3.0]  # one reverse pass: both, as the forward passes say
    assert tutorial_reverse_pass(x1, x2, 1.0) == (12.0, [5.0, 2.0])  # what the tutorial printed, and why


def test_the_shipped_config_evaluates_at_the_point(workdir):
    result = optrun.run(str(CONFIG), overrides=["output.plots=false"])
    assert str(result.status) == "evaluated" and result.summary.fun == 12.0 and result.summary.nit == 0
