"""A real Dask cluster on this machine whose workers cannot see the client's files.

The scheduler and each worker are started with the commands a cluster user
runs (``dask scheduler``, ``dask worker``), from this environment's ``bin``.
Each worker runs in its own working folder and its own mount namespace
(``unshare -m``, as root) with a private, empty tmpfs mounted over each of
the ``hidden`` folders (the client's configs, data, problem files and
outputs): the worker cannot read or write the client's files, exactly as on
another machine. Used by tests/test_cluster.py and benchmarks/cluster.py.
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

BIN = Path(sys.executable).parent


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

    def __enter__(self) -> Cluster:
        file = self.root / "scheduler.json"
        self.scheduler = self._start(
            "scheduler",
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(file)],
        )
        deadline = time.monotonic() + 60
        while not file.exists() or not file.read_text().strip():
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler did not start: {self.log('scheduler')}")
            time.sleep(0.1)
        import json

        self.address = json.loads(file.read_text())["address"]
        for k in range(1, self._count + 1):
            self.add_worker(f"w{k}")
        self.wait_for_workers(self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in list(self.workers):
            self.kill_worker(name)
        if self.scheduler is not None and self.scheduler.poll() is None:
            self.stop_scheduler()

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (the process keeps it)
        env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
        return subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True, env=env)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def add_worker(self, name: str) -> None:
        """A ``dask worker`` in its own folder and mount namespace, the hidden folders empty tmpfs."""
        home = self.root / f"worker-{name}"
        home.mkdir(exist_ok=True)
        mounts = " && ".join(f"mount -t tmpfs -o size=64m optrun-hidden {shlex.quote(str(p))}" for p in self.hidden)
        worker = shlex.join(
            [str(BIN / "dask"), "worker", self.address, "--nthreads", "1", "--nworkers", "1", "--name", name,
             "--no-dashboard", "--local-directory", str(home / "dask"), "--death-timeout", "30"]
        )
        script = f"{mounts} && cd {shlex.quote(str(home))} && exec {worker}"
        self.workers[name] = self._start(f"worker-{name}", ["unshare", "-m", "--propagation", "private", "sh", "-c", script])

    def wait_for_workers(self, n: int, timeout: float = 90) -> None:
        from distributed import Client

        with Client(self.address, timeout="20s") as client:
            client.wait_for_workers(n, timeout=timeout)

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

    def stop_scheduler(self, sig: int = signal.SIGKILL) -> None:
        assert self.scheduler is not None
        os.killpg(self.scheduler.pid, sig)
        self.scheduler.wait(30)
