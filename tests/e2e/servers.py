"""Real server processes for end-to-end tests: daphne web processes and expiry workers.

Typical use, through the `cluster` fixture of tests/e2e/conftest.py:

    @pytest.mark.e2e
    @pytest.mark.django_db(transaction=True)
    def test_something(cluster):
        web_a, web_b = cluster.start_webs(2)      # each answers /healthz before this returns
        cluster.start_workers(2)                  # each has logged "expiry worker ready"
        url = web_a.ws_url(f"/ws/attempts/{attempt.pk}/?token={token}")

Every process gets the environment of the running test (`subprocess_env`): the *test*
database that pytest-django created, the same Redis, and the test's own timer-key and
channel-layer prefixes, so data made in the test process is what the servers see, and
groups joined in the test process are the ones the servers publish to. Each process writes
its output to `tests/artifacts/<test>/<name>.log`; `Cluster.tails()` returns the last lines
of every log (the fixture prints them when a test fails). `Cluster.stop_all()` ends them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from bench.network import free_port, healthz_ok

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
DAPHNE = Path(sys.executable).with_name("daphne")
# A cold daphne imports Django, DRF and Channels in 2-4 s on a loaded 2-core machine.
STARTUP_SECONDS = 30.0
# Time a process gets to exit after SIGTERM before it is killed.
STOP_SECONDS = 10.0
WORKER_READY_LINE = "expiry worker ready"


def database_url(settings_dict: dict | None = None) -> str:
    """The DATABASE_URL of the database this process uses now (the test database under pytest)."""
    db = settings_dict or connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    if db["ENGINE"] != "django.db.backends.mysql":
        raise ValueError(f"no DATABASE_URL for engine {db['ENGINE']}")
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 3306
    return f"mysql://{credentials}{host}:{port}/{db['NAME']}"


def subprocess_env(**overrides: str) -> dict[str, str]:
    """The environment a server process needs to share this test's database, Redis and prefixes."""
    layer = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "examsite.settings",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CHANNEL_LAYER_URL": settings.CHANNEL_LAYER_URL,
        "TIMER_KEY_PREFIX": settings.TIMER_KEY_PREFIX,
        "CHANNEL_LAYER_PREFIX": layer["prefix"],
        "SECRET_KEY": settings.SECRET_KEY,
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
        "DEBUG": "1",
    }
    if settings.REDIS_CLUSTER_NODES:  # timers on a Redis Cluster (tests/scale)
        env["REDIS_CLUSTER_NODES"] = ",".join(settings.REDIS_CLUSTER_NODES)
    cache = settings.CACHES.get("default", {})
    if "LOCATION" in cache:
        env["CACHE_URL"] = cache["LOCATION"]
        env["CACHE_KEY_PREFIX"] = cache.get("KEY_PREFIX", "")
    env.update(overrides)
    return env


