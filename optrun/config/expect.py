"""The ``expect:`` block of a config: what ``optrun check`` compares a run
with (:mod:`optrun.engine.expect` does the comparing)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from optrun.core.options import Options
from optrun.core.status import ExpectableName  # the names an expect.status may take

DEFAULT_TOLERANCE = 1e-6

Tolerance = Annotated[float, Field(ge=0)]


class CalibrationRecord(Options):
    """What ``optrun check --calibrate`` measured (see :mod:`optrun.engine.calibrate`)."""

    margin: float = Field(gt=0, description="each tolerance is margin x the largest deviation seen")
    samples: int = Field(ge=1, description="the runs compared: the plain one plus the perturbed ones")
    sensitive: bool = Field(description="the result depends on rounding (a spread above 1e-9, relative)")
    spread: dict[str, Tolerance] = Field(
        default_factory=dict, description="field (fun, params.NAME) -> the largest |perturbed - plain| seen"
    )


class ExpectConfig(Options):
    """What ``optrun check`` compares. ``atol``/``rtol`` are one number for
    every field, or a mapping by field: ``fun``, ``params`` or ``params.NAME``
    (the most specific key wins; unlisted fields use 1e-6). ``recorded_on``
    and ``calibration`` are written by ``check --update``/``--calibrate``."""

    fun: float | Literal["known"] | None = Field(
        None, description="the final f, or known: the problem's known minimum f* (null: not checked)"
    )
    params: dict[str, Any] | Literal["known"] | None = Field(
        None, description="parameter name -> final value, or known: the nearest known minimizer (null: not checked)"
    )
    atol: Tolerance | dict[str, Tolerance] = Field(
        1e-6, description="absolute tolerance: a number, or a mapping by field (fun, params, params.NAME)"
    )
    rtol: Tolerance | dict[str, Tolerance] = Field(
        1e-6, description="relative tolerance: a number, or a mapping by field (fun, params, params.NAME)"
    )
    status: ExpectableName | None = Field(None, description="the run's final status (null: not checked)")
    max_nit: int | None = Field(None, ge=0, description="the run takes at most this many iterations (null: any)")
    recorded_on: str | None = Field(
        None, description="the machine the values were recorded on (written by check --update, --calibrate)"
    )
    calibration: CalibrationRecord | None = Field(None, description="what check --calibrate measured (written by it)")

    @field_validator("status", mode="before")
    @classmethod
    def _expectable(cls, value: Any) -> Any:
        """A status no run can pass its check with is named as such (not only as "not one of ...")."""
        from optrun.core.status import Status as Statuses
        from optrun.core.status import status

        if isinstance(value, str) and status(value) is not None and not Statuses(value).expectable:
            allowed = ", ".join(s.value for s in Statuses if s.expectable)
            raise ValueError(
                f"a run that ends {value} fails its check whatever is expected, so it can never pass: "
                f"expect one of {allowed}"
            )
        return value

    @field_validator("atol", "rtol")
    @classmethod
    def _fields(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key in value:
                if key not in ("fun", "params") and not key.startswith("params."):
                    raise ValueError(f"unknown field '{key}': the keys are 'fun', 'params' or 'params.NAME'")
        return value

    def tolerance(self, field: str) -> tuple[float, float]:
        """(atol, rtol) for a field such as 'fun' or 'params.x'."""
        return self._pick(self.atol, field), self._pick(self.rtol, field)

    @staticmethod
    def _pick(value: float | dict[str, float], field: str) -> float:
        if not isinstance(value, dict):
            return value
        for key in (field, field.split(".")[0]):
            if key in value:
                return value[key]
        return DEFAULT_TOLERANCE
