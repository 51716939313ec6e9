"""The trace writer formats in C (issue 31): every value round-trips exactly,
rows given one at a time and a chunk at a time make the same file, log_every
keeps the rows its rule names, and trace.parquet holds the same columns and
is read by every reader."""

import io
import json
import math
import os

import numpy as np
import pytest
from helpers import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from optrun.core.trace import TraceRows, TraceWriter, read_trace

FLOATS = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True, width=64)


def same(a, b) -> bool:
    """Equal bit for bit, nan where nan (the sign of zero included)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all((a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))))


def rows_of(f, x=None, g=None, k0=0) -> TraceRows:
    f = np.asarray(f, dtype=float)
    k = k0 + np.arange(len(f))
    return TraceRows(k, f, np.abs(f), np.full(len(f), 0.1), k * 1e-6, k + 1, k + 1, x, g)


@settings(max_examples=60, deadline=None)
@given(st.lists(FLOATS, min_size=1, max_size=40))
def test_every_float64_round_trips_exactly_through_csv(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("t") / "trace.csv"
    x = np.array([values, values[::-1]]).T
    writer = TraceWriter(path, ["a", "b"], fstar=None, grad_names=["a", "b"])
    writer.record_rows(rows_of(values, x=x, g=-x))
    writer.close()
    trace = read_trace(path)
    assert same(trace["f"], values) and same(trace["a"], x[:, 0]) and same(trace["grad:b"], -x[:, 1])


def test_pandas_reads_the_same_numbers(tmp_path):
    pandas = pytest.importorskip("pandas")  # (a test dependency: never skipped in CI)
    values = [1 / 3, 1e-7, -0.0, 5e-324, 1e300, math.nan, math.inf, -math.inf, 123456789.0]
    path = tmp_path / "trace.csv"
    writer = TraceWriter(path, None)
    for k, v in enumerate(values):
        writer.record(k, v, 1.0, 0.1, 0.0, k + 1, k + 1, np.zeros(1))
    writer.close()
    # pandas 3 parses exactly by default (and deprecates the option); pandas 2 needs round_trip asked for
    exact = {"float_precision": "round_trip"} if int(pandas.__version__.split(".")[0]) < 3 else {}
    frame = pandas.read_csv(path, **exact)
    assert same(frame["f"].to_numpy(), values) and frame["iter"].dtype == np.int64


def reference_rows(fs, every):
    """log_every's rule, row by row (the rule as issue 26 wrote it): a row is
    written when k % K == 0; the best row so far is held and written just
    before the next written row while it is still the best; at the end the
    held best, then the last row."""
    out, best, held_best, held_last = [], math.inf, None, None
    for k, f in enumerate(fs):
        better = f < best
        if better:
            best = f
        if k % every == 0:
            if held_best is not None and not better:
                out.append(held_best)
            held_best = held_last = None
            out.append(k)
        else:
            if better:
                held_best = k
            held_last = k
    if held_best is not None:
        out.append(held_best)
    if held_last is not None and held_last != held_best:
        out.append(held_last)
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from([3.0, 2.0, 1.0, 0.5, 0.0, -1.0, math.nan]), min_size=1, max_size=60),
    st.integers(1, 7),
    st.lists(st.integers(1, 9), min_size=1, max_size=10),
    st.booleans(),
)
def test_log_every_keeps_its_rows_however_the_rows_arrive(tmp_path_factory, fs, every, cuts, one_at_a_time):
    """The vectorised selection (chunks of any size, or rows one at a time)
    writes exactly the rows the row-by-row rule names, in iteration order."""
    path = tmp_path_factory.mktemp("t") / "trace.csv"
    writer = TraceWriter(path, None, log_every=every, max_buffered=4)
    if one_at_a_time:
        for k, f in enumerate(fs):
            writer.record(k, f, 1.0, 0.1, k * 1.0, k + 1, k + 1, np.zeros(1))
    else:
        start = 0
        for cut in cuts * 10:
            if start >= len(fs):
                break
            writer.record_rows(rows_of(fs[start : start + cut], k0=start))
            start += cut
        if start < len(fs):
            writer.record_rows(rows_of(fs[start:], k0=start))
    writer.close()
    assert read_trace(path)["iter"].astype(int).tolist() == reference_rows(fs, every)


def test_rows_one_at_a_time_and_in_chunks_make_the_same_file(tmp_path):
    rng = np.random.default_rng(3)
    fs, xs = rng.standard_normal(500), rng.standard_normal((500, 3))
    one, chunked = tmp_path / "one.csv", tmp_path / "chunked.csv"
    writer = TraceWriter(one, ["p", "q", "r"], fstar=-1.5, max_buffered=7)
    for k in range(500):
        writer.record(k, fs[k], abs(fs[k]), 0.1, k * 1e-6, k + 1, k + 1, xs[k])
    writer.close()
    writer = TraceWriter(chunked, ["p", "q", "r"], fstar=-1.5)
    for start in range(0, 500, 64):
        writer.record_rows(rows_of(fs[start : start + 64], x=xs[start : start + 64], k0=start))
    writer.close()
    assert one.read_bytes() == chunked.read_bytes()


def test_time_is_written_to_the_microsecond_and_counts_as_integers(tmp_path):
    path = tmp_path / "trace.csv"
    writer = TraceWriter(path, None)
    writer.record(0, 1.0, 1.0, math.nan, 0.1234567891, 1, 1, np.zeros(1))
    writer.close()
    assert path.read_text().splitlines()[1].split(",") == ["0", "1.0", "1.0", "NaN", "0.123457", "1", "1"]


# ------------------------------------------------------------- trace.parquet
PARQUET = """\
name: pq
problem: {name: rosenbrock}
optimizer: {name: gd, step_size: 1.0e-3}
stop: {max_iter: 300, grad_tol: null}
output: {trace_format: FORMAT, plots: false}
"""


@pytest.mark.slow
def test_parquet_trace_holds_the_csv_trace_and_every_reader_takes_it(workdir):
    pyarrow_parquet = pytest.importorskip("pyarrow.parquet")  # (a dependency of optrun: never skipped)
    import optrun

    for fmt in ("csv", "parquet"):
        (workdir / f"{fmt}.yaml").write_text(PARQUET.replace("FORMAT", fmt).replace("name: pq", f"name: {fmt}"))
        done = run_cli("run", f"{fmt}.yaml", "-q", cwd=workdir)
        assert done.returncode == 0, done.stderr
    [csv_run] = (workdir / "outputs" / "csv").iterdir()
    [pq_run] = (workdir / "outputs" / "parquet").iterdir()
    assert sorted(p.name for p in pq_run.iterdir()) == ["config.yaml", "summary.json", "trace.parquet"]
    table = pyarrow_parquet.read_table(pq_run / "trace.parquet")
    assert str(table.schema.field("iter").type) == "int64" and str(table.schema.field("f").type) == "double"
    a, b = read_trace(csv_run / "trace.csv"), read_trace(pq_run / "trace.parquet")
    assert list(a) == list(b) and len(a["f"]) == 301
    for name in a:
        if name != "time_s":
            assert same(a[name], b[name]), name
    loaded = optrun.load(pq_run)
    assert loaded.to_pandas()["iter"].tolist() == list(range(301)) and same(loaded.trace["f"], a["f"])
    for args in (("show", pq_run), ("plot", pq_run), ("compare", csv_run, pq_run, "-o", "cmp.png"), ("report", pq_run)):
        done = run_cli(*args, "-q", cwd=workdir)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (args, done.stderr)
    assert (pq_run / "loss.png").stat().st_size > 0
    assert len((workdir / "cmp.csv").read_text().splitlines()) == 3  # the header and both runs


@pytest.mark.slow
def test_a_parquet_trace_without_its_footer_is_one_line(workdir):
    (workdir / "c.yaml").write_text(PARQUET.replace("FORMAT", "parquet"))
    assert run_cli("run", "c.yaml", "-q", cwd=workdir).returncode == 0
    [run] = (workdir / "outputs" / "pq").iterdir()
    data = (run / "trace.parquet").read_bytes()
    (run / "trace.parquet").write_bytes(data[: len(data) // 2])  # as a run killed outright leaves it
    (run / "summary.json").unlink()
    shown = run_cli("show", run, cwd=workdir)
    assert shown.returncode == 2 and "Traceback" not in shown.stderr
    assert len(shown.stderr.strip().splitlines()) == 1 and "trace.parquet" in shown.stderr
    assert "killed" in shown.stderr


def test_parquet_row_groups_stay_bounded_and_read_back(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    import optrun.core.trace as trace
    import optrun.core.trace_files as files

    monkeypatch.setattr(files, "ROW_GROUP_BYTES", 8 * 10 * 100)  # 100 rows of 10 columns a group
    monkeypatch.setattr(trace, "BUFFER_VALUES", 10 * 64)  # and each chunk of 64 rows written at once
    path = tmp_path / "trace.parquet"
    writer = TraceWriter(path, ["a", "b", "c"], format="parquet")
    f = np.linspace(1, 0, 1000)
    for start in range(0, 1000, 64):
        part = f[start : start + 64]
        writer.record_rows(rows_of(part, x=np.column_stack([part] * 3), k0=start))
    writer.close()
    meta = pq.ParquetFile(path).metadata
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(groups) == 1000 and len(groups) >= 7 and max(groups) < 200  # a group: 100 rows and one write more
    assert same(read_trace(path)["f"], f)


def test_the_format_is_a_validated_config_key(workdir):
    (workdir / "c.yaml").write_text(PARQUET.replace("FORMAT", "feather"))
    done = run_cli("run", "c.yaml", cwd=workdir)
    assert done.returncode == 2 and "output.trace_format" in done.stderr and "parquet" in done.stderr
    assert not (workdir / "outputs").exists()


def test_sweep_runs_can_be_parquet_and_compare_reads_them(workdir):
    (workdir / "c.yaml").write_text(PARQUET.replace("FORMAT", "parquet").replace("300", "20"))
    done = run_cli("sweep", "c.yaml", "--grid", "optimizer.step_size=1e-3,2e-3", "-q", cwd=workdir)
    assert done.returncode == 0, done.stderr
    runs = sorted((workdir / "outputs" / "pq").glob("*/run-*"))
    assert len(runs) == 2 and all((r / "trace.parquet").is_file() for r in runs)
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["nit"] == 20 and len(read_trace(runs[0])["f"]) == 21
    compared = run_cli("compare", runs[0].parent, "-o", "s.png", "-q", cwd=workdir)
    assert compared.returncode == 0, compared.stderr
    assert len(io.StringIO((workdir / "s.csv").read_text()).readlines()) == 3


def old_text(trace: dict) -> str:
    """A trace as optrun wrote it before issue 31: Python's repr of each float, time to 6 decimals."""
    names = list(trace)
    lines = [",".join(names)]
    for i in range(len(trace["iter"])):
        cells = []
        for name in names:
            v = float(trace[name][i])
            cells.append(str(int(v)) if name in ("iter", "nfev", "njev") else f"{v:.6f}" if name == "time_s" else repr(v))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def test_traces_in_the_old_number_text_read_the_same(workdir):
    """1e-07 against 1e-7, nan against NaN, 0.250000 against 0.25: show and
    compare give the same output for a trace in either text."""
    from typer.testing import CliRunner

    from optrun.cli import app

    (workdir / "c.yaml").write_text(
        "problem: {name: rosenbrock}\noptimizer: {name: nelder-mead}\nstop: {max_iter: 40}\noutput: {plots: false}\n"
    )
    runner = CliRunner()
    assert runner.invoke(app, ["run", "c.yaml", "-q"]).exit_code == 0
    [run] = (workdir / "outputs").glob("*/*")
    (run / "summary.json").unlink()  # as a killed run: show and compare take the last row from the trace
    new = (run / "trace.csv").read_text()
    trace = read_trace(run)
    assert np.isnan(trace["grad_norm"]).all() and "NaN" in new  # a derivative-free method: no gradient norm
    old = old_text(trace)
    assert "nan" in old and old != new

    def outputs() -> tuple:
        shown = runner.invoke(app, ["show", str(run)])
        compared = runner.invoke(app, ["compare", str(run), "-o", "cmp.png", "-q"])
        assert shown.exit_code == 0 and compared.exit_code == 0, (shown.stderr, compared.stderr)
        assert "last trace row: iteration" in shown.stdout
        return shown.stdout, (workdir / "cmp.csv").read_text()

    with_new = outputs()
    (run / "trace.csv").write_text(old)
    assert same(read_trace(run)["f"], trace["f"]) and outputs() == with_new


