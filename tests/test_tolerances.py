"""The measured tolerances (tests/tolerances.py, CONTRIBUTING.md "Tolerances")
are on file for every case, each is its measured spread times the margin,
and a missing one says how to measure it."""

import json

import pytest
import tolerances


def test_every_case_is_on_file_and_nothing_on_file_is_stale():
    """The cases are derived from the registries (a new built-in problem adds
    agree/NAME and, with a reference, reference/NAME); a case not yet measured
    names the command that measures it."""
    on_file = set(json.loads(tolerances.FILE.read_text()))
    missing = sorted(set(tolerances.CASES) - on_file)
    assert not missing, f"not measured yet: run `python tests/tolerances.py measure {' '.join(missing)}`"
    stale = sorted(on_file - set(tolerances.CASES))
    assert not stale, f"{tolerances.FILE.name} has cases no test computes any more; delete them: {stale}"


def test_each_tolerance_is_its_spread_times_the_margin_over_other_rounding_paths():
    for name, entry in json.loads(tolerances.FILE.read_text()).items():
        assert entry["variants"][0] == "as is" and len(entry["variants"]) >= 2, name  # at least one other rounding path
        assert entry["samples"] >= 4 and entry["ulps"] >= 1 and entry["margin"] >= 10
        for key, value in entry["values"].items():
            if name in tolerances.BOUNDS:  # an absolute bound on a value that is zero in exact arithmetic
                assert value["bound"] >= 0.95 * entry["margin"] * value["largest"], (name, key)
                assert tolerances.measured(name)[key] == value["bound"]
                continue
            if value["rtol"] is None:  # a value at zero: no relative tolerance
                assert value["spread_abs"] < 1e-20 and value["spread"] is None, (name, key)
                continue
            assert value["rtol"] >= 16 * tolerances.EPS, (name, key)
            assert value["rtol"] >= 0.95 * entry["margin"] * value["spread"], (name, key)  # 0.95: printed to 2 digits
            assert tolerances.measured(name)[key] == value["rtol"]


def test_a_missing_case_names_the_command_that_measures_it():
    with pytest.raises(LookupError, match="python tests/tolerances.py measure nothing/here"):
        tolerances.measured("nothing/here")
