"""The ``sweep:`` block of a config: the runs a study expands to
(:mod:`optrun.commands.sweep` expands and runs them)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from optrun.core.options import Options


class SweepConfig(Options):
    """A study over many runs (read by ``optrun sweep``; ignored by ``optrun run``).
    Keys of ``grid``/``zip`` are dotted config paths, as for ``--set``."""

    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="dotted config path -> values: a run for every combination of them"
    )
    zip: dict[str, list[Any]] = Field(
        default_factory=dict, description="dotted config path -> values, lists of one length: the i-th go together"
    )
    seeds: int | list[int] = Field(
        1, description="repeats of each point: a count N (seeds seed, seed + 1, ...), or the list of seeds"
    )

    @field_validator("grid", "zip")
    @classmethod
    def _non_empty(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"'{key}' has no values")
            if key == "seed":
                raise ValueError("'seed' cannot be swept: use seeds: for repeats")
            if key == "name" or key.startswith(("output.", "sweep", "expect")):
                raise ValueError(f"'{key}' cannot be swept: a sweep's runs share one sweep folder and expectations")
        return value

    @field_validator("zip")
    @classmethod
    def _same_length(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        lengths = {key: len(values) for key, values in value.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(
                "zip lists must have one length; their lengths are "
                + ", ".join(f"{k}: {n}" for k, n in lengths.items())
            )
        return value

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, int) and not 1 <= value <= 100_000:
            raise ValueError("seeds must be a count from 1 to 100000 or a list of seeds")
        if isinstance(value, list) and (not value or len(set(value)) != len(value) or min(value) < 0):
            raise ValueError("a list of seeds must be non-empty, distinct and >= 0")
        return value
