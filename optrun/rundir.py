"""Reading a run directory back: its resolved config, summary and trace.

Used by ``optrun plot``, ``show`` and ``compare``, which work on any run
directory, finished, interrupted or killed (a killed run has no
``summary.json``; its complete trace rows are still there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from optrun.config import read_yaml_file
from optrun.errors import ConfigError
from optrun.outputs import read_trace


@dataclass(frozen=True)
class RunFiles:
    path: Path
    config: dict[str, Any]
    summary: dict[str, Any] | None  # None: the run never finished writing (killed)
    trace: dict[str, np.ndarray]

    @property
    def name(self) -> str:
        return str(self.config.get("name", self.path.parent.name))

    @property
    def problem(self) -> str:
        return str(self.config["problem"]["name"])

    @property
    def optimizer(self) -> str:
        return str(self.config["optimizer"]["name"])

    @property
    def status(self) -> str:
        return self.summary["status"] if self.summary else "incomplete"


def read_run(path: str | Path) -> RunFiles:
    run = Path(path)
    if not run.is_dir():
        raise ConfigError("not a run directory (no such folder)", source=str(run))
    missing = [name for name in ("config.yaml", "trace.csv") if not (run / name).is_file()]
    if missing:
        raise ConfigError(f"not a run directory (no {' or '.join(missing)})", source=str(run))
    try:
        config = read_yaml_file(run / "config.yaml", "run config")  # the same bounded, safe reader as configs
        summary_file = run / "summary.json"
        summary = json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.is_file() else None
        trace = read_trace(run / "trace.csv")
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the run's files: {' '.join(str(exc).split())}", source=str(run)) from None
    named = isinstance(config, dict) and all(isinstance(config.get(k), dict) and "name" in config[k] for k in ("problem", "optimizer"))
    if not named:
        raise ConfigError("config.yaml is not a resolved optrun config (no problem/optimizer names)", source=str(run))
    if summary is not None and not isinstance(summary, dict):
        raise ConfigError("summary.json is not a summary", source=str(run))
    return RunFiles(run, config, summary, trace)
