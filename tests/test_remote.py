"""What travels to a machine that shares no disk with the client, and what
comes back (optrun/engine/remote.py), without a cluster: a parcel packed
here is opened by a fresh Python process in another folder after the
client's files are gone, and its run directory is received here. The real
cluster (dask scheduler/worker in private mount namespaces) is
tests/test_cluster.py."""

import dataclasses
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import REPO

from optrun.config import load_config
from optrun.config.plugins import load_problem_sources, load_user_problems
from optrun.core.errors import RunIOError
from optrun.core.problems import PROBLEMS
from optrun.engine.remote import CHUNK_BYTES, Parcel, Returned, opened, pack, read_chunk, receive

WORKER = """
import pickle, sys
from pathlib import Path
from optrun.engine.record import execute
from optrun.engine.remote import opened, recorded

parcel, files = pickle.loads(Path(sys.argv[1]).read_bytes())

def run(run_dir):
    with opened(parcel, files) as config:
        return execute(config, run_dir=run_dir, blas_threads=parcel.blas_threads).summary.fun

Path(sys.argv[2]).write_bytes(pickle.dumps(recorded(run)))
"""


def _client_folder(root: Path) -> Path:
    client = root / "client"
    (client / "problems").mkdir(parents=True)
    shutil.copy(REPO / "problems" / "example_data.csv", client / "problems")
    shutil.copy(REPO / "problems" / "example_rastrigin.py", client / "problems" / "shipped_rastrigin.py")
    text = (REPO / "problems" / "example_rastrigin.py").read_text().replace('"rastrigin"', '"shipped_rastrigin"')
    (client / "problems" / "shipped_rastrigin.py").write_text(text)
    (client / "csv.yaml").write_text(
        textwrap.dedent("""\
        problem: {name: linear_regression, data: {path: problems/example_data.csv, target: y}}
        optimizer: {name: adam, step_size: 0.1}
        stop: {max_iter: 300}
        output: {plots: false}
        """)
    )
    (client / "user.yaml").write_text(
        "problem: {name: shipped_rastrigin, dim: 3}\noptimizer: {name: gd, step_size: 0.002}\n"
        "stop: {max_iter: 200}\noutput: {plots: false}\n"
    )
    return client


@pytest.mark.slow
@pytest.mark.parametrize("config", ["csv.yaml", "user.yaml"])
def test_a_parcel_runs_where_none_of_the_client_files_exist(tmp_path, monkeypatch, config):
    client = _client_folder(tmp_path)
    monkeypatch.chdir(client)
    try:
        here = load_config(client / config)
        parcel, files = pack(here, blas_threads=1)
        from optrun.engine.record import execute

        local = execute(here, run_dir=tmp_path / "local", blas_threads=1)
    finally:
        PROBLEMS.unregister("shipped_rastrigin")
    assert {path for path, _ in parcel.data} == (
        {str(client / "problems" / "example_data.csv")} if config == "csv.yaml" else set()
    )
    assert any(path.endswith("shipped_rastrigin.py") for path, _ in parcel.problems)
    (tmp_path / "parcel.pkl").write_bytes(pickle.dumps((parcel, files)))
    shutil.rmtree(client)  # the worker cannot see any of it
    elsewhere = tmp_path / "worker"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(tmp_path / "parcel.pkl"), str(tmp_path / "out.pkl")],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    fun, returned = pickle.loads((tmp_path / "out.pkl").read_bytes())
    assert fun == local.summary.fun
    assert sorted(returned.files) == sorted(p.name for p in (tmp_path / "local").iterdir())
    receive(returned, tmp_path / "back", fetch=None)
    assert (tmp_path / "back" / "config.yaml").read_text() == (tmp_path / "local" / "config.yaml").read_text()
    assert _without_time(tmp_path / "back" / "trace.csv") == _without_time(tmp_path / "local" / "trace.csv")


def _without_time(trace: Path) -> list[list[str]]:
    """The trace's text, cell by cell, without its time_s column: every other number bit for bit."""
    import csv

    rows = list(csv.reader(trace.read_text().splitlines()))
    k = rows[0].index("time_s")
    return [row[:k] + row[k + 1 :] for row in rows]


def test_bytes_that_do_not_match_their_digest_are_refused(workdir):
    (workdir / "data.csv").write_text("x,y\n1,2\n2,3\n")
    config = load_config(
        {"problem": {"name": "linear_regression", "data": {"path": "data.csv", "target": "y"}}, "optimizer": "gd"}
    )
    parcel, files = pack(config, None)
    ((_, sha),) = parcel.data
    with pytest.raises(RunIOError, match="do not match their SHA-256"), opened(parcel, {**files, sha: b"x,y\n1,2\n"}):
        pass


