"""``optrun sweep``: many runs of one config over a grid of values.

A sweep is expanded from the config's ``sweep:`` block and the ``--grid``,
``--zip`` and ``--seeds`` options into a plan: one set of dotted-path
overrides per run (``grid`` is the Cartesian product, ``zip`` pairs lists,
``seeds`` repeats each point). A sweep has at most ``MAX_RUNS`` runs. It is
validated before anything is written: every combination when there are at
most ``FULL_CHECK_RUNS`` runs, else the base config plus each distinct
swept value (and each zip row, the lowest and highest seed) once, so
validation grows with the number of values, not with their product. The runs are ordinary run directories in one sweep
folder, ``<output.dir>/<name>/sweep-<timestamp>/run-NNNN/``, beside
``sweep.json`` (the plan, for ``--resume``), ``sweep.csv`` and ``sweep.png``.

Runs go to an executor: in this process, a local process pool, or a Dask
cluster (``dask.distributed``, an optional extra); all three call the same
:func:`run_one`, so they give identical results. A failed or diverged run is
recorded and the sweep goes on; Ctrl-C stops starting new runs and keeps
every finished one.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import signal
import statistics
import tempfile
import time
import warnings as warnings_module
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from optrun.config import SweepConfig, load_config, parse_yaml
from optrun.core.errors import ConfigError, OptrunError, RunIOError
from optrun.core.options import validate
from optrun.core.outputs import make_run_dir, remove_run_dir, write_json_atomic, write_text_atomic
from optrun.core.result import Summary
from optrun.core.rundir import read_summary
from optrun.core.status import Status, status

MAX_RUNS = 10_000  # runs in one sweep (each is a run directory)
FULL_CHECK_RUNS = 100  # up to this many runs, every combination is validated
MAX_LOCAL_WORKERS = 256  # --dask local:N
RESULT_COLUMNS = ("status", "f", "gap", "nit", "nfev", "wall_time_s", "message", "run_dir")


def is_done(row: dict[str, Any]) -> bool:
    """A row --resume keeps: a finished run, or one that could not start (``error``)."""
    found = status(row["status"])
    return row["status"] == "error" if found is None else found.finished


def is_failed(row: dict[str, Any]) -> bool:
    """A run that diverged or failed, or could not start."""
    found = status(row["status"])
    return row["status"] == "error" if found is None else found.failure


# ------------------------------------------------------------------ the plan
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
    data = block.model_dump() if block is not None else {"grid": {}, "zip": {}, "seeds": 1}
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
    return [f"{key}={_flow(value)}" for key, value in values.items()]


def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


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
            f"{section}={_flow(section_for(section, base, values)[0])}" for section, base in self.sections.items()
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
        sections = data.get("sections") if isinstance(data.get("sections"), dict) else {}
        return cls(
            data["config"],
            tuple(data["overrides"]),
            tuple(data["keys"]),
            tuple(data["runs"]),
            bool(data["plots"]),
            sections,
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
            left = ", ".join(f"{section}.{k}={_flow(base[k])}" for k in dropped)
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
        unique.setdefault(_flow(probe), probe)
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

    probes = _probes(spec, list(plan.runs))
    for done, values in enumerate(probes, start=1):
        _checked(
            config_path, plan, values, lambda: prepare(load_config(config_path, plan.run_overrides(values)))
        )  # names, shapes, data files too
        if on_checked is not None:
            on_checked(done, len(probes))
    return plan, base


def _checked(config_path: Path, plan: Plan, values: dict[str, Any], check: Callable[[], Any]) -> Any:
    """``check()``, its ConfigError naming the run's swept values."""
    try:
        return check()
    except ConfigError as exc:
        swept = ", ".join(_cut(f"{k}={v if isinstance(v, str) else _flow(v)}") for k, v in values.items())
        message = exc.message
        section = (exc.path or "").split(".")[0]
        if exc.path in values and section in plan.sections:  # a swept option the swept method does not take
            message += (
                f"; a grid runs every combination: to give {exc.path} only to the {section}s that take it, "
                f"pair the lists with --zip (one value per {section}) or sweep them separately"
            )
        raise ConfigError(message, path=exc.path, source=f"{exc.source or config_path} (run with {swept})") from None


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
            f"the {len(seeds)} seeds give identical runs: the start does not depend on the seed (init: default or values, "
            "a fixed problem start); use a random init (normal, uniform) to repeat from different starts"
        )
    return None


