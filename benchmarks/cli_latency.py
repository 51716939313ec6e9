"""CLI start-up time: `optrun --help` and `optrun list-problems` against
importing the packages the CLI cannot avoid, in the same run.

The baseline is `python -c "import numpy, autograd, typer, rich, yaml"`;
the target ratio is <= 2.0. Each command is run several times,
interleaved, after one warm-up round; the median wall time is reported.
The commands run with bytecode caching on (PYTHONDONTWRITEBYTECODE removed
from their environment), as an installed optrun runs: with it set, every
optrun module is compiled from source at every start.

    python benchmarks/cli_latency.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "baseline: import numpy, autograd, typer, rich, yaml": [
        sys.executable,
        "-c",
        "import numpy, autograd, typer, rich, yaml",
    ],
    "optrun --help": [sys.executable, "-m", "optrun", "--help"],
    "optrun list-problems": [sys.executable, "-m", "optrun", "list-problems"],
    "optrun list-optimizers": [sys.executable, "-m", "optrun", "list-optimizers"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for round_ in range(args.repeats + 1):
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
            if round_:  # round 0 warms the bytecode cache and the file system
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times[next(iter(COMMANDS))])
    print(f"{'command':<55}{'median (ms)':>12}{'ratio':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<55}{median * 1000:>12.0f}{median / base:>8.2f}")
    worst = max(statistics.median(v) for n, v in times.items() if n.startswith("optrun")) / base
    print(f"worst ratio {worst:.2f} (target <= 2.0): {'ok' if worst <= 2.0 else 'ABOVE TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
