import numpy as np
import pytest
from autograd.misc.flatten import flatten

from optrun.core.errors import ConfigError
from optrun.core.params import coerce_like, leaf_names, size, to_jsonable

NESTED = {
    "x": 1.0,
    "w": np.zeros((2, 3)),
    "layers": [{"w": np.zeros((2, 1)), "b": np.zeros(1)}, {"w": np.zeros((1, 1)), "b": np.zeros(1)}],
}


def test_leaf_names_follow_flatten_order():
    # give every entry a distinct value, flatten, and check names line up
    counter = iter(range(1000))
    numbered = {
        "x": float(next(counter)),
        "w": np.array([[next(counter) for _ in range(3)] for _ in range(2)], dtype=float),
        "layers": [
            {
                "w": np.array([[next(counter)], [next(counter)]], dtype=float),
                "b": np.array([next(counter)], dtype=float),
            },
            {"w": np.array([[next(counter)]], dtype=float), "b": np.array([next(counter)], dtype=float)},
        ],
    }
    flat, _ = flatten(numbered)
    names = leaf_names(numbered)
    lookup = {
        "x": numbered["x"],
        "w[1,2]": numbered["w"][1, 2],
        "layers[0].w[1,0]": numbered["layers"][0]["w"][1, 0],
        "layers[1].b[0]": numbered["layers"][1]["b"][0],
    }
    for name, value in lookup.items():
        assert flat[names.index(name)] == value
    assert len(names) == size(numbered) == len(flat) == 1 + 6 + 3 + 2


def test_coerce_like_accepts_matching_structure():
    value = coerce_like(
        NESTED,
        {"x": 2, "w": [[1, 2, 3], [4, 5, 6]], "layers": [{"w": [[1], [2]], "b": [0]}, {"w": [[1]], "b": [3]}]},
        "v",
    )
    assert value["x"] == 2.0 and isinstance(value["x"], float)
    assert value["w"].shape == (2, 3)
    assert value["layers"][1]["b"].tolist() == [3.0]


@pytest.mark.parametrize(
    "template, value, expected",
    [
        (np.zeros(2), [1, 2, 3], "v: must be an array of shape (2,), got shape (3,)"),
        (1.0, [1.0], "v: must be a number, got shape (1,)"),
        (1.0, "one", "v: must be a number, got 'one'"),
        (1.0, True, "v: must be a number, got True"),
        (1.0, float("nan"), "v: must be finite numbers"),
        (np.zeros(2), [1, float("inf")], "v: must be finite numbers"),
        (np.zeros((2, 2)), [[1, 2], [3]], "v: must be an array of shape (2, 2)"),
        ({"a": 1.0}, {"b": 1.0}, "v: unknown parameter 'b'"),
        ({"a": 1.0, "b": 1.0}, {"a": 1.0}, "v: missing key 'b'"),
        ([{"a": 1.0}], [{"a": 1.0}, {"a": 2.0}], "v: must be a list of 1 entries"),
        ([{"a": 1.0}], [{"a": "x"}], "v[0].a: must be a number"),
    ],
)
def test_coerce_like_errors(template, value, expected):
    with pytest.raises(ConfigError) as info:
        coerce_like(template, value, "v")
    assert expected in str(info.value)


def test_to_jsonable_nests_and_nulls_non_finite():
    assert to_jsonable({"x": np.array([1.0, np.nan]), "y": np.float64(2.0)}) == {"x": [1.0, None], "y": 2.0}