# ------------------------------------------------------------------ one run
def run_one(task: dict[str, Any]) -> dict[str, Any]:
    """One sweep run, in whatever process an executor chose; returns its row.
    Errors become the row's status, so one bad run never stops the sweep."""
    from optrun.engine.record import execute
    from optrun.config.plugins import load_user_problems

    row: dict[str, Any] = {"index": task["index"], **task["values"], **{c: None for c in RESULT_COLUMNS}}
    row["run_dir"] = task["run_dir"]
    try:
        load_user_problems(task.get("problems"))
        config = load_config(task["config"], task["overrides"])
        result = execute(config, run_dir=Path(task["run_dir"]), blas_threads=task["blas_threads"])
    except OptrunError as exc:
        return {**row, "status": "error", "message": str(exc)}
    except Exception as exc:  # an executor must get a row back, never an exception
        return {**row, "status": "error", "message": f"{type(exc).__name__}: {exc}"}
    return {**row, **_result_fields(result.summary)}


def _result_fields(summary: Summary) -> dict[str, Any]:
    """The result columns of a sweep row, from a run's summary (plain data: rows go to sweep.csv)."""
    return {
        "status": summary.status.value,
        "f": summary.fun,
        "gap": summary.gap,
        "nit": summary.nit,
        "nfev": summary.nfev,
        "wall_time_s": summary.wall_time_s,
        "message": summary.message,
    }


# ---------------------------------------------------------------- executors
class Stopped(Exception):
    """SIGINT/SIGTERM during a sweep: no new runs start; finished ones are kept."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def execute_tasks(
    tasks: list[dict[str, Any]],
    workers: int,
    dask: str | None,
    on_done: Callable[[dict[str, Any]], None],
    vectorize: bool = False,
) -> None:
    """Run the tasks; raises :class:`Stopped` after a SIGINT/SIGTERM, once
    every executor has stopped and the rows of the runs that recorded
    themselves were handed to ``on_done``. ``vectorize``: all of them as one
    vmap'ed computation in this process (checked by :func:`check_vectorizable`)."""
    from optrun.engine.signals import run_signals

    with run_signals() as flag:  # the command's handler if it has one: a signal is only recorded
        if vectorize and tasks:
            _vectorized(tasks, on_done, flag)
        elif dask is not None:
            _with_dask(tasks, dask, on_done, flag)
        elif workers <= 1 or len(tasks) <= 1:
            try:
                for task in tasks:
                    if flag is not None and flag.signum is not None:  # a signal between runs
                        raise Stopped(flag.signum)
                    row = run_one(task)  # a signal during a run ends that run as interrupted
                    on_done(row)
                    if status(row["status"]) is Status.INTERRUPTED:
                        raise Stopped(flag.signum if flag is not None and flag.signum else signal.SIGINT)
            except KeyboardInterrupt as exc:  # a run refused to start: the signal came just before it
                raise Stopped(getattr(exc, "signum", signal.SIGINT)) from None
        else:
            _with_pool(tasks, workers, on_done, flag)


def check_vectorizable(plan: Plan) -> None:
    """A ConfigError saying why the plan's runs cannot be one vectorised computation (``--vectorize``)."""
    from optrun.engine.record import vectorizable

    reason = vectorizable([load_config(plan.config, plan.run_overrides(values)) for values in plan.runs])
    if reason:
        raise ConfigError(reason, source=plan.config if isinstance(plan.config, str) else None)


def _vectorized(tasks: list[dict[str, Any]], on_done: Callable[[dict[str, Any]], None], flag: Any) -> None:
    """The tasks as one batch (``--vectorize``): every run directory written as a single run writes it."""
    from optrun.engine.record import execute_batch

    configs = [load_config(task["config"], task["overrides"]) for task in tasks]
    try:
        results = execute_batch(
            configs, [Path(task["run_dir"]) for task in tasks], tasks[0]["blas_threads"], interrupt=flag
        )
    except KeyboardInterrupt as exc:
        raise Stopped(getattr(exc, "signum", signal.SIGINT)) from None
    for task, result in zip(tasks, results):
        on_done(
            {"index": task["index"], **task["values"], **_result_fields(result.summary), "run_dir": task["run_dir"]}
        )
    if any(result.summary.status is Status.INTERRUPTED for result in results):
        raise Stopped(flag.signum if flag is not None and flag.signum else signal.SIGINT)


def _row_on_disk(task: dict[str, Any]) -> dict[str, Any] | None:
    """The row of a run whose result did not come back from a stopped
    executor but which wrote its summary (interrupted, usually)."""
    try:
        summary = read_summary(Path(task["run_dir"]))
    except OptrunError:
        return None
    if summary is None:
        return None
    return {"index": task["index"], **task["values"], **_result_fields(summary), "run_dir": task["run_dir"]}


