"""Peak memory does not grow with the number of iterations.

Runs the same config for 1,000 and for 100,000 iterations, each in its own
subprocess, and reads the process's peak resident set size from the OS
(getrusage ru_maxrss). The trace goes to disk as the run goes, so the ratio
must stay <= 1.2. Then a problem with 100,000 parameters: its trace leaves
out the parameter columns (output.param_columns, default 100) and its peak
memory stays close to the small runs'.

    python benchmarks/memory.py [--iterations 100000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys
import optrun
config = json.loads(sys.argv[1])
result = optrun.run(config)
header = (result.run_dir / "trace.csv").open().readline().strip().split(",")
print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "nit": result.nit,
                  "columns": len(header), "status": result.status, "wall_time_s": result.wall_time_s}))
"""


def measure(config: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(config)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = {
            "problem": {"name": "trid", "dim": 10},
            "optimizer": {"name": "gd", "step_size": 1e-4},
            "output": {"dir": folder, "plots": False},
        }
        small = measure({**base, "stop": {"max_iter": 1_000, "grad_tol": None}})
        large = measure({**base, "stop": {"max_iter": args.iterations, "grad_tol": None}})
        wide = measure(
            {
                "problem": {"name": "sum_of_squares", "dim": 100_000},
                "optimizer": {"name": "gd", "step_size": 0.01},
                "stop": {"max_iter": 200, "grad_tol": None},
                "output": {"dir": folder, "plots": False},
            }
        )
    ratio = large["peak_kib"] / small["peak_kib"]
    print(f"{'run':<42}{'iterations':>11}{'trace columns':>15}{'peak RSS (MiB)':>16}")
    for label, r in (("trid dim 10", small), ("trid dim 10", large), ("sum_of_squares dim 100,000", wide)):
        print(f"{label:<42}{r['nit']:>11}{r['columns']:>15}{r['peak_kib'] / 1024:>16.1f}")
    print(
        f"peak RSS ratio {args.iterations:,} / 1,000 iterations: {ratio:.3f} (target <= 1.2): {'ok' if ratio <= 1.2 else 'ABOVE TARGET'}"
    )
    print(
        f"100,000 parameters: {wide['columns']} trace columns (parameter columns left out), "
        f"peak RSS {wide['peak_kib'] / small['peak_kib']:.3f} x the 1,000-iteration run"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
