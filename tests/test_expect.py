import dataclasses

from optrun.config import ExpectConfig
from optrun.core.result import Summary
from optrun.engine.expect import check_expect

SUMMARY = Summary.from_json(
    {
        "status": "converged",
        "message": "ok",
        "fun": -1.9999995,
        "grad_norm": 1e-7,
        "nit": 40,
        "nfev": 41,
        "njev": 41,
        "params": {"x": [2.0000004, 1.9999990], "y": 0.5},
        "best": {"fun": -1.9999995, "iter": 40},
        "wall_time_s": 0.01,
        "reference": {"fun": -2.0, "params": [{"x": [2.0, 2.0]}, {"x": [-2.0, -2.0]}]},
    }
)


def checks(**expect):
    return {c.field: c for c in check_expect(ExpectConfig(**expect), SUMMARY)}


def test_known_uses_the_nearest_minimizer():
    result = checks(fun="known", params="known", atol=1e-5)  # the summary is within 1e-6 of the minimum: 1e-5 passes
    assert all(c.ok for c in result.values())
    assert result["params.x"].expected == [2.0, 2.0]


def test_tolerance_edges():
    # |-1.9999995 - -2| = 5e-7 up to the literal's rounding (2e-16; the subtraction is exact): the edges sit 1e-9 either
    # side, and rtol 2.6e-7 allows 5.2e-7
    assert checks(fun=-2.0, atol=5.01e-7, rtol=0.0)["fun"].ok
    assert not checks(fun=-2.0, atol=4.99e-7, rtol=0.0)["fun"].ok
    assert checks(fun=-2.0, atol=0.0, rtol=2.6e-7)["fun"].ok
    failed = checks(params={"x": [2.0, 2.0]}, atol=5e-7, rtol=0.0)["params.x"]
    assert not failed.ok and failed.detail.startswith("at x[1]: |diff| 1e-06 > atol 5e-07 + rtol 0")


def test_status_max_nit_and_unknown_parameter():
    result = checks(status="max_iter", max_nit=30, params={"z": 1.0})
    assert not result["status"].ok and not result["max_nit"].ok and not result["params.z"].ok
    assert "took 40 iterations > max_nit 30" == result["max_nit"].detail
    assert "no parameter 'z'" in result["params.z"].detail


def test_known_without_a_reference_fails():
    summary = dataclasses.replace(SUMMARY, reference=None)
    [check] = check_expect(ExpectConfig(fun="known"), summary)
    assert not check.ok and check.detail == "the problem has no known minimum"
