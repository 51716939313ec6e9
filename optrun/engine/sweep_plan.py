"""A sweep's plan: the config's ``sweep:`` block and the ``--grid``,
``--zip`` and ``--seeds`` options expanded into one set of dotted-path
overrides per run (``grid`` is the Cartesian product, ``zip`` pairs lists,
``seeds`` repeats each point), validated before anything is written.

A sweep has at most ``MAX_RUNS`` runs. Every combination is validated when
there are at most ``FULL_CHECK_RUNS`` runs, else the base config plus each
distinct swept value (and each zip row, the lowest and highest seed) once,
so validation grows with the number of values, not with their product.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from optrun.config import SECTION_KEYS, SweepConfig, load_config, parse_yaml
from optrun.core.errors import ConfigError
from optrun.core.options import validate
from optrun.core.yaml_text import yaml_text

MAX_RUNS = 10_000  # runs in one sweep (each is a run directory)
FULL_CHECK_RUNS = 100  # up to this many runs, every combination is validated


def parse_values(option: str, text: str) -> tuple[str, list[Any]]:
    """``--grid path=v1,v2,v3`` -> (path, [v1, v2, v3]); values are YAML scalars."""
    if "=" not in text:
        raise ConfigError(f"{option} {text!r} must look like dotted.key=value1,value2,...")
    path, _, raw = text.partition("=")
    path = path.strip()
    if not path or any(not part for part in path.split(".")):
        raise ConfigError(f"{option} {text!r} has an empty key in its path")
    if not raw.strip():
        raise ConfigError(f"{option} {text!r} gives no values")
    # the values are one YAML flow sequence, so lists work too: x=[0,0],[1,1]
    values = parse_yaml(f"[{raw}]", source=f"{option} {path}")
    return path, list(values)


def combine(block: SweepConfig | None, grid: Sequence[str], zipped: Sequence[str], seeds: int | None) -> SweepConfig:
    """The config's sweep: block with the command line's additions."""
    data: dict[str, Any] = block.model_dump() if block is not None else {"grid": {}, "zip": {}, "seeds": 1}
    for text in grid:
        key, values = parse_values("--grid", text)
        data["grid"][key] = values
    for text in zipped:
        key, values = parse_values("--zip", text)
        data["zip"][key] = values
    if seeds is not None:
        data["seeds"] = seeds
    spec = validate(SweepConfig, data, "sweep")
    if not spec.grid and not spec.zip and spec.seeds == 1:
        raise ConfigError("nothing to sweep: give --grid, --zip or --seeds, or a sweep: block in the config")
    overlap = set(spec.grid) & set(spec.zip)
    if overlap:
        raise ConfigError(f"'{sorted(overlap)[0]}' is both in grid and zip", path="sweep")
    return spec


def expand(spec: SweepConfig, base_seed: int) -> list[dict[str, Any]]:
    """Every run's swept values (dotted path -> value), seed last."""
    grid_keys = list(spec.grid)
    grid_points = list(itertools.product(*(spec.grid[k] for k in grid_keys))) or [()]
    zip_keys = list(spec.zip)
    zip_rows = list(zip(*(spec.zip[k] for k in zip_keys))) or [()]
    seeds = list(range(base_seed, base_seed + spec.seeds)) if isinstance(spec.seeds, int) else list(spec.seeds)
    runs = []
    for point in grid_points:
        for row in zip_rows:
            for seed in seeds:
                runs.append({**dict(zip(grid_keys, point)), **dict(zip(zip_keys, row)), "seed": seed})
    return runs


def to_overrides(values: dict[str, Any]) -> list[str]:
    return [f"{key}={yaml_text(value)}" for key, value in values.items()]


@dataclass(frozen=True)
class Plan:
    """A sweep's plan (sweep.json): the base config, the overrides for every run, the swept keys.

    ``sections`` holds the base config's sections whose name is swept (e.g.
    ``optimizer`` for ``--grid optimizer.name=gd,lbfgs``): a run of another
    method gets the base section without the options that method does not
    take (:func:`section_for`), so ``step_size: 0.05`` set for gd does not
    fail the lbfgs runs."""

    config: str | dict[str, Any]  # absolute path of the base config, or the base config itself (optrun bench)
    overrides: tuple[str, ...]  # --set, applied to every run
    keys: tuple[str, ...]  # swept paths, then "seed"
    runs: tuple[dict[str, Any], ...]
    plots: bool
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # swept section -> the base config's mapping

    def run_overrides(self, values: dict[str, Any]) -> list[str]:
        replaced = [
            f"{section}={yaml_text(section_for(section, base, values)[0])}" for section, base in self.sections.items()
        ]
        return [*self.overrides, *replaced, *to_overrides(values), *([] if self.plots else ["output.plots=false"])]

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "overrides": list(self.overrides),
            "keys": list(self.keys),
            "runs": list(self.runs),
            "plots": self.plots,
            "sections": self.sections,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        sections = data.get("sections")
        return cls(
            data["config"],
            tuple(data["overrides"]),
            tuple(data["keys"]),
            tuple(data["runs"]),
            bool(data["plots"]),
            sections if isinstance(sections, dict) else {},
        )


