"""The benchmark views against hand-computed small cases (optrun.plots.profiles)."""

import math

import numpy as np
import pytest
from tolerances import rounding

from optrun.plots.profiles import (
    breakpoints,
    data_profile,
    performance_profile,
    performance_ratios,
    runtime_ecdf,
    target_costs,
    threshold,
)

INF = math.inf
# A profile's value is a count of rows over their number: one correctly rounded division of small integers, the
# same as k / n written here, so the comparisons below are exact.
# two solvers (columns A, B), three problems; B failed problem 3
COSTS = np.array([[10.0, 20.0], [40.0, 10.0], [30.0, INF]])


def test_performance_ratios_by_hand():
    # problem 1: best 10 -> A 1, B 2; problem 2: best 10 -> A 4, B 1; problem 3: only A -> A 1, B inf
    assert performance_ratios(COSTS).tolist() == [[1.0, 2.0], [4.0, 1.0], [1.0, INF]]


def test_performance_profile_by_hand():
    rho = performance_profile(COSTS, np.array([1.0, 2.0, 3.9, 4.0, 1e9]))
    # A: ratios 1, 4, 1 -> 2/3 at 1, 2/3 up to 4, then 1; B: 2, 1, inf -> 1/3 at 1, 2/3 from 2, never 1
    np.testing.assert_array_equal(rho[:, 0], [2 / 3, 2 / 3, 2 / 3, 1.0, 1.0])
    np.testing.assert_array_equal(rho[:, 1], [1 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3])


def test_a_problem_nobody_solved_counts_as_failed_for_everyone():
    costs = np.array([[5.0, 10.0], [INF, INF]])
    assert performance_ratios(costs).tolist() == [[1.0, 2.0], [INF, INF]]
    np.testing.assert_array_equal(performance_profile(costs, np.array([1e9])), [[0.5, 0.5]])


def test_zero_costs_stay_finite():
    ratios = performance_ratios(np.array([[0.0, 0.5], [1.0, 2.0]]))
    assert np.isfinite(ratios).all() and ratios[0, 0] == 1.0 and ratios[0, 1] == 1.0 and ratios[1, 1] == 2.0


def test_data_profile_in_simplex_gradients():
    dims = np.array([1, 3, 4])  # n + 1 = 2, 4, 5
    # scaled costs: A 5, 10, 6; B 10, 2.5, inf
    d = data_profile(COSTS, dims, np.array([2.5, 5.0, 6.0, 10.0]))
    np.testing.assert_array_equal(d[:, 0], [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_array_equal(d[:, 1], [1 / 3, 1 / 3, 1 / 3, 2 / 3])


def test_runtime_ecdf_pools_problems_and_targets():
    # two targets stacked: 6 (problem, target) pairs per solver
    pooled = np.concatenate([COSTS, np.array([[20.0, 30.0], [INF, 15.0], [40.0, INF]])])
    e = runtime_ecdf(pooled, np.array([10.0, 30.0, 100.0]))
    np.testing.assert_array_equal(e[:, 0], [1 / 6, 3 / 6, 5 / 6])  # A: 10, 40, 30, 20, inf, 40
    np.testing.assert_array_equal(e[:, 1], [1 / 6, 4 / 6, 4 / 6])  # B: 20, 10, inf, 30, 15, inf


def test_breakpoints_and_empty_input():
    assert breakpoints(COSTS).tolist() == [10.0, 20.0, 30.0, 40.0]
    assert breakpoints(COSTS, low=25.0).tolist() == [25.0, 30.0, 40.0]
    assert performance_profile(np.zeros((0, 2)), np.array([1.0])).tolist() == [[0.0, 0.0]]


def test_evaluations_to_target_is_the_first_row_that_reaches_it():
    f = np.array([10.0, 3.0, np.nan, 0.5, 0.01, 0.2])
    nfev = np.array([1, 3, 4, 6, 9, 12])
    assert target_costs(f, nfev, 1.0) == 6
    assert target_costs(f, nfev, 0.01) == 9
    assert target_costs(f, nfev, 1e-3) == INF
    assert target_costs(f, nfev, 10.0) == 1


@pytest.mark.parametrize(
    "tau, f_star, f0, f_low, expected",
    [
        (1e-3, 0.0, None, None, 1e-3),  # f* + tau max(1, |f*|)
        (1e-3, -200.0, None, None, -200.0 + 0.2),
        (0.1, None, 10.0, 2.0, 2.8),  # Moré-Wild: f_L + tau (f0 - f_L)
        (0.1, None, None, 2.0, None),
        (0.1, None, 10.0, None, None),
    ],
)
def test_thresholds(tau, f_star, f0, f_low, expected):
    got = threshold(tau, f_star, f0, f_low)
    # tau times a scale, then a sum: two roundings (and tau's own) apart from the decimal written here
    assert got == pytest.approx(expected, rel=rounding(3)) if expected is not None else got is None
