"""Update rules against hand-computed steps."""

import numpy as np
import pytest

from optrun.optimizers import OPTIMIZERS


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


GRADS = [[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0]]


def test_gd():
    out, state = steps(make("gd", step_size=0.1), GRADS)
    np.testing.assert_allclose(out, -0.1 * np.array(GRADS))
    assert state.step_size == 0.1


def test_momentum_heavy_ball():
    out, _ = steps(make("momentum", step_size=0.1, beta=0.5), GRADS)
    v1 = np.array([1.0, -2.0])
    v2 = 0.5 * v1 + [0.5, 0.5]
    v3 = 0.5 * v2 + [-1.0, 3.0]
    np.testing.assert_allclose(out, [-0.1 * v1, -0.1 * v2, -0.1 * v3])


def test_adam_bias_corrected():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    out, state = steps(make("adam", step_size=lr, b1=b1, b2=b2, eps=eps), GRADS)
    m = v = np.zeros(2)
    for t, g in enumerate(np.array(GRADS), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        expected = -lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(out[t - 1], expected, rtol=1e-12)
    # the first Adam step is -lr * sign(g) (up to eps)
    np.testing.assert_allclose(out[0], [-lr, lr], rtol=1e-6)
    assert state.count == 3


def test_optimizers_are_pure():
    opt = make("adam")
    state = opt.init(np.zeros(2))
    a = opt.update(np.ones(2), state, np.zeros(2))
    b = opt.update(np.ones(2), state, np.zeros(2))
    np.testing.assert_array_equal(a[0], b[0])
    assert state.count == 0


@pytest.mark.parametrize("name", ["gd", "momentum", "adam"])
def test_every_optimizer_reaches_the_trid_minimum(name, workdir):
    import optrun

    result = optrun.run({"problem": {"name": "trid", "dim": 10}, "optimizer": {"name": name, "step_size": 0.05},
                         "stop": {"max_iter": 20000, "grad_tol": 1e-8}, "output": {"plots": False}})
    assert result.status == "converged"
    assert result.fun == pytest.approx(-210, abs=1e-9)