def _with_pool(tasks: list[dict[str, Any]], workers: int, on_done: Callable[[dict[str, Any]], None], flag: Any) -> None:
    from optrun.engine.pool import run_calls

    interrupted: list[int] = []

    def result(i: int, row: dict[str, Any]) -> None:
        on_done(row)
        if status(row["status"]) is Status.INTERRUPTED:
            interrupted.append(i)

    signum, _, lost = run_calls(run_one, [(task,) for task in tasks], workers, result, flag)
    for i in sorted(lost):  # killed, or its result lost with its worker: kept if it recorded itself
        row = _row_on_disk(tasks[i])
        if row is None and signum is None:  # its worker died by itself (SIGKILL, a crash): the row says so
            row = {
                "index": tasks[i]["index"],
                **tasks[i]["values"],
                **{c: None for c in RESULT_COLUMNS},
                "run_dir": tasks[i]["run_dir"],
                "status": "error",
                "message": f"{lost[i]}; the run has no summary (--resume redoes it)",
            }
        if row is not None:
            on_done(row)
    if signum is not None or interrupted:
        raise Stopped(signum or signal.SIGINT)


def require_dask() -> None:
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--dask needs dask.distributed, which is not installed: pip install -e '.[dask]' in the optrun checkout (or pip install 'dask[distributed]')"
        ) from None


def check_dask_address(address: str) -> None:
    """Refuse a malformed --dask value before anything is created: ``local:N``
    (1 <= N <= MAX_LOCAL_WORKERS) or ``[protocol://]host:port`` with a
    protocol distributed knows (tcp, tls, ws, wss, ucx, inproc)."""
    require_dask()
    if address.startswith("local:"):
        try:
            n = int(address.split(":", 1)[1])
        except ValueError:
            n = 0
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise ConfigError(f"--dask {address!r}: local:N needs a number of workers N from 1 to {MAX_LOCAL_WORKERS}")
        return
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import backends

    example = "give a scheduler address such as tcp://127.0.0.1:8786 (or host:port), or local:N"
    try:
        protocol, location = parse_address(address)
    except (ValueError, TypeError):
        raise ConfigError(f"--dask {address!r}: not an address; {example}") from None
    if protocol not in backends:
        raise ConfigError(
            f"--dask {address!r}: unknown protocol '{protocol}' (known: {', '.join(sorted(backends))}); {example}"
        )
    if protocol in ("tcp", "tls", "ws", "wss", "ucx"):
        try:
            host, port = parse_host_port(location)
        except (ValueError, TypeError):
            raise ConfigError(f"--dask {address!r}: needs a host and a port number; {example}") from None
        if not host or not 1 <= int(port) <= 65535:
            raise ConfigError(f"--dask {address!r}: needs a host and a port from 1 to 65535; {example}")


def dask_client(address: str):
    """A Dask client: ``local:N`` starts a LocalCluster of N processes on
    loopback; anything else is a running scheduler's address."""
    require_dask()
    from dask.distributed import Client, LocalCluster

    check_dask_address(address)
    if address.startswith("local:"):
        n = int(address.split(":", 1)[1])
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
        return Client(cluster), cluster
    try:
        return Client(address, timeout="10s"), None
    except (OSError, TimeoutError, ValueError) as exc:
        raise RunIOError(f"cannot reach the Dask scheduler at {address}: {' '.join(str(exc).split())}") from None


def _with_dask(
    tasks: list[dict[str, Any]], address: str, on_done: Callable[[dict[str, Any]], None], flag: Any = None
) -> None:
    """Runs go to Dask workers (threads of other processes: a signal there
    cannot reach a run). A signal here cancels what did not finish and closes
    the client and a local cluster, which ends its worker processes; a run
    cut that way has no summary, and ``--resume`` redoes it."""
    client = cluster = None
    signum = None
    futures: dict[Any, dict[str, Any]] = {}
    pending: set[Any] = set()
    try:
        client, cluster = dask_client(address)
        futures = {
            client.submit(
                run_one, task, key=f"optrun-run-{task['index']:04d}-{os.getpid()}-{time.time_ns()}", pure=False
            ): task
            for task in tasks
        }
        pending = set(futures)
        while pending:
            if flag is not None and flag.signum is not None:
                signum = flag.signum
                break
            for future in [f for f in pending if f.done()]:
                pending.discard(future)
                if future.status == "finished":
                    on_done(future.result())
                else:
                    future.result()  # raises the task's error (run_one returns rows, so only Dask's own)
            time.sleep(0.05)
        if signum is not None:
            client.cancel(list(pending))
            for future in list(pending):
                if future.status == "finished":
                    pending.discard(future)
                    on_done(future.result())
    except KeyboardInterrupt as exc:  # no handler of ours (not the main thread)
        signum = getattr(exc, "signum", signal.SIGINT)
    finally:
        with contextlib.suppress(Exception):
            if client is not None:
                client.close(timeout=5)
        with contextlib.suppress(Exception):
            if cluster is not None:
                cluster.close(timeout=5)  # a local worker still in a run is killed after 4 s
    if signum is not None:
        for future in pending:  # cut by the cluster's end; kept if it recorded itself just before
            row = _row_on_disk(futures[future])
            if row is not None:
                on_done(row)
    if signum is not None:
        raise Stopped(signum)