def section_for(section: str, base: dict[str, Any], values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The base config's ``section`` for a run whose swept ``values`` name its
    entry (``optimizer.name: lbfgs``), and the options left out: those the
    entry does not take, unless swept too (then the run's validation says
    what is wrong). An unknown name keeps everything (validation names it)."""
    from optrun.config import SECTION_KEYS, section_registry

    name_key = SECTION_KEYS[section]
    name = values.get(f"{section}.{name_key}", base.get(name_key))
    try:
        accepted = section_registry(section).get(name).options.model_fields
    except Exception:
        return dict(base), []
    swept = {key.split(".", 1)[1].split(".")[0] for key in values if key.startswith(section + ".")}
    kept = {k: v for k, v in base.items() if k == name_key or k in accepted or k in swept}
    return {**kept, name_key: name}, [k for k in base if k not in kept]


def swept_sections(config: str | Path, overrides: Sequence[str], keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The base sections (after ``--set``) whose entry name is among the swept ``keys``."""
    from optrun.config import SECTION_KEYS, raw_config

    names = {f"{section}.{key}": section for section, key in SECTION_KEYS.items()}
    swept = [names[k] for k in keys if k in names]
    if not swept:
        return {}
    data = raw_config(config, overrides)
    sections = {}
    for section in swept:
        raw = data.get(section)
        sections[section] = (
            dict(raw) if isinstance(raw, dict) else ({SECTION_KEYS[section]: raw} if raw is not None else {})
        )
    return sections


def dropped_options(plan: Plan) -> list[str]:
    """One note per swept entry that leaves base options out: what was left out, and why."""
    from optrun.config import SECTION_KEYS

    notes = []
    for section, base in plan.sections.items():
        name_key = f"{section}.{SECTION_KEYS[section]}"
        names: dict[tuple[str, ...], list[str]] = {}  # options left out -> the entries they are left out for
        kept: list[str] = []
        for values in plan.runs:
            name = str(values.get(name_key))
            dropped = tuple(section_for(section, base, values)[1])
            group = names.setdefault(dropped, []) if dropped else kept
            if name not in group:
                group.append(name)
        for dropped, group in names.items():
            left = ", ".join(f"{section}.{k}={yaml_text(base[k])}" for k in dropped)
            applies = f"; kept for {', '.join(kept)}" if kept else ""
            notes.append(
                f"{left} from the config {'does' if len(dropped) == 1 else 'do'} not apply to {', '.join(group)}: "
                f"left out of {'its' if len(group) == 1 else 'their'} runs{applies}"
            )
    return notes


def count_runs(spec: SweepConfig) -> tuple[int, int, int]:
    """(grid points, zip rows, seeds) of a sweep; their product is its number of runs."""
    grid = math.prod(len(values) for values in spec.grid.values())
    zipped = len(next(iter(spec.zip.values()))) if spec.zip else 1
    seeds = spec.seeds if isinstance(spec.seeds, int) else len(spec.seeds)
    return grid, zipped, seeds


def _probes(spec: SweepConfig, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs to validate: all of them when few, else the first run with
    each distinct grid value, each zip row and the extreme seeds put in."""
    if len(runs) <= FULL_CHECK_RUNS:
        return runs
    first = runs[0]
    probes = [first]
    for key, values in spec.grid.items():
        probes += [{**first, key: value} for value in values[1:]]
    keys = list(spec.zip)
    for row in list(zip(*spec.zip.values()))[1:]:
        probes.append({**first, **dict(zip(keys, row))})
    seeds = [r["seed"] for r in runs]
    probes += [{**first, "seed": seed} for seed in sorted({min(seeds), max(seeds)} - {first["seed"]})]
    unique: dict[str, dict[str, Any]] = {}
    for probe in probes:
        unique.setdefault(yaml_text(probe), probe)
    return list(unique.values())


def _cut(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def make_plan(
    config_path: Path,
    overrides: Sequence[str],
    grid: Sequence[str],
    zipped: Sequence[str],
    seeds: int | None,
    plots: bool,
    on_checked: Callable[[int, int], None] | None = None,
) -> tuple[Plan, Any]:
    """Validate the runs (see the module docstring for which); return the
    plan and the base config: the config with the first run's swept values
    (a key only the grid gives, as ``init.values`` for ``init.kind: values``,
    need not be in the file). ``on_checked(done, total)`` reports validation
    progress."""
    from optrun.config import raw_config

    data = raw_config(config_path, overrides)
    try:
        block = None if data.get("sweep") is None else validate(SweepConfig, data["sweep"], "sweep")
        spec = combine(block, grid, zipped, seeds)
    except ConfigError as exc:
        raise exc.located(source=exc.source or str(config_path)) from None
    points, rows, repeats = count_runs(spec)
    if points * rows * repeats > MAX_RUNS:
        raise ConfigError(
            f"the sweep has {points * rows * repeats} runs ({points} grid points x {rows} zip rows x {repeats} seeds); "
            f"the limit is {MAX_RUNS} runs: split it into several sweeps or sweep fewer values",
            path="sweep",
            source=str(config_path),
        )
    keys = (*spec.grid, *spec.zip, "seed")
    plan = Plan(
        str(config_path.resolve()), tuple(overrides), keys, (), plots, swept_sections(config_path, overrides, keys)
    )
    first = {k: v for k, v in expand(spec, 0)[0].items() if k != "seed"}
    base = _checked(config_path, plan, first, lambda: load_config(config_path, plan.run_overrides(first)))
    plan = replace(plan, runs=tuple(expand(spec, base.seed)))
    from optrun.engine.prepare import prepare

    def probe(values: dict[str, Any]) -> Any:
        return prepare(load_config(config_path, plan.run_overrides(values)))  # names, shapes, data files too

    probes = _probes(spec, list(plan.runs))
    for done, values in enumerate(probes, start=1):
        _checked(config_path, plan, values, functools.partial(probe, values))
        if on_checked is not None:
            on_checked(done, len(probes))
    return plan, base


def _checked(config_path: Path, plan: Plan, values: dict[str, Any], check: Callable[[], Any]) -> Any:
    """``check()``, its ConfigError naming the run's swept values."""
    try:
        return check()
    except ConfigError as exc:
        swept = ", ".join(_cut(f"{k}={v if isinstance(v, str) else yaml_text(v)}") for k, v in values.items())
        message = exc.message
        section = (exc.path or "").split(".")[0]
        # a swept option the swept method does not take (not the swept name itself: a method the run's bounds or
        # constraints refuse, whose message names the methods that can)
        if exc.path in values and section in plan.sections and exc.path != f"{section}.{SECTION_KEYS[section]}":
            message += (
                f"; a grid runs every combination: to give {exc.path} only to the {section}s that take it, "
                f"pair the lists with --zip (one value per {section}) or sweep them separately"
            )
        where = f"{exc.source or config_path}" + (f" (run with {swept})" if swept else "")
        raise ConfigError(message, path=exc.path, source=where) from None


def identical_repeats(plan: Plan) -> str | None:
    """A warning when a sweep's seeds repeat the same run: the seed draws
    nothing (the start and the problem do not depend on it), so every repeat
    of a point is an identical copy. None when seeds differ or there is one."""
    from optrun.engine.prepare import prepare

    seeds = sorted({run["seed"] for run in plan.runs})
    if len(seeds) < 2 or not isinstance(plan.config, str):
        return None
    first = {k: v for k, v in plan.runs[0].items() if k != "seed"}
    starts = [prepare(load_config(plan.config, plan.run_overrides({**first, "seed": s}))).x0 for s in seeds[:2]]
    if starts[0].shape == starts[1].shape and (starts[0] == starts[1]).all():
        return (
            f"the {len(seeds)} seeds give identical runs: the start does not depend on the seed "
            "(init: default or values, a fixed problem start); "
            "use a random init (normal, uniform) to repeat from different starts"
        )
    return None


def check_vectorizable(plan: Plan) -> None:
    """A ConfigError saying why the plan's runs cannot be one vectorised computation (``--vectorize``)."""
    from optrun.engine.batch import vectorizable

    reason = vectorizable([load_config(plan.config, plan.run_overrides(values)) for values in plan.runs])
    if reason:
        raise ConfigError(reason, source=plan.config if isinstance(plan.config, str) else "")
