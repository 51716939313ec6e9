import csv
import json

import numpy as np
import pytest
from tolerances import rounding

from optrun.core.errors import RunIOError
from optrun.core.outputs import make_run_dir, write_json_atomic
from optrun.core.trace import TraceWriter, read_trace


def test_run_dirs_are_unique_within_one_second(tmp_path):
    made = [make_run_dir(tmp_path, "study", now=1_700_000_000.0) for _ in range(5)]
    names = [p.name for p in made]
    assert len(set(made)) == 5
    assert names[0].count("-") == 1 and names[1] == names[0] + "-1" and names[4] == names[0] + "-4"
    assert all(p.is_dir() and p.parent == tmp_path / "study" for p in made)


def test_run_dir_error_is_clear(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RunIOError, match="cannot create the output folder"):
        make_run_dir(blocker, "study")


def test_trace_writer_streams_bounded_buffer(tmp_path):
    path = tmp_path / "trace.csv"
    writer = TraceWriter(path, ["x[0]", "x[1]"], flush_seconds=1e9, max_buffered=10)
    for k in range(25):
        writer.record(k, float(k), 1.0, 0.1, 0.0, k + 1, k + 1, np.array([k, -k], dtype=float))
        assert len(writer._pending) + writer._chosen_rows < 10  # never holds more than a buffer's worth
    # 20 rows are on disk already, before close
    with open(path) as handle:
        assert len(handle.read().splitlines()) == 1 + 20
    writer.close()
    trace = read_trace(path)
    assert trace["iter"].tolist() == list(range(25))
    assert trace["x[1]"].tolist() == [-k for k in range(25)]


def test_trace_header_and_quoting(tmp_path):
    path = tmp_path / "trace.csv"
    writer = TraceWriter(path, ["x", "w[0,1]"])
    writer.record(0, 1.5, float("nan"), float("nan"), 0.25, 1, 1, np.array([0.1, 0.2]))
    writer.close()
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["iter", "f", "grad_norm", "step_size", "time_s", "nfev", "njev", "x", "w[0,1]"]
    assert rows[1][:3] == ["0", "1.5", "NaN"] and rows[1][4:] == ["0.25", "1", "1", "0.1", "0.2"]


def test_trace_values_round_trip_exactly(tmp_path):
    path = tmp_path / "trace.csv"
    writer = TraceWriter(path, None)
    values = [1 / 3, -2.0 / 7, 1e-300, 123456789.123456789]
    for k, v in enumerate(values):
        writer.record(k, v, v, 0.1, 0.0, 1, 1, np.zeros(1))
    writer.close()
    assert read_trace(path)["f"].tolist() == values