# ------------------------------------------------------------------- a sweep
@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep did: its rows, what --resume kept, and whether a signal stopped it."""

    sweep_dir: Path
    rows: list[dict[str, Any]]
    keys: tuple[str, ...]
    skipped: int  # finished runs kept by --resume
    stopped: bool  # SIGINT/SIGTERM
    warnings: tuple[str, ...] = ()
    signum: int | None = None  # the signal that stopped it
    plot: Path | None = None  # sweep.png, when drawn (not when only seeds were swept or no run finished)


def start_sweep(plan: Plan, output_dir: str, name: str) -> Path:
    """Make a new sweep directory and write its plan."""
    sweep_dir = make_run_dir(output_dir, name, prefix="sweep-")
    try:
        write_json_atomic(sweep_dir / "sweep.json", plan.to_json())
    except RunIOError as exc:  # a full disk: leave no empty sweep folder behind
        remove_run_dir(sweep_dir)
        raise RunIOError(
            f"{exc.message}; nothing was recorded (the sweep folder was removed)", source=exc.source
        ) from None
    return sweep_dir


def load_plan(sweep_dir: Path) -> Plan:
    """The plan of an existing sweep directory (for --resume), validated."""
    path = sweep_dir / "sweep.json"
    if not sweep_dir.is_dir():
        raise ConfigError("not a sweep directory (no such folder)", source=str(sweep_dir))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("not a sweep directory (no sweep.json)", source=str(sweep_dir)) from None
    except ValueError as exc:
        raise ConfigError(f"cannot read sweep.json: {' '.join(str(exc).split())}", source=str(sweep_dir)) from None
    except OSError as exc:
        raise RunIOError(f"cannot read sweep.json: {exc.strerror or exc}", source=str(sweep_dir)) from None
    problem = _plan_problem(data)
    if problem:
        raise ConfigError(f"sweep.json is not an optrun sweep plan: {problem}", source=str(sweep_dir))
    return Plan.from_json(data)


def _plan_problem(data: Any) -> str:
    """Why ``data`` is not a plan optrun wrote ('' when it is)."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    for key, kind, what in (
        ("config", (str, dict), "a path or a mapping"),
        ("overrides", list, "a list"),
        ("keys", list, "a list"),
        ("runs", list, "a list"),
        ("plots", bool, "true or false"),
    ):
        if key not in data:
            return f"no '{key}'"
        if not isinstance(data[key], kind):
            return f"'{key}' should be {what}"
    if not all(isinstance(o, str) for o in data["overrides"]):
        return "'overrides' should be strings"
    keys = data["keys"]
    if not keys or not all(isinstance(k, str) and k for k in keys) or len(set(keys)) != len(keys) or keys[-1] != "seed":
        return "'keys' should be distinct names ending with 'seed'"
    taken = set(keys) & {"index", *RESULT_COLUMNS}
    if taken:
        return f"'keys' names a result column ({sorted(taken)[0]})"
    if not data["runs"]:
        return "'runs' is empty"
    for i, values in enumerate(data["runs"], start=1):
        if not isinstance(values, dict) or list(values) != keys:
            return f"run {i} does not give exactly the keys {keys}"
    return ""


def _finished_row(run_dir: Path, index: int, values: dict[str, Any]) -> dict[str, Any] | None:
    """A run that --resume keeps: its summary exists and it was not
    interrupted, nor stopped by the disk (an I/O failure is redone)."""
    try:
        summary = read_summary(run_dir)
    except ConfigError as exc:
        raise ConfigError(f"{exc.message}; move this run away to redo it", source=exc.source) from None
    if summary is None or not summary.status.finished or summary.io_error:
        return None
    return {"index": index, **values, **_result_fields(summary), "run_dir": str(run_dir)}


# what a run directory holds: anything else in run-NNNN was not made by optrun, and --resume will not delete it
RUN_FILES = re.compile(
    r"(config\.yaml|trace\.csv|summary\.json|(loss|params|landscape|fit)\.(png|svg|pdf)"
    r"|\.(config\.yaml|summary\.json|(loss|params|landscape|fit)\.(png|svg|pdf))\.[^/]+\.tmp)"
)


def _redo_plan(run_dir: Path) -> list[Path]:
    """The files to delete before redoing an unfinished run. Refuses (one
    line, nothing deleted) a run-NNNN that is a symbolic link, not a folder,
    or holds anything optrun does not write there."""
    if run_dir.is_symlink():
        raise ConfigError(
            f"{run_dir.name} is a symbolic link, not a run directory of this sweep: move it away to resume",
            source=str(run_dir.parent),
        )
    if not run_dir.is_dir():
        raise ConfigError(
            f"{run_dir.name} is not a folder, not a run directory of this sweep: move it away to resume",
            source=str(run_dir.parent),
        )
    try:
        entries = list(os.scandir(run_dir))
    except OSError as exc:
        raise RunIOError(f"cannot read the unfinished run: {exc.strerror or exc}", source=str(run_dir)) from None
    for entry in entries:
        if not RUN_FILES.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
            raise ConfigError(
                f"the unfinished run holds '{entry.name}', which optrun did not write: "
                "move it away to resume (nothing was deleted)",
                source=str(run_dir),
            )
    return [Path(entry.path) for entry in entries]


