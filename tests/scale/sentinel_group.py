"""A Redis Sentinel deployment of real processes on free loopback ports: a primary, a replica, three sentinels.

The replica starts with expired-key events off, as a replica's own config often has them: once promoted,
only the expiry worker's CONFIG SET on the new primary turns them on (CONFIG SET is not replicated).
Nothing is kept on disk but each sentinel's config file, which Sentinel rewrites as it learns.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.network import free_port
from tests.helpers import wait_until

MASTER = "examtimer"
# Sentinel's own timing: the primary counts as down after 1 s without an answer; a failover that
# stalls is given up (and tried again) after 5 s.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
STARTUP_SECONDS = 30.0  # sentinels find each other through hello messages every 2 s; this bounds a failure


def _binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise AssertionError("redis-server is not installed (Debian: apt-get install redis-server)")
    return binary


@dataclass
class Node:
    port: int
    process: subprocess.Popen
    password: str | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.port, db=db, password=self.password, decode_responses=True, socket_timeout=2)

    def alive(self) -> bool:
        return self.process.poll() is None


class SentinelGroup:
    """Start with `start()`, end with `stop()`; `kill_primary()` is the fault."""

    def __init__(self, *, password: str = "", sentinel_password: str = "") -> None:
        """`password`: the data servers' requirepass; `sentinel_password`: the sentinels' own."""
        self.password = password
        self.sentinel_password = sentinel_password
        self._dir = Path(tempfile.mkdtemp(prefix="test-sentinel-"))
        self.primary: Node | None = None
        self.replica: Node | None = None
        self.sentinels: list[Node] = []

    @property
    def sentinel_addresses(self) -> str:
        """REDIS_SENTINELS for this group."""
        return ",".join(node.address for node in self.sentinels)

    def _redis(self, port: int, *extra: str) -> Node:
        argv = [
            _binary(),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._dir),
            "--dbfilename", f"dump-{port}.rdb",
            # A replica's first sync straight over the socket, at once: no RDB file, no 5 s delay.
            "--repl-diskless-sync", "yes",
            "--repl-diskless-sync-delay", "0",
            *(("--requirepass", self.password, "--masterauth", self.password) if self.password else ()),
            *extra,
        ]  # fmt: skip
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        node = Node(port, process, self.password or None)
        wait_until(lambda: self._answers(node), timeout=STARTUP_SECONDS, what=f"redis-server on {node.address}")
        return node

    def _sentinel(self, port: int, primary_port: int) -> Node:
        config = self._dir / f"sentinel-{port}.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self._dir}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER} 1\n"
            + (f"sentinel auth-pass {MASTER} {self.password}\n" if self.password else "")
            # The sentinels' own password; they use it with each other too.
            + (f"requirepass {self.sentinel_password}\n" if self.sentinel_password else "")
        )
        argv = [_binary(), str(config), "--sentinel"]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        node = Node(port, process, self.sentinel_password or None)
        wait_until(lambda: self._answers(node), timeout=STARTUP_SECONDS, what=f"sentinel on {node.address}")
        return node

    @staticmethod
    def _answers(node: Node) -> bool:
        if not node.alive():
            raise AssertionError(f"redis-server on {node.address} exited with {node.process.returncode}")
        try:
            return bool(node.client().ping())
        except redis.ConnectionError:
            return False

    def start(self) -> SentinelGroup:
        self.primary = self._redis(free_port(), "--notify-keyspace-events", "Ex")
        self.replica = self._redis(
            free_port(), "--notify-keyspace-events", "", "--replicaof", "127.0.0.1", str(self.primary.port)
        )
        wait_until(self._replica_in_sync, timeout=STARTUP_SECONDS, what="the replica's first sync")
        self.sentinels = [self._sentinel(free_port(), self.primary.port) for _ in range(3)]
        wait_until(self._sentinels_ready, timeout=STARTUP_SECONDS, what="three sentinels that know the replica")
        return self

    def _replica_in_sync(self) -> bool:
        return self.replica.client().info("replication").get("master_link_status") == "up"

    def _sentinels_ready(self) -> bool:
        # A failover needs a quorum that knows of each other and of a replica to promote.
        for sentinel in self.sentinels:
            client = sentinel.client()
            if len(client.sentinel_sentinels(MASTER)) < 2 or not client.sentinel_slaves(MASTER):
                return False
        return True

    def named_primary(self) -> str | None:
        """host:port that every sentinel names as the primary now, or None while they disagree or cannot say."""
        named = set()
        for sentinel in self.sentinels:
            try:
                host, port = sentinel.client().sentinel_get_master_addr_by_name(MASTER)
            except (redis.RedisError, TypeError):
                return None
            named.add(f"{host}:{port}")
        return named.pop() if len(named) == 1 else None

    def kill_primary(self) -> float:
        """SIGKILL the primary (no shutdown of any kind); returns the Unix time it died."""
        self.primary.process.kill()
        self.primary.process.wait(timeout=10)
        return time.time()

    def wait_for_failover(self, *, timeout: float) -> float:
        """Wait until every sentinel names the replica and the replica has become a primary; the Unix time."""

        def promoted() -> bool:
            if self.named_primary() != self.replica.address:
                return False
            return self.replica.client().info("replication").get("role") == "master"

        wait_until(promoted, timeout=timeout, interval=0.02, what=f"a failover to {self.replica.address}")
        return time.time()

    def stop(self) -> None:
        for node in [*self.sentinels, self.replica, self.primary]:
            if node is not None and node.alive():
                node.process.terminate()
                try:
                    node.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait(timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)