def test_json_atomic_replaces_and_nulls_nan(tmp_path):
    path = tmp_path / "summary.json"
    write_json_atomic(path, {"fun": float("nan"), "x": np.array([1.0, np.inf]), "n": np.int64(3)})
    assert json.loads(path.read_text()) == {"fun": None, "x": [1.0, None], "n": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temp file left


def test_short_write_then_full_disk_is_cut_back_to_the_last_complete_row(tmp_path, monkeypatch):
    """A write that stops half-way (the disk fills) must not leave half a row:
    the writer truncates the file back to the last complete row."""
    import errno
    import os

    import optrun.core.trace_files

    path = tmp_path / "trace.csv"
    writer = TraceWriter(path, ["x"], flush_seconds=1e9, max_buffered=3)
    for k in range(3):  # one full flush of 3 rows
        writer.record(k, float(k), 1.0, 0.1, 0.0, k + 1, k + 1, np.array([k], dtype=float))
    complete = path.read_bytes()
    assert complete.count(b"\n") == 4

    real_write, calls = os.write, []

    def short_then_full(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[: len(data) // 2])  # a short write: half of the next flush
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(optrun.core.trace_files.os, "write", short_then_full)
    with pytest.raises(RunIOError, match="cannot write the trace: No space left on device"):
        for k in range(3, 6):
            writer.record(k, float(k), 1.0, 0.1, 0.0, k + 1, k + 1, np.array([k], dtype=float))
    assert len(calls) == 2  # the short write really happened before the failure
    writer.close()  # after a failure: closes, writes nothing more
    assert path.read_bytes() == complete
    assert writer.rows_written == 3 and writer.last[0] == 5
    assert read_trace(path)["iter"].tolist() == [0, 1, 2]


def test_reader_leaves_out_a_torn_last_line_with_a_warning(tmp_path):
    from optrun.core.trace import TraceWarning

    path = tmp_path / "trace.csv"
    writer = TraceWriter(path, ["x"])
    for k in range(4):
        writer.record(k, float(k), 1.0, 0.1, 0.0, k + 1, k + 1, np.array([k], dtype=float))
    writer.close()
    with open(path, "a") as handle:
        handle.write("4,4.0,1.0,0.1,0.0")  # a torn row: 5 of 8 fields, no newline
    warnings: list[str] = []
    assert read_trace(path, warnings)["iter"].tolist() == [0, 1, 2, 3]
    assert len(warnings) == 1 and "the last line was incomplete" in warnings[0]
    with pytest.warns(TraceWarning, match="torn write"):
        read_trace(path)
    path.write_text("iter,f,gra")
    with pytest.raises(ValueError, match="no complete header row"):
        read_trace(path)


def test_reader_rejects_rows_that_do_not_match_the_header(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("iter,f,grad_norm\n0,1.0\n1,2.0\n")
    with pytest.raises(ValueError, match="rows have 2 fields but the header names 3 columns"):
        read_trace(path)


@pytest.mark.parametrize("name", ['w"1', 'a,b"c', 'say "hi", x', "x\ny"])
def test_parameter_names_with_quotes_and_commas_round_trip(tmp_path, name):
    path = tmp_path / "trace.csv"
    writer = TraceWriter(path, [name, "z"])
    writer.record(0, 1.5, 2.0, float("nan"), 0.0, 1, 1, np.array([0.25, -1.0]))
    writer.close()
    assert list(csv.reader(open(path, newline="")))[0][-2:] == [name, "z"]
    trace = read_trace(path)
    assert list(trace)[-2:] == [name, "z"] and trace[name].tolist() == [0.25]


def test_atomic_write_failure_leaves_neither_file_nor_temp(tmp_path):
    missing = tmp_path / "gone" / "summary.json"
    with pytest.raises(RunIOError, match="cannot write: No such file or directory"):
        write_json_atomic(missing, {"a": 1})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------- output.grad_columns
def _trid_gradient(x):
    """Closed form: d/dx_i of sum (x_i - 1)^2 - sum x_i x_{i-1}."""
    g = 2 * (x - 1)
    g[1:] -= x[:-1]
    g[:-1] -= x[1:]
    return g


def test_grad_columns_hold_the_signed_gradient_of_every_row(workdir):
    import optrun

    config = {
        "problem": {"name": "trid", "dim": 3},
        "optimizer": {"name": "gd", "step_size": 0.05},
        "stop": {"max_iter": 30},
        "output": {"plots": False, "grad_columns": True},
    }
    result = optrun.run(config)
    trace = result.trace
    names = [c for c in trace if c.startswith("grad:")]
    assert names == ["grad:x[0]", "grad:x[1]", "grad:x[2]"]
    x = np.column_stack([trace["x[0]"], trace["x[1]"], trace["x[2]"]])
    g = np.column_stack([trace[n] for n in names])
    # g_i = 2 (x_i - 1) - x_{i-1} - x_{i+1} in another order: a few roundings of terms up to 4 |x| + 2 on each side
    terms = 4 * np.abs(x).max() + 2
    np.testing.assert_allclose(g, np.array([_trid_gradient(row) for row in x]), rtol=0, atol=rounding(8, terms))
    # the same g: sqrt of a sum of 3 squares in another order (the runner's dot, norm's sum), (n + 2) eps/2 each side
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), trace["grad_norm"], rtol=rounding(5), atol=0)
    header = (result.run_dir / "trace.csv").read_text().splitlines()[0].split(",")
    assert header[-4:] == ["grad:x[0]", "grad:x[1]", "grad:x[2]", "gap"]  # after the parameters, before gap


def test_grad_columns_cover_the_free_parameters_and_nested_names(workdir):
    import optrun

    fixed = optrun.run(
        {
            "problem": "goldfield",
            "optimizer": {"name": "gd", "step_size": 0.01},
            "fix": {"y": 0.5},
            "stop": {"max_iter": 5},
            "output": {"plots": False, "grad_columns": True},
        }
    )
    assert [c for c in fixed.trace if c.startswith("grad:")] == ["grad:x"]
    # d/dx (2x^2 - 4xy): 4x and 4y = 2 are exact, and their difference rounds once, as here
    np.testing.assert_array_equal(fixed.trace["grad:x"], 4 * fixed.trace["x"] - 4 * 0.5)
    mlp = optrun.run(
        {
            "problem": "mlp_regression",
            "optimizer": "gd",
            "stop": {"max_iter": 1},
            "output": {"plots": False, "grad_columns": True, "param_columns": 10_000},
        }
    )
    columns = [c for c in mlp.trace if c.startswith("grad:")]
    params = [c for c in mlp.trace if c.startswith("layers[")]
    assert columns == ["grad:" + c for c in params] and "grad:layers[0].w[1,2]" in columns


def test_grad_columns_follow_the_parameter_column_limit(workdir):
    import optrun

    result = optrun.run(
        {
            "problem": {"name": "trid", "dim": 3},
            "optimizer": "gd",
            "stop": {"max_iter": 2},
            "output": {"plots": False, "grad_columns": True, "param_columns": 2},
        }
    )
    assert not [c for c in result.trace if c.startswith(("grad:", "x["))]


def test_the_params_plot_leaves_grad_columns_out():
    from optrun.plots.runs import param_columns

    trace = {"iter": 0, "f": 0, "x[0]": 0, "grad:x[0]": 0, "gap": 0}
    assert param_columns(trace) == ["x[0]"]


def _write_rows(path, fs, log_every):
    writer = TraceWriter(path, ["x"], flush_seconds=1e9, max_buffered=7, log_every=log_every)
    for k, f in enumerate(fs):
        writer.record(k, float(f), 1.0, 0.1, k * 1e-3, k + 1, k + 1, np.array([float(k)]))
    writer.close()
    return path.read_text().splitlines()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("log_every", [2, 7, 50])
def test_log_every_keeps_every_kth_row_and_the_first_last_and_best(tmp_path, seed, log_every):
    """The rows written with log_every K are rows of the full trace, in
    iteration order, holding every K-th iteration, the first, the last and
    the lowest f; the only others are rows that were the best so far when a
    later row was written (at most one per K)."""
    fs = np.random.default_rng(seed).normal(size=237).cumsum()  # a wandering f: the best is anywhere
    full = _write_rows(tmp_path / "full.csv", fs, 1)
    kept = _write_rows(tmp_path / "kept.csv", fs, log_every)
    assert kept[0] == full[0]
    iters = [int(line.split(",")[0]) for line in kept[1:]]
    assert all(full[k + 1] == line for k, line in zip(iters, kept[1:]))  # the same rows, byte for byte
    assert iters == sorted(set(iters))
    best = int(np.argmin(fs))
    required = set(range(0, len(fs), log_every)) | {0, len(fs) - 1, best}
    assert required <= set(iters)
    for k in set(iters) - required:
        assert fs[k] == fs[: k + 1].min()  # the best so far, written before a later row
    assert len(iters) <= 2 * len(range(0, len(fs), log_every)) + 2


def test_log_every_on_a_descent_writes_no_extra_rows(tmp_path):
    """When f only decreases, every row is a new best; the held best is
    dropped at each new one, so K = 10 over 95 rows writes 10 rows and the last."""
    kept = _write_rows(tmp_path / "kept.csv", -np.arange(95.0), 10)
    assert [int(line.split(",")[0]) for line in kept[1:]] == [*range(0, 95, 10), 94]


def test_log_every_must_be_a_positive_integer(tmp_path):
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="log_every must be an integer >= 1"):
            TraceWriter(tmp_path / f"t{bad}.csv", None, log_every=bad)


@pytest.mark.parametrize("value, message", [(0, "greater than or equal to 1"), ("ten", "integer")])
def test_output_log_every_is_checked_in_the_config(value, message):
    from optrun.config import load_config
    from optrun.core.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config({"problem": "trid", "optimizer": "gd", "output": {"log_every": value}})
    text = str(info.value)
    assert text.startswith("output.log_every:") and message in text and "\n" not in text


@pytest.mark.slow
def test_log_every_changes_the_trace_only(workdir):
    """A run with log_every 100 writes the same summary.json as with 1 (but
    the time), a subset of its trace rows with the first, the last and the
    best (adam's lowest f is at iteration 318, not a multiple of 100); the
    other observers still see every iteration."""
    import optrun

    seen = {1: [], 100: []}

    def run(k):
        class Every:
            def record(self, *row):
                seen[k].append(row[0])

        config = {
            "problem": {"name": "trid", "dim": 4},
            "optimizer": {"name": "adam", "step_size": 0.5},
            "stop": {"max_iter": 1000, "grad_tol": None},
            "output": {"plots": False, "log_every": k},
        }
        return optrun.run(config, observers=[Every()])

    full, kept = run(1), run(100)
    summaries = [json.loads((r.run_dir / "summary.json").read_text()) for r in (full, kept)]
    for s in summaries:
        s.pop("wall_time_s")
    assert summaries[0] == summaries[1] and summaries[0]["best"] == {"fun": kept.best.fun, "iter": 318}
    assert seen[1] == seen[100] == list(range(1001))
    rows = {
        int(r[0]): r[1:]
        for r in (line.split(",") for line in (full.run_dir / "trace.csv").read_text().splitlines()[1:])
    }
    kept_rows = [line.split(",") for line in (kept.run_dir / "trace.csv").read_text().splitlines()[1:]]
    iters = [int(r[0]) for r in kept_rows]
    assert {0, 318, 1000} | set(range(0, 1001, 100)) <= set(iters) and iters == sorted(iters)
    for r in kept_rows:  # the same row but for its time column
        assert r[1:4] + r[5:] == rows[int(r[0])][:3] + rows[int(r[0])][4:]
    assert len(iters) < 25


def test_a_method_without_a_gradient_writes_nan_grad_columns(workdir):
    import optrun

    result = optrun.run(
        {
            "problem": "rosenbrock",
            "optimizer": "nelder-mead",
            "stop": {"max_iter": 10},
            "output": {"plots": False, "grad_columns": True},
        }
    )
    assert result.status == "max_iter"
    for column in ("grad_norm", "grad:x[0]", "grad:x[1]"):
        assert np.isnan(result.trace[column]).all()
    assert result.trace["njev"].tolist() == [0] * len(result.trace["iter"]) and result.nit == 10  # SciPy's nit: 9 steps