def _remove_unfinished(run_dir: Path, files: list[Path]) -> None:
    try:
        for file in files:
            file.unlink()
        run_dir.rmdir()
    except OSError as exc:
        raise RunIOError(
            f"cannot remove the unfinished run to redo it: {exc.strerror or exc}", source=str(run_dir)
        ) from None


def _check_writable(folder: Path) -> None:
    """Fail at once, before any run, when the sweep folder cannot be written."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise RunIOError(f"cannot write in the sweep folder: {exc.strerror or exc}", source=str(folder)) from None


def run_sweep(
    plan: Plan,
    sweep_dir: Path,
    workers: int,
    dask: str | None,
    problems: str | None,
    on_done: Callable[[dict[str, Any]], None] = lambda row: None,
    vectorize: bool = False,
) -> SweepOutcome:
    """Run every run of the plan that has not finished yet; write sweep.csv and sweep.png."""
    from optrun.core.machine import blas_threads

    threads = blas_threads()  # this process's setting, for every executor (Dask workers do not share its environment)
    rows: dict[int, dict[str, Any]] = {}
    tasks = []
    redo: list[tuple[Path, list[Path]]] = []
    for index, values in enumerate(plan.runs, start=1):
        run_dir = sweep_dir / f"run-{index:04d}"
        if not run_dir.is_symlink():  # (a symlink is refused by _redo_plan, never followed)
            kept = _finished_row(run_dir, index, values)
            if kept is not None:
                rows[index] = kept
                continue
        if os.path.lexists(run_dir):  # interrupted or killed: redo it from scratch
            redo.append((run_dir, _redo_plan(run_dir)))
        tasks.append(
            {
                "index": index,
                "values": values,
                "config": plan.config,
                "overrides": plan.run_overrides(values),
                "run_dir": str(run_dir),
                "problems": problems,
                "blas_threads": threads,
            }
        )
    _check_writable(sweep_dir)
    for run_dir, files in redo:  # only once every run was checked: a refusal deletes nothing
        _remove_unfinished(run_dir, files)
    skipped = len(rows)

    def done(row: dict[str, Any]) -> None:
        rows[row["index"]] = row
        on_done(row)

    stopped = False
    signum = None
    try:
        execute_tasks(tasks, workers, dask, done, vectorize)
    except Stopped as stop:
        stopped, signum = True, stop.signum
    ordered = [rows[i] for i in sorted(rows)]
    write_sweep_csv(ordered, plan.keys, sweep_dir / "sweep.csv")
    warnings = []
    plot: Path | None = sweep_dir / "sweep.png"
    try:
        if plot.is_symlink():  # replaced, never written through
            plot.unlink()
        with warnings_module.catch_warnings():  # e.g. matplotlib's "no artists" when every run failed
            warnings_module.simplefilter("ignore")
            if not plot_sweep(ordered, plan.keys, plot):
                plot.unlink(missing_ok=True)  # a stale one (--resume) would show other results
                plot = None
    except Exception as exc:
        warnings.append(f"{plot}: plot not drawn: {type(exc).__name__}: {exc}")
        try:  # a half-written or stale plot is worse than none
            plot.unlink(missing_ok=True)
        except OSError:
            pass
        plot = None
    return SweepOutcome(sweep_dir, ordered, plan.keys, skipped, stopped, tuple(warnings), signum, plot)


# ----------------------------------------------------------------- reporting
def write_sweep_csv(rows: list[dict[str, Any]], keys: Sequence[str], path: Path) -> None:
    import csv
    import io

    columns = ["index", *keys, *RESULT_COLUMNS]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                c: ("" if row.get(c) is None else (_flow(row[c]) if isinstance(row.get(c), (list, dict)) else row[c]))
                for c in columns
            }
        )
    try:
        write_text_atomic(path, buffer.getvalue())
    except RunIOError as exc:
        raise RunIOError(
            f"{exc.message} (the runs are kept: finish with optrun sweep --resume {path.parent})", source=exc.source
        ) from None


def _group_key(row: dict[str, Any], keys: Sequence[str]) -> tuple:
    return tuple(_flow(row[k]) for k in keys if k != "seed")


def _metric(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    return "gap" if rows and all(r.get("gap") is not None for r in rows if r["status"] != "error") else "f"


def summarize(rows: list[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """One entry per swept point: mean/min/max of the final f (or gap) over seeds."""
    metric = _metric(rows)
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(_group_key(row, keys), []).append(row)
    summary = []
    for key, members in groups.items():
        values = [r[metric] for r in members if r[metric] is not None and math.isfinite(r[metric])]
        statuses: dict[str, int] = {}
        for r in members:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        summary.append(
            {
                "point": dict(zip([k for k in keys if k != "seed"], key)),
                "runs": len(members),
                "statuses": ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())),
                "metric": metric,
                "mean": statistics.fmean(values) if values else None,
                "min": min(values) if values else None,
                "max": max(values) if values else None,
                "ok": all(status(r["status"]) is not None and status(r["status"]).success for r in members),
            }
        )
    finite = [s for s in summary if s["mean"] is not None and s["ok"]]
    best = min(finite, key=lambda s: s["mean"], default=None)
    for s in summary:
        s["best"] = s is best
    return summary


def results_table(rows: list[dict[str, Any]], keys: Sequence[str]):
    from rich.table import Table
    from rich.text import Text

    summary = summarize(rows, keys)
    metric = summary[0]["metric"] if summary else "f"
    table = Table(title=f"sweep: final {'f - f*' if metric == 'gap' else 'f'} over seeds", title_justify="left")
    swept = [k for k in keys if k != "seed"]
    for column in (*swept, "runs", "statuses", "mean", "min", "max"):
        table.add_column(column, justify="right" if column in ("runs", "mean", "min", "max") else "left")
    for s in summary:
        cells = [Text(str(s["point"][k])) for k in swept]  # user values: literal, never markup
        numbers = ["-" if s[m] is None else f"{s[m]:.6g}" for m in ("mean", "min", "max")]
        table.add_row(*cells, str(s["runs"]), Text(s["statuses"]), *numbers, style="bold green" if s["best"] else "")
    best = next((s for s in summary if s["best"]), None)
    if best is not None:  # in words too: piped output (CI logs, files) has no colour
        setting = ", ".join(f"{k}={best['point'][k]}" for k in swept) or "the one setting"
        table.caption = Text(
            f"best: {setting} (lowest mean {'f - f*' if metric == 'gap' else 'f'}, {best['mean']:.6g})"
        )
        table.caption_justify = "left"
    return table


def _sweep_names(rows: list[dict[str, Any]]) -> str:
    """ "problem / optimizer" of the sweep's runs, from their summaries (each
    distinct name once: a swept optimizer lists them all)."""
    problems: list[str] = []
    optimizers: list[str] = []
    for row in rows:
        try:
            summary = read_summary(Path(row["run_dir"])) if row.get("run_dir") else None
        except Exception:
            summary = None
        if summary is None:
            continue
        for names, name in ((problems, summary.problem), (optimizers, summary.optimizer)):
            if name and name not in names:
                names.append(name)
    if not problems and not optimizers:
        return ""
    return f"{', '.join(problems) or '?'} / {', '.join(optimizers) or '?'}"


def _numeric(rows: list[dict[str, Any]], key: str) -> bool:
    return all(isinstance(r[key], (int, float)) and not isinstance(r[key], bool) for r in rows)


def plot_sweep(rows: list[dict[str, Any]], keys: Sequence[str], out: Path) -> bool:
    """Final f (or gap) against each swept value, one line per setting of the
    others: a numeric key on a (log) number axis, any other (optimizer.name,
    a schedule) as categories in the order swept. False (nothing drawn) when
    only the seed was swept or no run finished."""
    swept = [k for k in keys if k != "seed"]
    if not swept or not rows:
        return False
    from optrun.plots.figures import log_safe_gap, subplots

    metric = _metric(rows)
    finite = [r[metric] for r in rows if r[metric] is not None and math.isfinite(r[metric])]
    if not finite:
        return False
    zeros = sum(1 for y in finite if y == 0) if metric == "gap" else 0
    # an exact 0 is drawn at the resolution of f near f* (1e-16 relative), not at the smallest gap seen (which may be 20)
    fstars = [
        abs(r["f"] - r["gap"])
        for r in rows
        if r.get("f") is not None and r.get("gap") is not None and math.isfinite(r["f"] - r["gap"])
    ]
    resolution = [1e-16 * max([1.0, *fstars])] if zeros else []
    floor = float(log_safe_gap(np.array(finite + resolution + [0.0]))[0][-1]) if metric == "gap" else 0.0

    def shown(y: float) -> float:
        """gaps on a log axis: exact zeros at the smallest positive gap seen"""
        return max(abs(y), floor) if metric == "gap" else y

    fig, axes = subplots(1, len(swept), figsize=(7 * len(swept), 5), squeeze=False)
    fig.subplots_adjust(left=0.14, right=0.97, top=0.88, bottom=0.12, wspace=0.3)
    for ax, key in zip(axes[0], swept):
        numeric = _numeric(rows, key)
        categories = list(dict.fromkeys(_flow(r[key]) for r in rows))  # in the order swept
        position = (lambda v: v) if numeric else (lambda v: categories.index(_flow(v)))
        others = [k for k in keys if k not in (key, "seed")]
        lines: dict[tuple, list[dict[str, Any]]] = {}
        for row in rows:
            lines.setdefault(tuple(_flow(row[k]) for k in others), []).append(row)
        for label, members in lines.items():
            points = sorted(
                (position(r[key]), r[metric]) for r in members if r[metric] is not None and math.isfinite(r[metric])
            )
            if not points:
                continue
            xs = sorted({x for x, _ in points})
            means = [statistics.fmean(y for x2, y in points if x2 == x) for x in xs]
            name = ", ".join(f"{k}={v}" for k, v in zip(others, label)) or "runs"
            (line,) = ax.plot(xs, [shown(m) for m in means], "o-" if numeric else "o", label=name)
            ax.plot([x for x, _ in points], [shown(y) for _, y in points], ".", color=line.get_color(), alpha=0.4)
        if not numeric:
            ax.set_xticks(range(len(categories)), categories)
            ax.set_xlim(-0.5, len(categories) - 0.5)
        elif all(r[key] > 0 for r in rows):
            ax.set_xscale("log")
        if metric == "gap":
            ax.set_yscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel("final f - f*" if metric == "gap" else "final f")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        if zeros:
            # above the axes: a note inside them would sit on the curves drawn at the floor
            ax.set_title(
                f"f - f* = 0 in {zeros} of {len(rows)} runs, drawn at the floor {floor:.3g}",
                fontsize="small",
                color="tab:red",
            )
    names = _sweep_names(rows)
    legend = (
        "dots: each seed, line: mean"
        if all(_numeric(rows, k) for k in swept)
        else "dots: each seed; line or large dot: mean"
    )
    fig.suptitle(f"sweep of {names}: {len(rows)} runs ({legend})" if names else f"sweep of {len(rows)} runs ({legend})")
    fig.savefig(out, dpi=100)
    return True


# ------------------------------------------------- a finished sweep, again
def is_sweep_dir(path: Path) -> bool:
    return (path / "sweep.json").is_file()


def sweep_rows(sweep_dir: Path) -> tuple[Plan, list[dict[str, Any]]]:
    """The plan of a sweep directory and the rows of its finished runs, read
    from each run's summary.json (sweep.csv is only a copy: a killed sweep may
    not have written it)."""
    plan = load_plan(sweep_dir)
    rows = []
    for index, values in enumerate(plan.runs, start=1):
        run_dir = sweep_dir / f"run-{index:04d}"
        row = None if run_dir.is_symlink() else _finished_row(run_dir, index, values)
        if row is not None:
            rows.append(row)
    return plan, rows


def show_sweep(sweep_dir: Path, json_out: bool = False) -> int:
    """``optrun show SWEEP_DIR``: the sweep's table and best setting (its rows as JSON with ``json_out``)."""
    from optrun.commands.common import out, shown

    plan, rows = sweep_rows(sweep_dir)
    if json_out:
        from optrun.core.outputs import json_safe

        print(
            json.dumps(
                json_safe(
                    {
                        "sweep_dir": shown(sweep_dir.resolve()),
                        "keys": list(plan.keys),
                        "planned": len(plan.runs),
                        "runs": rows,
                    }
                ),
                indent=2,
            ),
            flush=True,
        )
        return 0
    out().print(results_table(rows, plan.keys))
    plot = next((p for p in sorted(sweep_dir.glob("sweep.*")) if p.suffix not in (".json", ".csv")), None)
    out().print(
        f"{len(rows)} of {len(plan.runs)} runs finished; {shown(sweep_dir.resolve())}/sweep.csv"
        + (f", {plot.name}" if plot else ""),
        highlight=False,
        markup=False,
    )
    return 0