@dataclass
class ServerProcess:
    """One running web process or worker, with its log file."""

    name: str
    kind: str  # "web" or "worker"
    process: subprocess.Popen
    log_path: Path
    port: int | None = None
    _log_file: object = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port> of a web process."""
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str) -> str:
        """ws://127.0.0.1:<port><path> of a web process."""
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def origin(self) -> str:
        """An Origin header the web process accepts."""
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_lines(self, pattern: str) -> list[str]:
        """Lines of the log that match the regular expression `pattern`."""
        regex = re.compile(pattern)
        return [line for line in self.log().splitlines() if regex.search(line)]

    def tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the log, under a header naming the process."""
        text = "\n".join(self.log().splitlines()[-lines:])
        state = "running" if self.alive() else f"exited with {self.process.returncode}"
        return f"----- {self.name} ({self.kind}, {state}) {self.log_path} -----\n{text}"

    def kill(self) -> int | None:
        """SIGKILL, as a crash or the OOM killer ends a process: no cleanup of any kind; returns the exit code."""
        if self.alive():
            self.process.kill()
            self.process.wait(timeout=STOP_SECONDS)
        return self.process.returncode

    def stop(self, timeout: float = STOP_SECONDS) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return self.process.returncode


class Cluster:
    """Web processes and expiry workers of one test; `stop_all` ends every one of them."""

    def __init__(self, *, artifacts_dir: Path, env: dict[str, str] | None = None) -> None:
        self.artifacts_dir = artifacts_dir
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.webs: list[ServerProcess] = []
        self.workers: list[ServerProcess] = []

    def _spawn(self, name: str, kind: str, argv: list[str], env_overrides: dict[str, str], port=None):
        log_path = self.artifacts_dir / f"{name}.log"
        log_file = log_path.open("w")
        env = {**(self.env or subprocess_env()), **env_overrides}
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        server = ServerProcess(name=name, kind=kind, process=process, log_path=log_path, port=port)
        server._log_file = log_file
        (self.webs if kind == "web" else self.workers).append(server)
        return server

    def start_web(
        self, *, name: str | None = None, env: dict[str, str] | None = None, port: int | None = None
    ) -> ServerProcess:
        """Start one daphne process on `port` (default: a free one); returns once its /healthz answers 200."""
        server = self._spawn_web(name=name, env=env, port=port)
        self._wait_web(server)
        return server

    def start_worker(
        self, *, name: str | None = None, args: tuple[str, ...] = (), env: dict[str, str] | None = None
    ) -> ServerProcess:
        """Start one `manage.py expiry_worker`; returns once it has logged that it is ready."""
        server = self._spawn_worker(name=name, args=args, env=env)
        self._wait_worker(server)
        return server

    def start_webs(self, count: int) -> list[ServerProcess]:
        """Start `count` web processes at once; returns when every one answers /healthz."""
        servers = [self._spawn_web() for _ in range(count)]
        for server in servers:
            self._wait_web(server)
        return servers

    def start_workers(self, count: int, *, args: tuple[str, ...] = ()) -> list[ServerProcess]:
        """Start `count` expiry workers at once; returns when every one is ready."""
        servers = [self._spawn_worker(args=args) for _ in range(count)]
        for server in servers:
            self._wait_worker(server)
        return servers

    def _spawn_web(
        self, *, name: str | None = None, env: dict[str, str] | None = None, port: int | None = None
    ) -> ServerProcess:
        port = port or free_port()
        name = name or f"web{len(self.webs) + 1}"
        argv = [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "examsite.asgi:application"]
        return self._spawn(name, "web", argv, env or {}, port=port)

    def _spawn_worker(self, *, name=None, args: tuple[str, ...] = (), env: dict[str, str] | None = None):
        name = name or f"worker{len(self.workers) + 1}"
        argv = [sys.executable, "manage.py", "expiry_worker", *args]
        return self._spawn(name, "worker", argv, env or {})

    def _wait_web(self, server: ServerProcess) -> None:
        self._wait(server, lambda: healthz_ok(server.base_url), "/healthz to answer 200")

    def _wait_worker(self, server: ServerProcess) -> None:
        self._wait(server, lambda: WORKER_READY_LINE in server.log(), f"'{WORKER_READY_LINE}' in its log")

    def _wait(self, server: ServerProcess, ready, what: str) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not ready():
            if not server.alive():
                raise AssertionError(f"{server.name} exited with {server.process.returncode}\n{server.tail()}")
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{server.name}: timed out after {STARTUP_SECONDS} s waiting for {what}\n{server.tail()}"
                )
            time.sleep(0.1)

    def expiry_lines(self) -> list[str]:
        """Every 'expired attempt=...' line of every worker."""
        return [line for worker in self.workers for line in worker.log_lines(r"expired attempt=\d+")]

    def tails(self, lines: int = 40) -> str:
        """The last lines of every process's log."""
        return "\n".join(server.tail(lines) for server in [*self.webs, *self.workers])

    def stop_all(self) -> None:
        """Stop every process of this cluster."""
        for server in [*self.webs, *self.workers]:
            server.stop()
