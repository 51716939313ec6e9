import csv
import json

import numpy as np
import pytest

from optrun.errors import RunIOError
from optrun.outputs import TraceWriter, make_run_dir, read_trace, write_json_atomic


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
        assert len(writer._lines) < 10  # never holds more than a buffer's worth
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
    assert rows[1] == ["0", "1.5", "nan", "nan", "0.250000", "1", "1", "0.1", "0.2"]


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
