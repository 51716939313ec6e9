"""What a Dask cluster that shares no disk costs a sweep: 64 runs of
configs/mlp-gd.yaml (``--seeds 64``) with ``optrun sweep --workers 2`` (the
local pool, the baseline) against the same sweep on a two-worker Dask cluster
(``--dask tcp://...``) whose workers cannot see the client's folder
(tests/cluster.py: ``dask scheduler`` and ``dask worker`` processes, one
thread each, a private tmpfs over the client's folder).

Times are of the whole ``optrun sweep`` command (a process each, as a user
runs it), ``--repeats`` times, interleaved (the order alternates every
repeat), medians reported; the per-run overhead of shipping a run out and
its run directory back is (dask - pool) / runs, in which the start of the
pool's two processes (paid by every pool sweep, not by a running cluster)
counts against the pool. The cluster is started once, outside the timings
(its start is timed on its own), and one small untimed sweep of each kind
goes first, so the workers have imported optrun. Prints the versions, the
CPU, the load average before and after, and whether every sweep's sweep.csv
agrees in f and nit per run.

    python benchmarks/cluster.py [--repeats 3] [--runs 64]   # as root: unshare -m needs it
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from cluster import BIN, Cluster, can_hide_folders  # noqa: E402 (tests/ is not a package)

CONFIG = REPO / "configs" / "mlp-gd.yaml"


def cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def sweep(client: Path, out: Path, runs: int, where: list[str]) -> tuple[float, list[dict[str, str]], int]:
    """(wall time of the command, its sweep.csv rows, how many run directories hold a summary.json)."""
    argv = [str(BIN / "optrun"), "sweep", "mlp-gd.yaml", "--seeds", str(runs), "-q", "--set", f"output.dir={out}"]
    start = time.perf_counter()
    done = subprocess.run([*argv, *where], cwd=client, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv + where)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    (table,) = out.glob("*/sweep-*/sweep.csv")
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    recorded = len(list(table.parent.glob("run-*/summary.json")))
    shutil.rmtree(out)  # the next sweep starts from an empty folder
    return wall, rows, recorded


def workers_see(address: str, path: Path) -> bool:
    """Whether any worker of the cluster can see the file ``path`` (it must not)."""
    from distributed import Client

    with Client(address, timeout="20s") as client:
        return any(client.run(os.path.exists, str(path)).values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=64, help="runs per sweep (--seeds)")
    args = parser.parse_args()
    why = can_hide_folders()
    if why:
        raise SystemExit(f"cannot hide the client's folder from the workers: {why}")
    import dask
    import distributed

    print(
        f"python {platform.python_version()}, dask {dask.__version__}, distributed {distributed.__version__}; "
        f"CPU: {cpu()}, {os.cpu_count()} cores"
    )
    print(
        f"each sweep: {args.runs} runs of configs/mlp-gd.yaml (--seeds {args.runs}), the whole optrun sweep command; "
        f"{args.repeats} repeats, interleaved"
    )
    before = os.getloadavg()
    kinds = {"pool": ["--workers", "2"], "dask": []}
    walls: dict[str, list[float]] = {kind: [] for kind in kinds}
    runs: dict[str, list[float]] = {kind: [] for kind in kinds}  # each sweep's median run wall_time_s
    outside: dict[str, list[float]] = {kind: [] for kind in kinds}  # (wall - sum of wall_time_s / 2) / runs
    tables: list[tuple[str, list[dict[str, str]]]] = []
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        client, root = Path(tmp, "client"), Path(tmp, "cluster")
        client.mkdir()
        shutil.copy(CONFIG, client / "mlp-gd.yaml")
        start = time.perf_counter()
        with Cluster(root, hidden=[client], workers=2) as cluster:
            started = time.perf_counter() - start
            kinds["dask"] = ["--dask", cluster.address]
            seen = workers_see(cluster.address, client / "mlp-gd.yaml")
            print(
                f"cluster: scheduler + 2 workers started in {started:.2f} s (once, outside the timings); "
                f"workers see the client's config: {'YES, not isolated' if seen else 'no'}"
            )
            for where in kinds.values():  # warm-up: imports here and on the workers, untimed
                sweep(client, client / "warm", 2, where)
            for repeat in range(args.repeats):
                for kind in list(kinds) if repeat % 2 == 0 else list(kinds)[::-1]:
                    loads.append(os.getloadavg()[0])
                    wall, rows, recorded = sweep(client, client / f"out-{kind}", args.runs, kinds[kind])
                    if len(rows) != args.runs or recorded != args.runs:
                        raise SystemExit(f"{kind}: {len(rows)} rows, {recorded} run directories, not {args.runs}")
                    walls[kind].append(wall)
                    times = [float(r["wall_time_s"]) for r in rows]
                    runs[kind].append(statistics.median(times))
                    outside[kind].append((wall - sum(times) / 2) / args.runs)
                    tables.append((kind, rows))
    after = os.getloadavg()
    print(f"{'':<5} {'sweep (median)':>14} {'per run':>9} {'run itself':>11} {'outside runs':>13}   each repeat")
    for kind in kinds:
        wall, each = statistics.median(walls[kind]), " ".join(f"{w:.2f}" for w in walls[kind])
        run, rest = statistics.median(runs[kind]), statistics.median(outside[kind])
        print(f"{kind:<5} {wall:>12.2f} s {wall / args.runs:>7.3f} s {run:>9.3f} s {rest * 1000:>+10.1f} ms   {each}")
    pool, dask_wall = statistics.median(walls["pool"]), statistics.median(walls["dask"])
    paired = sorted(d / p for d, p in zip(walls["dask"], walls["pool"]))  # each repeat's two, one after the other
    print(
        f"dask / pool: {dask_wall / pool:.2f}x (medians); paired by repeat: median {statistics.median(paired):.2f}x "
        f"({paired[0]:.2f}-{paired[-1]:.2f})"
    )
    overhead = (dask_wall - pool) / args.runs * 1000
    print(
        f"overhead per run of shipping it and returning its run directory: {overhead:+.1f} ms "
        f"((dask - pool) / {args.runs}, medians)"
    )
    reference = {r["index"]: (r["f"], r["nit"]) for r in tables[0][1]}
    differ = sorted(
        {(kind, r["index"]) for kind, rows in tables for r in rows if reference.get(r["index"]) != (r["f"], r["nit"])}
    )
    print(f"results identical: {'yes' if not differ else 'no'} (f and nit per run, across all {len(tables)} sweeps)")
    for kind, index in differ[:5]:
        print(f"  {kind} run {index} differs from the first sweep's")
    print(
        f"'run itself': the median run's own wall_time_s (sweep.csv); 'outside runs': (sweep - the runs' "
        f"wall_time_s summed / 2 workers) / {args.runs}. load average (1/5/15 min): "
        f"before {before[0]:.2f}/{before[1]:.2f}/{before[2]:.2f}, after {after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f}; "
        f"at each sweep's start: min {min(loads):.2f}, median {statistics.median(loads):.2f}, max {max(loads):.2f}"
    )
    return 0 if not differ else 1


if __name__ == "__main__":
    sys.exit(main())
