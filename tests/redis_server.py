"""The one private, throwaway `redis-server` runner, on a free port: for tests that flush, stop or misconfigure Redis.

The shared Redis (DBs 0-2) serves every engineer's tests at once: it is never flushed or
stopped. A test that needs to do so points `settings.REDIS_URL` at a server of its own.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from bench.network import free_port
from tests.helpers import wait_until

STARTUP_SECONDS = 10.0  # a cold redis-server answers in well under a second; this only bounds a failure
TIMER_DB = 1  # timers live in database 1, as the settings put them on the shared server
# Arguments of a server whose CONFIG command is gone, as on managed Redis that forbids it.
CONFIG_FORBIDDEN = ("--rename-command", "CONFIG", "")


class PrivateRedis:
    """One redis-server process of this test alone, keeping nothing on disk."""

    def __init__(self, *, notify_keyspace_events: str = "Ex", extra_args: tuple[str, ...] = ()):
        self.notify_keyspace_events = notify_keyspace_events
        self.extra_args = extra_args
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    def url(self, db: int = TIMER_DB) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = TIMER_DB) -> redis.Redis:
        return redis.Redis.from_url(self.url(db), decode_responses=True, socket_timeout=5)

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"redis-server on port {self.port} exited with {self.process.returncode}")
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False

    def start(self, *, port: int | None = None) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise AssertionError("redis-server is not installed (Debian: apt-get install redis-server)")
        self._dir = tempfile.TemporaryDirectory(prefix="test-redis-")
        self.port = port or free_port()
        self.process = subprocess.Popen(
            [
                binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--notify-keyspace-events", self.notify_keyspace_events,
                "--dir", self._dir.name,
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._answers, timeout=STARTUP_SECONDS, what=f"redis-server on port {self.port}")
        return self

    def restart(self, *, notify_keyspace_events: str | None = None) -> PrivateRedis:
        """Stop and start again on the same port, empty, as a Redis that keeps nothing on disk comes back;
        any CONFIG SET is lost too, and `notify_keyspace_events` (if given) replaces the flags it starts with."""
        if notify_keyspace_events is not None:
            self.notify_keyspace_events = notify_keyspace_events
        port = self.port
        self.stop()
        return self.start(port=port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=STARTUP_SECONDS)
        self.process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


@contextmanager
def running_redis(*, notify_keyspace_events: str = "Ex", extra_args: tuple[str, ...] = ()) -> Iterator[PrivateRedis]:
    """A private redis-server while the block runs, for processes the test starts; settings untouched."""
    server = PrivateRedis(notify_keyspace_events=notify_keyspace_events, extra_args=extra_args).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def private_redis(
    settings, *, notify_keyspace_events: str = "Ex", extra_args: tuple[str, ...] = ()
) -> Iterator[PrivateRedis]:
    """Timers on a private redis-server while the block runs; the shared one again afterwards."""
    with running_redis(notify_keyspace_events=notify_keyspace_events, extra_args=extra_args) as server:
        previous = settings.REDIS_URL
        settings.REDIS_URL = server.url()
        try:
            yield server
        finally:
            # Restored here, not by the settings fixture: the timer-prefix fixture cleans up on the
            # shared server before the settings fixture undoes anything.
            settings.REDIS_URL = previous


@contextmanager
def unreachable_redis(settings) -> Iterator[str]:
    """Timers pointed at a port where nothing listens while the block runs."""
    previous = settings.REDIS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/{TIMER_DB}"
    try:
        yield settings.REDIS_URL
    finally:
        settings.REDIS_URL = previous