def test_a_shipped_data_file_is_read_from_its_bytes_not_from_this_disk(workdir):
    (workdir / "data.csv").write_text("x,y\n1,2\n2,3\n3,5\n")
    config = load_config(
        {"problem": {"name": "linear_regression", "data": {"path": "data.csv", "target": "y"}}, "optimizer": "gd"}
    )
    parcel, files = pack(config, None)
    # (only the data: this test process is also the client of other tests, whose user problem files it loaded)
    parcel = dataclasses.replace(parcel, problems=())
    (workdir / "data.csv").write_text("x,y\n1,100\n")  # what this machine has at that path now
    from optrun.engine.prepare import prepare

    with opened(parcel, files) as shipped:
        assert shipped.problem.options.data.path == str(workdir / "data.csv")
        sent = prepare(shipped).oracle.fun(prepare(shipped).x0)
    here = prepare(load_config(parcel.config)).oracle.fun(prepare(load_config(parcel.config)).x0)
    assert sent != here  # the shipped bytes, not the file here


SOURCE = """
from optrun import Problem, register_problem

@register_problem("shipped_version_test", description="v", formula="(x-{c})^2", parameters="x")
def build(options):
    return Problem(objective=lambda p: (p["x"] - {c}) ** 2, start={{"x": 0.0}})
"""


def test_a_problem_file_loads_once_per_version_and_a_new_version_replaces_the_old():
    try:
        one = SOURCE.format(c=1.0).encode()
        two = SOURCE.format(c=2.0).encode()
        assert load_problem_sources([("/client/p.py", one, "sha-one")]) == []
        first = PROBLEMS.get("shipped_version_test")
        assert load_problem_sources([("/client/p.py", one, "sha-one")]) == []  # the same source: not run again
        assert PROBLEMS.get("shipped_version_test") is first
        assert load_problem_sources([("/client/p.py", two, "sha-two")]) == []  # edited on the client: replaces it
        assert PROBLEMS.get("shipped_version_test") is not first
        assert "(x-2.0)^2" in PROBLEMS.get("shipped_version_test").formula
    finally:
        load_problem_sources([])


def test_a_worker_holds_only_the_problem_files_of_the_task_it_runs():
    """Two clients' projects each with a file registering the same name, on one worker, one after the other:
    each task sees its own (the same file under another path too); an empty task sees neither."""
    a = ("/project-a/problems/p.py", SOURCE.format(c=1.0).encode(), "sha-a")
    b = ("/project-b/problems/p.py", SOURCE.format(c=2.0).encode(), "sha-b")
    try:
        for sources, formula in (
            ([a], "(x-1.0)^2"),
            ([b], "(x-2.0)^2"),
            ([a], "(x-1.0)^2"),
            ([("p.py", *a[1:])], "(x-1.0)^2"),
        ):
            assert load_problem_sources(sources) == []
            assert formula in PROBLEMS.get("shipped_version_test").formula
        load_problem_sources([])
        assert "shipped_version_test" not in PROBLEMS
    finally:
        load_problem_sources([])


def test_a_shipped_problem_file_that_fails_is_a_warning_naming_the_client_path():
    try:
        warnings = load_problem_sources([("/client/problems/broken.py", b"x = 1\nraise RuntimeError('boom')\n", "b")])
        assert len(warnings) == 1
        assert warnings[0].startswith("/client/problems/broken.py: not loaded: RuntimeError: boom (line 2)")
    finally:
        load_problem_sources([])


