"""The trace's ``violation`` column (issue 34): a run with constraints has
one, each written row's largest violation of its bounds and constraints,
checked against max(0, -c) computed here from the trace's own x columns; a
run without constraints (none at all, or bounds alone) keeps its header."""

import json

import numpy as np
import pytest
from helpers import run_cli, run_dirs

import optrun
from optrun.core.trace import TRACE_COLUMNS, TraceRows, TraceWriter, read_trace

DISC = {"type": "ineq", "expr": "1 - x[0]**2 - x[1]**2"}


def disc_violation(trace):
    """max(0, -(1 - x0^2 - x1^2)) from the trace's x columns: the unit disc's violation, computed here."""
    x0, x1 = trace["x[0]"], trace["x[1]"]
    return np.maximum(0.0, -(1.0 - x0**2 - x1**2))


def run_disc(optimizer="slsqp", **output):
    return optrun.run(
        {
            "problem": "rosenbrock",
            "optimizer": optimizer,
            "constraints": [DISC],
            "stop": {"max_iter": 60},
            "output": {"plots": False, **output},
        }
    )


def test_a_constrained_runs_violation_column_is_each_rows_disc_violation(workdir):
    result = run_disc()
    trace = read_trace(result.run_dir)
    assert list(trace)[-1] == "violation"  # after the parameter columns (rosenbrock with a constraint has no f*)
    assert np.allclose(trace["violation"], disc_violation(trace), rtol=1e-12, atol=1e-15)
    assert trace["violation"][0] == pytest.approx(1.44, rel=1e-12)  # (-1.2, 1): 1.44 + 1 - 1
    assert (trace["violation"] > 1.0).any() and (trace["violation"] == 0).any()  # SLSQP leaves the disc, then enters it
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert trace["violation"][-1] == pytest.approx(summary["constraints"]["end"]["violation"], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("trace_format", ["csv", "parquet"])
def test_log_every_keeps_the_column_right_on_every_written_row(workdir, trace_format):
    full = read_trace(run_disc().run_dir)
    thinned = read_trace(run_disc(log_every=4, trace_format=trace_format).run_dir)
    rows = np.searchsorted(full["iter"], thinned["iter"])
    assert len(thinned["iter"]) < len(full["iter"]) and (full["iter"][rows] == thinned["iter"]).all()
    assert np.array_equal(thinned["violation"], full["violation"][rows])  # the same run: the same rows' values
    assert np.allclose(thinned["violation"], disc_violation(thinned), rtol=1e-12, atol=1e-15)


def test_runs_without_constraints_keep_their_header(workdir):
    plain = optrun.run({"problem": "rosenbrock", "optimizer": "lbfgs", "output": {"plots": False}})
    header = [*TRACE_COLUMNS, "x[0]", "x[1]", "gap"]
    assert (plain.run_dir / "trace.csv").read_text().splitlines()[0] == ",".join(header)
    boxed = optrun.run(
        {
            "problem": "rosenbrock",
            "optimizer": {"name": "gd", "step_size": 1e-3},
            "bounds": {"x": [[-1.5, 0.5], [-0.5, 1.5]]},
            "stop": {"max_iter": 20},
            "output": {"plots": False},
        }
    )
    assert "violation" not in read_trace(boxed.run_dir)  # bounds alone: every iterate is in the box


def test_the_writer_computes_the_column_from_x_for_rows_given_one_at_a_time_or_in_chunks(tmp_path):
    def violation(x):
        return max(0.0, float(x[0]) - 1.0)  # x[0] <= 1

    xs = np.linspace(0.0, 3.0, 7)[:, None]
    one = TraceWriter(tmp_path / "one.csv", ["x"], violation=violation)
    for k, x in enumerate(xs):
        one.record(k, float(k), 1.0, 0.1, 0.0, k + 1, k + 1, x)
    one.close()
    k = np.arange(len(xs))
    rows = TraceRows(k, k.astype(float), np.ones(len(k)), np.full(len(k), 0.1), k * 1e-6, k + 1, k + 1, xs)
    chunk = TraceWriter(tmp_path / "chunk.csv", ["x"], violation=violation)
    chunk.record_rows(rows)
    chunk.close()
    expected = np.maximum(0.0, xs[:, 0] - 1.0)
    assert np.array_equal(read_trace(tmp_path / "one.csv")["violation"], expected)
    assert np.array_equal(read_trace(tmp_path / "chunk.csv")["violation"], expected)
    without_x = TraceWriter(tmp_path / "no-x.csv", None, violation=violation)
    with pytest.raises(ValueError, match="violation"):  # rows without x cannot give the column: refused, not guessed
        without_x.record_rows(rows._replace(x=None))
    without_x.close()


def test_a_run_with_more_parameters_than_columns_still_has_the_column(workdir):
    result = optrun.run(
        {
            "problem": {"name": "rosenbrock", "dim": 3},
            "optimizer": "slsqp",
            "constraints": [{"type": "ineq", "expr": "x[0] + x[1] + x[2] - 1"}],
            "stop": {"max_iter": 30},
            "output": {"plots": False, "param_columns": 2},  # 3 entries: no parameter columns
        }
    )
    trace = read_trace(result.run_dir)
    assert "x[0]" not in trace and trace["violation"][0] == 1.0  # the start (0, 0, 0): c = -1
    end = json.loads((result.run_dir / "summary.json").read_text())["constraints"]["end"]["violation"]
    assert trace["violation"][-1] == end


@pytest.mark.slow
def test_optrun_run_show_and_compare_on_a_constrained_run(workdir):
    (workdir / "disc.yaml").write_text(
        "problem: rosenbrock\noptimizer: slsqp\n"
        'constraints: [{type: ineq, expr: "1 - x[0]**2 - x[1]**2"}]\noutput: {plots: false}\n'
    )
    (workdir / "plain.yaml").write_text("problem: rosenbrock\noptimizer: slsqp\noutput: {plots: false}\n")
    for name in ("disc", "plain"):
        done = run_cli("run", f"{name}.yaml", "-q", cwd=workdir)
        assert done.returncode == 0, done.stderr
    disc, plain = run_dirs(workdir, "disc")[0], run_dirs(workdir, "plain")[0]
    trace = read_trace(disc)
    assert np.allclose(trace["violation"], disc_violation(trace), rtol=1e-12, atol=1e-15)
    assert (plain / "trace.csv").read_text().splitlines()[0] == ",".join([*TRACE_COLUMNS, "x[0]", "x[1]", "gap"])
    shown = run_cli("show", disc, cwd=workdir)
    assert shown.returncode == 0 and "violation" in shown.stdout, shown.stderr
    compared = run_cli("compare", disc, plain, "--json", cwd=workdir)
    assert compared.returncode == 0, compared.stderr
    funs = sorted(row["f"] for row in json.loads(compared.stdout))
    assert funs[0] == pytest.approx(0.0, abs=1e-10) and funs[1] == pytest.approx(0.0456748087, rel=1e-8)


def test_a_second_signal_while_pending_rows_are_queued_loses_none(tmp_path):
    """A flush blocks SIGINT from taking the pending rows to writing them: a second Ctrl-C
    arriving between (the handler raises at once) used to drop every row a short run had
    buffered (CI saw an interrupted run with nit 975 and an empty trace)."""
    import os
    import signal

    from optrun.core.runner import SignalFlag
    from optrun.core.trace import TraceWriter

    writer = TraceWriter(tmp_path / "trace.csv", None, flush_seconds=100.0)
    for k in range(5):
        writer.record(k, float(k), 1.0, 0.1, 0.0, k, k, np.zeros(1), None)
    queue = writer._choose

    def queue_after_a_signal(rows):
        os.kill(os.getpid(), signal.SIGINT)  # while the rows are neither pending nor queued
        queue(rows)

    writer._choose = queue_after_a_signal
    flag = SignalFlag(armed=True)
    flag.at_once = True
    previous = signal.signal(signal.SIGINT, flag)
    try:
        with pytest.raises(KeyboardInterrupt):
            writer.flush()  # the signal arrives once the rows are written
    finally:
        signal.signal(signal.SIGINT, previous)
    writer._choose = queue
    writer.close()
    body = (tmp_path / "trace.csv").read_text().splitlines()[1:]
    assert [int(line.split(",")[0]) for line in body] == [0, 1, 2, 3, 4]