@pytest.mark.slow
def test_a_compiled_run_of_many_parameters_writes_each_rows_x_and_gradient(workdir):
    """Beyond PACK_MAX parameters the compiled loop emits x and g apart
    (not packed into one row vector): the trace still holds each row's x and
    signed gradient, checked against gd's closed-form steps on trid."""
    from optrun.core.compiled.chunk import PACK_MAX
    from optrun.engine.record import execute
    from optrun.config import load_config

    n = PACK_MAX + 200
    result = execute(
        load_config(
            {
                "problem": {"name": "trid", "dim": n},
                "backend": "jax",
                "optimizer": {"name": "gd", "step_size": 1e-3},
                "stop": {"max_iter": 3, "grad_tol": None},
                "output": {"plots": False, "param_columns": n, "grad_columns": True},
            }
        )
    )
    trace = read_trace(result.run_dir)
    xs = np.column_stack([trace[f"x[{i}]"] for i in range(n)])
    gs = np.column_stack([trace[f"grad:x[{i}]"] for i in range(n)])

    def gradient(x):
        g = 2 * (x - 1)
        g[1:] -= x[:-1]
        g[:-1] -= x[1:]
        return g

    x = xs[0].copy()
    for k in range(4):
        np.testing.assert_allclose(xs[k], x, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(gs[k], gradient(x), rtol=1e-12, atol=1e-12)
        x = x - 1e-3 * gradient(x)


@pytest.mark.slow
def test_a_batch_whose_trace_write_fails_records_that_run_as_failed(workdir, monkeypatch):
    """sweep --vectorize's batch: the traces are written together; when one
    run's write fails (as on a full disk), that run's summary says so (as a
    single run's does), the others are recorded whole, and the error is raised."""
    import errno

    import optrun.core.trace_files as files
    from optrun.config import load_config
    from optrun.core.errors import RunIOError
    from optrun.engine.batch import execute_batch

    configs = [
        load_config({**yaml_mapping(PARQUET.replace("FORMAT", "csv")), "backend": "jax", "seed": s, "init": "normal"})
        for s in range(3)
    ]
    real = files.CsvSink.write_text

    def fail_the_second(self, text, rows):
        if self.path.parent.name == "run-1":
            raise files._failed(self.path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        return real(self, text, rows)

    monkeypatch.setattr(files.CsvSink, "write_text", fail_the_second)
    dirs = [workdir / f"run-{i}" for i in range(3)]
    with pytest.raises(RunIOError, match="No space left on device"):
        execute_batch(configs, dirs, threads=1)
    statuses = [json.loads((d / "summary.json").read_text()) for d in dirs]
    assert [s["status"] for s in statuses] == ["max_iter", "failed", "max_iter"]
    assert statuses[1]["io_error"] == "cannot write the trace: No space left on device"
    assert len(read_trace(dirs[0])["f"]) == 301 and len(read_trace(dirs[2])["f"]) == 301


def yaml_mapping(text: str) -> dict:
    import yaml

    return yaml.safe_load(text)


@pytest.mark.slow
def test_a_run_folder_with_both_traces_or_a_foreign_parquet_is_one_line(workdir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (workdir / "c.yaml").write_text(PARQUET.replace("FORMAT", "parquet").replace("300", "20"))
    assert run_cli("run", "c.yaml", "-q", cwd=workdir).returncode == 0
    [run] = (workdir / "outputs" / "pq").iterdir()
    (run / "trace.csv").write_text("iter,f\n0,1.0\n")  # a stray CSV beside the run's parquet
    for command in ("show", "plot"):
        done = run_cli(command, run, cwd=workdir)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "both trace.csv and trace.parquet" in done.stderr
    (run / "trace.csv").unlink()
    pq.write_table(pa.table({"iter": [0], "f": ["x"]}), run / "trace.parquet")  # not an optrun trace
    done = run_cli("show", run, cwd=workdir)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "column 'f'" in done.stderr and "not numbers" in done.stderr
