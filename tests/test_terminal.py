import io

from rich.console import Console

from optrun.commands.terminal import ProgressBar, params_text, summary_table
from optrun.core.result import Summary


def test_progress_bar_shows_iteration_f_and_gradient():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    with ProgressBar(console, total=100, label="demo", refresh_seconds=0.0) as bar:
        bar.record(42, 1.2345678, 0.001, 0.1, 0.5, 43, 43, None, None)
    text = buffer.getvalue()
    assert "demo" in text and "42/100" in text and "f=1.23457" in text and "|g|=0.001" in text


def test_progress_bar_is_throttled():
    console = Console(file=io.StringIO(), force_terminal=True)
    bar = ProgressBar(console, total=10**6, label="x", refresh_seconds=60.0)
    updates = []
    bar._progress.update = lambda *a, **k: updates.append(k)  # count redraw requests
    for k in range(10000):
        bar.record(k, 1.0, 1.0, 0.1, 0.0, k, k, None, None)
    assert len(updates) == 1


def test_summary_table_and_params_text():
    summary = Summary.from_json({"status": "converged", "message": "done", "fun": -2.0, "params": {"x": [2.0, 2.0]},
                                 "grad_norm": 1e-9, "nit": 10, "nfev": 11, "njev": 11, "best": {"fun": -2.0, "iter": 10},
                                 "wall_time_s": 0.01, "reference": {"fun": -2.0, "params": [{"x": [2.0, 2.0]}]}})
    console = Console(file=io.StringIO(), width=120)
    console.print(summary_table(summary, "outputs/run/1", "title"))
    text = console.file.getvalue()
    for part in ("converged: done", "x=[2, 2]", "11 f, 11 gradient", "outputs/run/1", "f - f*"):
        assert part in text
    assert params_text({"w": list(range(50))}) == "50 values (see summary.json)"
