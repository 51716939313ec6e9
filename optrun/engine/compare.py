"""Several runs side by side (``optrun compare``, ``optrun.compare``): one
row per run (name, problem, optimizer, status, f, gap, nit, nfev, wall
time), the columns of ``compare.csv``, and their loss curves overlaid
(:mod:`optrun.plots.compare`). Sweep and bench folders stand for their runs.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optrun.core.errors import ConfigError, OptrunError, RunIOError
from optrun.core.outputs import write_text_atomic
from optrun.core.rundir import RunFiles
from optrun.core.trace import TRACE_FILES, has_trace
from optrun.core.yaml_text import yaml_text

COLUMNS = (
    "run",
    "name",
    "problem",
    "optimizer",
    "setting",
    "status",
    "f",
    "gap",
    "nit",
    "nfev",
    "wall_time_s",
    "run_dir",
)
# config keys that never tell runs apart (where and how a run is written, what check expects)
_NOT_SETTINGS = ("name", "output", "expect", "sweep", "problem.name", "optimizer.name")


def expand_sweep_dirs(paths: list[Path]) -> list[Path]:
    """Run directories, with a sweep directory standing for its runs (those
    with a trace), a bench directory for the runs of its runs/ sweep, and a
    name folder (``outputs/NAME``, holding a config's runs) for the runs in it
    (not those of the sweeps in it: name a sweep folder for those). A
    ``run-NNNN`` entry that is a file or a symbolic link is not a run of that
    sweep: an error, never followed."""
    from optrun.engine.bench import RUNS, is_bench_dir

    expanded: list[Path] = []
    for path in paths:
        if is_bench_dir(path):
            path = path / RUNS
        if (path / "sweep.json").is_file():
            runs = []
            for entry in sorted(path.iterdir()):
                if not re.fullmatch(r"run-\d{4,}", entry.name):
                    continue
                if entry.is_symlink() or not entry.is_dir():
                    what = "a symbolic link" if entry.is_symlink() else "not a folder"
                    raise ConfigError(f"{entry.name} is {what}, not a run directory of this sweep", source=str(path))
                if has_trace(entry):
                    runs.append(entry)
            if not runs:
                raise ConfigError(
                    "the sweep has no runs yet (no run-NNNN folder with a trace): nothing to compare",
                    source=str(path),
                )
            expanded.extend(runs)
        elif _is_name_folder(path):
            expanded.extend(sorted(child for child in path.iterdir() if _is_run_dir(child)))
        else:
            expanded.append(path)
    return expanded


def _is_run_dir(path: Path) -> bool:
    return not path.is_symlink() and path.is_dir() and (path / "config.yaml").is_file() and has_trace(path)


def _is_name_folder(path: Path) -> bool:
    """A folder of runs (outputs/NAME) rather than a run: no run files of its own, a run directory inside."""
    return (
        path.is_dir()
        and not (path / "config.yaml").exists()
        and not any((path / name).exists() for name in TRACE_FILES)
        and any(_is_run_dir(child) for child in path.iterdir())
    )


def key_options(run: RunFiles) -> str:
    """The optimizer options that differ from the optimizer's defaults, values
    written as in a config (``clip_grad_norm=1.0, step_size=1e-3``)."""
    from optrun.core.optimizers import OPTIMIZERS

    given = {k: v for k, v in run.config["optimizer"].items() if k != "name"}
    try:
        defaults = OPTIMIZERS.get(run.optimizer).options.model_construct().model_dump(mode="json")
    except Exception:
        defaults = {}
    changed = {k: v for k, v in given.items() if defaults.get(k, object()) != v}
    return ", ".join(f"{k}={yaml_text(v, limit=60)}" for k, v in changed.items())


def settings(runs: Sequence[RunFiles]) -> list[str]:
    """What tells each run apart from the others compared: the config values
    (dotted paths, seed included) that differ between them, e.g.
    ``step_size=0.01, seed=1`` for the members of a sweep, values written as
    in a config (``grad_tol=null``); for a single run, its optimizer options
    that differ from the defaults."""
    if len(runs) < 2:
        return [key_options(run) for run in runs]
    flat = [_flatten(run.config) for run in runs]
    keys = [k for k in dict.fromkeys(k for f in flat for k in f) if not k.startswith(_NOT_SETTINGS)]
    # keys every run has (an option of one method only is told by the optimizer column)
    differ = [k for k in keys if all(k in f for f in flat) and len({repr(f[k]) for f in flat}) > 1]
    # an option that is a number in one run and a mapping in another (step_size: 0.01 against a schedule)
    differ += [k for k in keys if k not in differ and _value_or_mapping_in_all(k, flat)]
    values = [{k: f[k] if k in f else _at(run.config, k) for k in differ} for f, run in zip(flat, runs)]
    return [", ".join(f"{_short_key(k, differ)}={yaml_text(v[k], limit=60)}" for k in differ) for v in values]


def _value_or_mapping_in_all(key: str, flat: Sequence[dict[str, Any]]) -> bool:
    """Whether ``key`` is a value in some of the flattened configs and a mapping (keys under it) in the others."""
    under = [any(k.startswith(key + ".") for k in f) for f in flat]
    return all(key in f or u for f, u in zip(flat, under)) and any(under) and any(key in f for f in flat)


def _at(config: Any, key: str) -> Any:
    """The value at a dotted key of a config (a mapping for a key with keys under it)."""
    for part in key.split("."):
        config = config[part]
    return config


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def _short_key(key: str, keys: Sequence[str]) -> str:
    """``optimizer.step_size`` as ``step_size`` when no other differing key ends alike."""
    last = key.rsplit(".", 1)[-1]
    return last if sum(k.rsplit(".", 1)[-1] == last for k in keys) == 1 else key


def label(run: RunFiles, setting: str | None = None) -> str:
    setting = key_options(run) if setting is None else setting
    return f"{run.name} [{run.path.name}]: {run.optimizer}" + (f" ({setting})" if setting else "")


def row(index: int, run: RunFiles, setting: str = "") -> dict[str, Any]:
    """One compare row: from the summary, or from the trace's last row for a run without one (killed)."""
    summary, trace = run.summary, run.trace
    if summary is None:
        last = len(trace["iter"]) > 0
        fun, gap = (trace["f"][-1] if last else None), None
        nit, nfev = (int(trace["iter"][-1]), int(trace["nfev"][-1])) if last else (0, 0)
        wall_time_s = float(trace["time_s"][-1]) if last else None
    else:
        fun, gap, nit, nfev, wall_time_s = summary.fun, summary.gap, summary.nit, summary.nfev, summary.wall_time_s
    return {
        "run": index,
        "name": run.name,
        "problem": run.problem,
        "optimizer": run.optimizer,
        "setting": setting,
        "status": run.status,
        "f": fun,
        "gap": gap,
        "nit": nit,
        "nfev": nfev,
        "wall_time_s": wall_time_s,
        "run_dir": str(run.path),
    }


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r[k] is None else r[k]) for k in COLUMNS})
    make_parent(path)
    write_text_atomic(path, buffer.getvalue())


def make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunIOError(f"cannot create the folder: {exc.strerror or exc}", source=str(path.parent)) from None


@dataclass(frozen=True)
class Comparison:
    """What ``optrun.compare`` returns: the compare table (one row per run,
    the columns of compare.csv) and the overlaid loss figure. Jupyter shows
    the table; ``to_pandas()`` gives it as a DataFrame."""

    rows: tuple[dict[str, Any], ...]
    figure: Any

    def to_pandas(self) -> Any:
        try:
            import pandas
        except ImportError:
            raise OptrunError("to_pandas needs pandas, which is not installed: pip install pandas") from None
        frame = pandas.DataFrame(list(self.rows), columns=list(COLUMNS))
        # numbers stay numbers when every run lacks one (no known f*: gap None -> NaN, not an object column)
        return frame.astype({column: "float64" for column in ("f", "gap", "wall_time_s")})

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape('-' if r[c] is None else str(r[c]))}</td>" for c in COLUMNS) + "</tr>"
            for r in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
