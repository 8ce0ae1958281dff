"""The stack under test: environment, database, and the daphne / expiry-worker processes.

Reuses the end-to-end tests' ServerProcess (SIGTERM then SIGKILL, log file per process); the
processes are started here because the bench also serves its own naive ASGI app.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from bench.network import free_port, healthz_ok
from tests.e2e.servers import DAPHNE, ROOT, ServerProcess

DEFAULT_DATABASE_URL = "mysql://root@127.0.0.1:3306/examtimer_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/1"
# Bench-only names on the shared Redis: nothing of ours collides with another run, and the
# cleanup deletes exactly these.
TIMER_KEY_PREFIX = "bench:g:timer:"
CHANNEL_LAYER_PREFIX = "bench-g-asgi"
CACHE_KEY_PREFIX = "bench-g-cache"
STARTUP_SECONDS = 60.0
# 10k sockets in one process, another 10k in the load generator: above the usual 1,024.
WANTED_OPEN_FILES = 30000


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files (children inherit it); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = WANTED_OPEN_FILES if hard == resource.RLIM_INFINITY else min(WANTED_OPEN_FILES, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return max(soft, wanted)


def bench_env(database_url: str, redis_url: str) -> dict[str, str]:
    """Environment of every process of the bench (the orchestrator sets it on itself too)."""
    base, _, _ = redis_url.rpartition("/")
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "examsite.settings",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CHANNEL_LAYER_URL": f"{base}/2",
        "CACHE_URL": f"{base}/3",
        "TIMER_KEY_PREFIX": TIMER_KEY_PREFIX,
        "CHANNEL_LAYER_PREFIX": CHANNEL_LAYER_PREFIX,
        "CACHE_KEY_PREFIX": CACHE_KEY_PREFIX,
        # Tokens outlive the longest phase: a socket closed by its token would look like a lost tick.
        "JWT_ACCESS_MINUTES": "180",
        "DEBUG": "1",
        "LOG_LEVEL": "INFO",
    }


def create_database(database_url: str) -> None:
    """CREATE DATABASE IF NOT EXISTS for a MySQL/MariaDB URL (SQLite needs nothing)."""
    url = urlparse(database_url)
    if not url.scheme.startswith("mysql"):
        return
    import MySQLdb  # mysqlclient, installed with requirements-mysql.txt

    name = url.path.lstrip("/")
    connection = MySQLdb.connect(
        host=url.hostname or "127.0.0.1", port=url.port or 3306, user=url.username or "root", passwd=url.password or ""
    )
    try:
        connection.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    finally:
        connection.close()


def migrate(env: dict[str, str], log_dir: Path) -> None:
    with (log_dir / "migrate.log").open("w") as log:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=600,
        )


class Stack:
    """The processes of one bench run; `stop_all` ends every one of them."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, profile: bool = False) -> None:
        self.env = env
        self.log_dir = log_dir
        self.profile = profile
        self.processes: list[ServerProcess] = []
        self.profilers: list[subprocess.Popen] = []

    def _spawn(
        self,
        name: str,
        kind: str,
        argv: list[str],
        port: int | None = None,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ServerProcess:
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open("w")
        process = subprocess.Popen(
            argv,
            cwd=cwd or ROOT,
            env={**self.env, **(env or {})},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = ServerProcess(name=name, kind=kind, process=process, log_path=log_path, port=port)
        server._log_file = log_file
        self.processes.append(server)
        if self.profile:
            self._profile(server)
        return server

    def _profile(self, server: ServerProcess) -> None:
        """py-spy samples the process until it exits: folded stacks (flamegraph.pl / speedscope input) per process."""
        py_spy = Path(sys.executable).with_name("py-spy")
        self.profilers.append(
            subprocess.Popen(
                [
                    *(str(py_spy), "record", "--nonblocking", "--rate", "50", "--pid", str(server.process.pid)),
                    *("--format", "raw", "--output", str(self.log_dir / f"{server.name}.folded")),
                    # Only the thread holding the GIL: where the CPU goes, not where threads wait on I/O.
                    *(("--gil",) if os.environ.get("BENCH_PROFILE_GIL") else ()),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    def profile_window(self, server: ServerProcess, name: str, seconds: float) -> subprocess.Popen:
        """py-spy samples `server` for `seconds` only (one phase's window): `<name>.folded`; wait() on it after."""
        py_spy = Path(sys.executable).with_name("py-spy")
        return subprocess.Popen(
            [
                *(str(py_spy), "record", "--nonblocking", "--rate", "100", "--pid", str(server.process.pid)),
                *("--duration", str(max(1, round(seconds))), "--gil"),
                *("--format", "raw", "--output", str(self.log_dir / f"{name}.folded")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start_web(
        self,
        name: str,
        application: str = "examsite.asgi:application",
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        port: int | None = None,
    ) -> ServerProcess:
        """One daphne process serving `application` (`env`: variables to set on top; `cwd`: another checkout of
        the product, default this one; `port`: a given one, e.g. a killed process's); returns once /healthz answers."""
        port = port or free_port()
        argv = [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), application]
        if application.startswith("-m "):  # a server of its own, not an ASGI app (bench/bare_tick_server.py)
            argv = [sys.executable, *application.split(), str(port)]
            argv += [self.env["REDIS_URL"], self.env["TIMER_KEY_PREFIX"]]
        server = self._spawn(name, "web", argv, port, env=env, cwd=cwd)
        _wait(server, lambda: healthz_ok(server.base_url), "/healthz")
        return server

    def start_worker(self, name: str = "worker", *, env: dict[str, str] | None = None) -> ServerProcess:
        """One `manage.py expiry_worker` (`env`: variables to set on top); returns once it is ready."""
        server = self._spawn(name, "worker", [sys.executable, "manage.py", "expiry_worker"], env=env)
        _wait(server, lambda: "expiry worker ready" in server.log(), "'expiry worker ready'")
        return server

    def stop(self, server: ServerProcess) -> None:
        server.stop()
        if server in self.processes:
            self.processes.remove(server)

    def stop_all(self) -> None:
        for server in list(self.processes):
            self.stop(server)
        for profiler in self.profilers:  # each ends with its process and writes its flame graph
            try:
                profiler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                profiler.terminate()


def _wait(server: ServerProcess, ready, what: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not ready():
        if not server.alive():
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}\n{server.tail()}")
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{server.name}: no {what} after {STARTUP_SECONDS} s\n{server.tail()}")
        time.sleep(0.2)