def plot_sweep_dir(sweep_dir: Path) -> tuple[list[Path], list[str]]:
    """``optrun plot SWEEP_DIR``: redraw sweep.png and every finished run's plots; (files written, warnings)."""
    from optrun.plots.runs import draw_run_plots

    plan, rows = sweep_rows(sweep_dir)
    written: list[Path] = []
    warnings: list[str] = []
    if plot_sweep(rows, plan.keys, sweep_dir / "sweep.png"):
        written.append(sweep_dir / "sweep.png")
    for row in rows:
        files, notes = draw_run_plots(Path(row["run_dir"]), raise_io=True)
        written += files
        warnings += notes
    return written, warnings


# ----------------------------------------------------------- optrun sweep
def sweep_command(
    config: Path | None,
    grid: Sequence[str],
    zipped: Sequence[str],
    seeds: int | None,
    workers: int,
    dask: str | None,
    resume: Path | None,
    plots: bool,
    overrides: Sequence[str],
    problems: Path | None,
    quiet: bool = False,
    vectorize: bool = False,
) -> int:
    """``optrun sweep``: validate and start a sweep (or take one to
    ``--resume``), run it, print its table (not with ``quiet``); returns the
    exit status: 0, 1 if a run could not start, 128 + the signal if it was stopped."""
    from optrun.commands.common import load_problems, note, out, warn
    from optrun.engine.signals import StoppedBySignal, signal_name
    from optrun.commands.progress import progress
    from optrun.engine.signals import stoppable

    with stoppable() as flag:
        load_problems(problems)
        problems_dir = (
            str(problems.resolve())
            if problems
            else (str(Path("problems").resolve()) if Path("problems").is_dir() else None)
        )
        if dask is not None:
            if vectorize:
                raise ConfigError("--vectorize runs the sweep as one computation in this process: leave out --dask")
            check_dask_address(dask)  # fail before validating or creating anything
        if resume is not None:
            if config is not None or grid or zipped or seeds or overrides:
                raise ConfigError("--resume takes a sweep directory only: the plan is in its sweep.json")
            plan, sweep_dir = load_plan(resume), resume
            if vectorize:
                check_vectorizable(plan)
        else:
            if config is None:
                raise ConfigError("give a config file (or --resume SWEEP_DIR)")
            with progress(
                "validating", None, elapsed=False, hidden=quiet
            ) as bar:  # validating a large sweep takes a moment: show it
                plan, base = make_plan(config, overrides, grid, zipped, seeds, plots, on_checked=bar.update)
            for text in dropped_options(plan):
                note(text)
            if vectorize:
                check_vectorizable(plan)  # before the sweep folder exists
            repeats = identical_repeats(plan)
            if repeats:
                warn(repeats)
            if flag is not None and flag.signum is not None:
                raise StoppedBySignal(
                    f"interrupted by {signal_name(flag.signum)} before the sweep started; nothing was recorded",
                    flag.signum,
                )
            sweep_dir = start_sweep(plan, base.output.dir, base.name)
        outcome = run_new_or_resumed(
            plan, sweep_dir, workers, dask, problems_dir, new=resume is None, quiet=quiet, vectorize=vectorize
        )
        for warning in outcome.warnings:
            warn(warning)
        if not quiet:
            out().print(results_table(outcome.rows, outcome.keys))
        return report_sweep(outcome, len(plan.runs), quiet)


