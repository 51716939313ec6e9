"""Formatting a chunk of trace rows as CSV text: Python's float repr (optrun
before issue 31) against pyarrow's CSV writer and polars' (both in C/Rust).

A chunk like the trace's: 2048 rows of trid 10 (iter, f, grad_norm,
step_size, time_s, nfev, njev, 10 parameters, gap: 18 values, 3 of them
integers), realistic magnitudes. Each formatter must give text that reads
back as the same float64 values, bit for bit (checked); the figure is
nanoseconds per value, the best of ``--repeats`` timings of 20 chunks, and
the ratio against Python's repr measured in the same run.

    python benchmarks/csv_formatters.py [--repeats 7] [--rows 2048]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

import numpy as np


def chunk(rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    k = np.arange(rows)
    columns = {
        "iter": k,
        "f": rng.random(rows) * 10 - 5,
        "grad_norm": rng.random(rows),
        "step_size": np.full(rows, 0.01),
        "time_s": np.round(k * 1.3e-7 + 0.25, 6),
        "nfev": k + 1,
        "njev": k + 1,
    }
    columns.update({f"x[{i}]": 1 + rng.standard_normal(rows) for i in range(10)})
    columns["gap"] = rng.random(rows) * 1e-3
    return columns


def python_repr(columns: dict[str, np.ndarray]) -> bytes:
    """optrun's writer before issue 31: one f-string per row, repr of each float."""
    out = []
    ints = {"iter", "nfev", "njev"}
    names = list(columns)
    for row in zip(*(columns[n].tolist() for n in names)):
        out.append(",".join(str(int(v)) if n in ints else repr(v) for n, v in zip(names, row)))
    return ("\n".join(out) + "\n").encode()


def pyarrow_csv(columns: dict[str, np.ndarray]) -> bytes:
    import pyarrow as pa
    import pyarrow.csv as pc

    buffer = io.BytesIO()
    pc.write_csv(pa.table(columns), buffer, pc.WriteOptions(include_header=False))
    return buffer.getvalue()


def polars_csv(columns: dict[str, np.ndarray]) -> bytes:
    import polars as pl

    buffer = io.BytesIO()
    pl.DataFrame(columns).write_csv(buffer, include_header=False)
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=2048)
    args = parser.parse_args()
    columns = chunk(args.rows)
    values = args.rows * len(columns)
    expected = np.column_stack([c.astype(float) for c in columns.values()])
    print("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    base = None
    for name, fmt in (("python repr", python_repr), ("pyarrow.csv", pyarrow_csv), ("polars", polars_csv)):
        text = fmt(columns)
        back = np.loadtxt(io.StringIO(text.decode()), delimiter=",", ndmin=2)
        exact = np.array_equal(back, expected)
        best = np.inf
        for _ in range(args.repeats):
            start = time.perf_counter()
            for _ in range(20):
                fmt(columns)
            best = min(best, (time.perf_counter() - start) / 20)
        per_value = best / values
        base = base or per_value
        print(
            f"  {name:<12} {per_value * 1e9:7.1f} ns/value  {best / args.rows * 1e6:6.2f} us/row  "
            f"{base / per_value:5.1f}x faster than repr   exact round trip: {exact}"
        )
    print("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