def test_two_tasks_in_two_threads_of_one_worker_read_their_own_shipped_data(workdir):
    """A worker with several threads runs tasks at once: each reads the bytes shipped with it, never the other's."""
    import threading

    from optrun.core.problems.data import shipped_files
    from optrun.engine.prepare import prepare

    (workdir / "data.csv").write_text("x,y\n1,2\n2,3\n3,5\n")
    config = load_config(
        {"problem": {"name": "linear_regression", "data": {"path": "data.csv", "target": "y"}}, "optimizer": "gd"}
    )
    path = str(workdir / "data.csv")
    seen, errors = {}, []
    barrier = threading.Barrier(2)

    def task(k: int) -> None:
        try:
            with shipped_files({path: f"x,y\n1,{k}\n2,{k}\n".encode()}):
                barrier.wait(timeout=10)  # both inside at once
                prep = prepare(config)
                seen[k] = prep.oracle.fun(prep.x0)
                barrier.wait(timeout=10)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=task, args=(k,)) for k in (10, 20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert seen[10] != seen[20]
    with shipped_files({path: b"x,y\n1,10\n2,10\n"}):
        prep = prepare(config)
        assert prep.oracle.fun(prep.x0) == seen[10]


def _returned(tmp_path: Path, sizes: dict[str, int]) -> Returned:
    folder = tmp_path / "worker" / "run"
    folder.mkdir(parents=True)
    for name, size in sizes.items():
        (folder / name).write_bytes(os.urandom(size))
    return Returned("tcp://worker", str(folder), {name: size for name, size in sizes.items()})


def test_large_files_come_back_in_chunks_from_their_worker(tmp_path):
    returned = _returned(tmp_path, {"trace.csv": 2 * CHUNK_BYTES + 123, "summary.json": 10})
    asked = []

    def fetch(worker, fn, *args):
        asked.append((worker, fn.__name__, args[1:] if fn is read_chunk else ()))
        return fn(*args)

    (tmp_path / "runs").mkdir()
    receive(returned, tmp_path / "runs" / "run-0001", fetch)
    for name in returned.files:
        assert (tmp_path / "runs" / "run-0001" / name).read_bytes() == (Path(returned.folder) / name).read_bytes()
    reads = [a for a in asked if a[1] == "read_chunk"]
    assert [args for _, _, args in reads[:3]] == [
        (0, CHUNK_BYTES),
        (CHUNK_BYTES, CHUNK_BYTES),
        (2 * CHUNK_BYTES, CHUNK_BYTES),
    ]
    assert asked[-1][1] == "remove_scratch"  # its scratch folder goes once everything came back
    assert all(worker == "tcp://worker" for worker, _, _ in asked)


def test_a_worker_lost_while_its_files_come_back_leaves_nothing_here(tmp_path):
    returned = _returned(tmp_path, {"trace.csv": 3 * CHUNK_BYTES, "summary.json": 10})
    calls = 0

    def fetch(worker, fn, *args):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RunIOError("the worker that recorded it left the cluster before its files came back")
        return fn(*args)

    runs = tmp_path / "runs"
    runs.mkdir()
    with pytest.raises(RunIOError, match="left the cluster"):
        receive(returned, runs / "run-0001", fetch)
    assert list(runs.iterdir()) == []  # no run directory, no staging folder, no temporary file


@pytest.mark.slow
def test_a_run_too_big_for_the_free_space_here_is_refused_whole(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    runs = tmp_path / "small"
    runs.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "optrun-test", str(runs)], check=True)
    try:
        big = Returned("", str(tmp_path), {"trace.csv": b"x" * 3_000_000, "summary.json": b"{}"})
        with pytest.raises(RunIOError, match=r"do not fit in the .* free here"):
            receive(big, runs / "run-0001", fetch=None)
        assert list(runs.iterdir()) == []
        # files whose bytes fit the free space but whose blocks do not (4097 bytes take two 4 kB pages):
        # the disk fills while they are written, for real
        many = {f"plot-{i:03d}.png": b"p" * 4097 for i in range(200)}
        assert sum(map(len, many.values())) < shutil.disk_usage(runs).free
        with pytest.raises(RunIOError, match="cannot write"):
            receive(Returned("", str(tmp_path), dict(many)), runs / "run-0002", fetch=None)
        assert list(runs.iterdir()) == []  # the staging folder went with what it held
    finally:
        subprocess.run(["umount", str(runs)], check=True)


def test_the_parcel_carries_the_blas_setting_and_the_backend(workdir):
    config = load_config({"problem": "rosenbrock", "optimizer": "gd", "backend": "autograd"})
    load_user_problems(None)
    parcel, _ = pack(config, 3)
    assert isinstance(parcel, Parcel) and parcel.blas_threads == 3 and parcel.config["backend"] == "autograd"


def test_a_worker_with_another_optrun_version_refuses_the_run(workdir):
    parcel, files = pack(load_config({"problem": "rosenbrock", "optimizer": "gd"}), None)
    with pytest.raises(RunIOError, match=r"this worker runs optrun .*, the client optrun 0\.0\.1"):
        with opened(dataclasses.replace(parcel, optrun="0.0.1"), files):
            pass


def test_only_problem_files_still_in_use_are_shipped(tmp_path):
    from optrun.config.plugins import load_problem_files, loaded_files

    for name in ("kept", "dropped"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / f"{name}_file.py").write_text(SOURCE.format(c=1.0).replace("shipped_version_test", f"ship_{name}"))
        assert load_problem_files(folder) == []
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "registers_nothing.py").write_text("SCALE = 2.0\n")
    load_problem_files(tmp_path / "helpers")
    try:
        PROBLEMS.unregister("ship_dropped")  # (as a test's teardown, or a notebook, does)
        files = loaded_files()
        assert str(tmp_path / "kept" / "kept_file.py") in files
        assert str(tmp_path / "helpers" / "registers_nothing.py") in files
        assert str(tmp_path / "dropped" / "dropped_file.py") not in files
    finally:
        PROBLEMS.unregister("ship_kept")


def test_why_a_shipped_problem_file_failed_on_the_worker_is_in_the_config_error(workdir):
    from optrun.core.errors import ConfigError

    source = SOURCE.format(c=1.0).replace("shipped_version_test", "needs_helper").encode()
    try:
        load_problem_sources([("/client/problems/h.py", source, "sha-h")])
        config = load_config({"problem": "needs_helper", "optimizer": "gd"})
        parcel, _ = pack(config, None)
    finally:
        load_problem_sources([])
    broken = b"from _helper import SCALE\n" + source  # a helper module beside it, not shipped
    from optrun.engine.remote import digest

    parcel = dataclasses.replace(parcel, problems=(("/client/problems/h.py", digest(broken)),))
    with pytest.raises(ConfigError) as caught, opened(parcel, {digest(broken): broken}):
        pass
    message = str(caught.value)
    assert (
        "needs_helper" in message and "on the worker: /client/problems/h.py: not loaded: ModuleNotFoundError" in message
    )
    assert "\n" not in message
