"""A real Dask cluster on this machine whose workers cannot see the client's files.

The scheduler and each worker are started with the commands a cluster user
runs (``dask scheduler``, ``dask worker``), from this environment's ``bin``.
Each worker runs in its own working folder and its own mount namespace
(``unshare -m``, as root) with a private, empty tmpfs mounted over each of
the ``hidden`` folders (the client's configs, data, problem files and
outputs): the worker cannot read or write the client's files, exactly as on
another machine. Its temporary files (``TMPDIR``) go to its own folder, where
a test can look for what a run left behind. Used by tests/test_cluster.py and
benchmarks/cluster.py.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]  # the optrun the workers import, as the client's (helpers.run_cli)


def can_hide_folders() -> str:
    """'' if workers can be given private mounts here, else why not."""
    if os.geteuid() != 0:
        return "unshare -m needs root"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /mnt && umount /mnt"],
        capture_output=True,
        text=True,
    )
    return "" if probe.returncode == 0 else f"unshare -m cannot mount a tmpfs here: {probe.stderr.strip()}"


class Cluster:
    """``dask scheduler`` and ``workers`` ``dask worker`` processes (one
    thread each, each its own process group), the workers' view of every
    folder in ``hidden`` replaced by an empty tmpfs."""

    def __init__(self, root: Path, hidden: list[Path], workers: int = 2):
        self.root = root
        self.hidden = [Path(p).resolve() for p in hidden]
        self.logs = root / "cluster-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.scheduler: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}
        self.address = ""
        self._count = workers
        self._client: Any = None

    def __enter__(self) -> Cluster:
        try:
            self._start_all()
        except BaseException:
            self.__exit__()  # no process of ours outlives a cluster that did not start
            raise
        return self

    def _start_all(self) -> None:
        import json

        file = self.root / "scheduler.json"
        file.unlink(missing_ok=True)  # a cluster's of this folder before
        self.scheduler = self._start(
            "scheduler",
            [
                str(BIN / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(file),
            ],
        )
        deadline = time.monotonic() + 60
        while not file.exists() or not file.read_text().strip():
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler did not start: {self.log('scheduler')}")
            time.sleep(0.1)
        self.address = json.loads(file.read_text())["address"]
        for k in range(1, self._count + 1):
            self.add_worker(f"w{k}")
        self.wait_for_workers(self._count)

    def __exit__(self, *exc: object) -> None:
        self._close_client()
        for name in list(self.workers):
            self.kill_worker(name)
        if self.scheduler is not None and self.scheduler.poll() is None:
            self.stop_scheduler()

    @property
    def client(self) -> Any:
        """A Dask client of this process, for the tests' questions to the cluster (made once)."""
        if self._client is None:
            from distributed import Client

            self._client = Client(self.address, timeout="20s")
        return self._client

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _start(self, name: str, argv: list[str], **env_extra: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False", "PYTHONPATH": path, **env_extra}
        return subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True, env=env)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def add_worker(self, name: str) -> None:
        """A ``dask worker`` in its own folder and mount namespace, the hidden folders empty tmpfs."""
        home = self.root / f"worker-{name}"
        self.tmp_dir(name).mkdir(parents=True, exist_ok=True)
        mounts = " && ".join(f"mount -t tmpfs -o size=64m optrun-hidden {shlex.quote(str(p))}" for p in self.hidden)
        worker = shlex.join(
            [
                str(BIN / "dask"),
                "worker",
                self.address,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--name",
                name,
                "--no-dashboard",
                "--local-directory",
                str(home / "dask"),
                "--death-timeout",
                "30",
            ]
        )
        script = f"{mounts} && cd {shlex.quote(str(home))} && exec {worker}"
        self.workers[name] = self._start(
            f"worker-{name}",
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            TMPDIR=str(self.tmp_dir(name)),
        )

    def tmp_dir(self, name: str) -> Path:
        """The worker's TMPDIR (its scratch folders are made there)."""
        return self.root / f"worker-{name}" / "tmp"

    def wait_for_workers(self, n: int, timeout: float = 90) -> None:
        """Until ``n`` workers are in the cluster; a worker process that ended meanwhile is an error, with its log."""

        def count(dask_scheduler: Any) -> int:
            return len(dask_scheduler.workers)

        deadline = time.monotonic() + timeout
        while self.client.run_on_scheduler(count) < n:
            for name, proc in self.workers.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"dask worker {name} ended ({proc.returncode}): {self.log(f'worker-{name}')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {n} workers after {timeout} s")
            time.sleep(0.1)

    def tasks_done(self, prefix: str = "optrun") -> int:
        """How many times a task whose key starts with ``prefix-`` finished on a
        worker of this cluster, since it started (the scheduler's own count)."""
        return self._task_count(prefix, "memory")

    def tasks_sent(self, prefix: str = "optrun") -> int:
        """How many times such a task was given to a worker: more than were done
        when a worker left with tasks it had not finished (they were sent again)."""
        return self._task_count(prefix, "processing")

    def _task_count(self, prefix: str, state: str) -> int:
        def count(dask_scheduler: Any, prefix: str = prefix, state: str = state) -> int:
            found = dask_scheduler.task_prefixes.get(prefix)
            return 0 if found is None else found.state_counts[state]

        return self.client.run_on_scheduler(count)

    def sees(self, path: Path) -> dict[str, bool]:
        """Whether each worker sees ``path`` (by its address)."""
        return self.client.run(os.path.exists, str(path))

    def kill_worker(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a worker's whole process group (its nanny and its worker process): it leaves the cluster."""
        proc = self.workers.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(30)

    def worker_pids(self, name: str) -> list[int]:
        """The processes of a worker's group (the nanny and the worker process it started)."""
        group = self.workers[name].pid
        out = subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def worker_process(self, name: str) -> int:
        """The worker process its nanny started (not the nanny, not multiprocessing's resource tracker)."""
        for pid in self.worker_pids(name):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"spawn_main" in arg for arg in argv):
                return pid
        raise RuntimeError(f"worker {name} has no worker process: {self.worker_pids(name)}")

    def stop_scheduler(self, sig: int = signal.SIGKILL) -> None:
        assert self.scheduler is not None
        self._close_client()
        os.killpg(self.scheduler.pid, sig)
        self.scheduler.wait(30)