def run_new_or_resumed(
    plan: Plan,
    sweep_dir: Path,
    workers: int,
    dask: str | None,
    problems: str | None,
    new: bool,
    label: str = "sweep",
    remove: Path | None = None,
    quiet: bool = False,
    vectorize: bool = False,
) -> SweepOutcome:
    """:func:`run_sweep` with a progress bar labelled ``label``; a ``new``
    sweep in which nothing ran (e.g. no scheduler) leaves no sweep folder
    behind (nor ``remove``, the folder holding it: optrun bench's)."""
    from optrun.commands.progress import progress

    try:
        with progress(label, len(plan.runs), hidden=quiet) as bar:
            return run_sweep(plan, sweep_dir, workers, dask, problems, on_done=bar.advance, vectorize=vectorize)
    except OptrunError:
        if new and not any(sweep_dir.glob("run-*")):
            import shutil

            shutil.rmtree(remove or sweep_dir, ignore_errors=True)
        raise


def report_sweep(outcome: SweepOutcome, planned: int, quiet: bool = False) -> int:
    """Print how many of the ``planned`` runs are done and failed (with
    ``quiet`` only failed runs, as one line on stderr); returns the exit
    status (128 + the signal if the sweep is unfinished, 1 if a run could not
    start, else 0) with a line on stderr saying what to do."""
    from optrun.commands.common import err, failure_line, out, shown
    from optrun.engine.signals import signal_name

    done = sum(is_done(r) for r in outcome.rows)
    failed = sum(is_failed(r) for r in outcome.rows)
    errors = sum(r["status"] == "error" for r in outcome.rows)
    kept = f" ({outcome.skipped} kept from before)" if outcome.skipped else ""
    summary = f"{done} of {planned} runs done{kept}, {failed} failed or diverged; {shown(outcome.sweep_dir.resolve())}/sweep.csv"
    if not quiet:
        out().print(summary + (f", {outcome.plot.name}" if outcome.plot else ""), highlight=False, markup=False)
    elif failed and not errors and not (outcome.stopped or done < planned):  # the table is hidden, a failure never
        failure_line(f"sweep: {summary}")
    if outcome.stopped or done < planned:
        by = f" by {signal_name(outcome.signum)}" if outcome.signum else ""
        err.print(
            f"interrupted{by}: finish it with  optrun sweep --resume {shown(outcome.sweep_dir.resolve())}", markup=False
        )
        return 128 + (outcome.signum or 2)
    if errors:  # a run that could not even start (e.g. a missing data file): the sweep needs fixing
        err.print(f"error: {errors} runs could not run; see the message column of sweep.csv", markup=False)
        return 1
    return 0
