"""A real Redis Cluster for a test: `redis-server --cluster-enabled yes` processes on free loopback ports,
joined by `redis-cli --cluster create`, keeping nothing on disk.

Each node also needs its cluster bus port (its port + 10000) free, so ports are picked in pairs.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
from contextlib import closing
from pathlib import Path

import redis

from tests.helpers import wait_until

HOST = "127.0.0.1"
BUS_OFFSET = 10000  # Redis Cluster's bus listens on port + 10000
STARTUP_SECONDS = 20.0  # a cluster of six on a loaded 2-core machine forms in a few seconds; this bounds a failure
# How long a node may be unreachable before the others mark it failed and its replica takes over
# (Redis's default is 15 s; a test wants the failover quick).
NODE_TIMEOUT_MS = 1000


def _port_free(port: int) -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _free_port_pair() -> int:
    for _ in range(1000):
        port = random.randint(20000, 45000)
        if _port_free(port) and _port_free(port + BUS_OFFSET):
            return port
    raise AssertionError("no free port pair for a Redis Cluster node")


class RedisClusterNodes:
    """`primaries` primaries with `replicas` replicas each; `names` lists `host:port` of every node."""

    def __init__(self, *, primaries: int = 3, replicas: int = 0, notify_keyspace_events: str = "") -> None:
        self.count = primaries * (1 + replicas)
        self.replicas = replicas
        self.notify_keyspace_events = notify_keyspace_events
        self.ports: list[int] = []
        self.processes: dict[int, subprocess.Popen] = {}
        self._dir: tempfile.TemporaryDirectory | None = None

    @property
    def names(self) -> list[str]:
        return [f"{HOST}:{port}" for port in self.ports]

    def client(self, name: str) -> redis.Redis:
        """A plain client of one node (CONFIG, INFO, CLUSTER ... of that node alone)."""
        host, _, port = name.rpartition(":")
        return redis.Redis(host=host, port=int(port), decode_responses=True, socket_timeout=5)

    def start(self) -> RedisClusterNodes:
        binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if binary is None or cli is None:
            raise AssertionError("redis-server and redis-cli are needed (Debian: apt-get install redis-server)")
        self._dir = tempfile.TemporaryDirectory(prefix="test-redis-cluster-")
        for _ in range(self.count):
            port = _free_port_pair()
            while port in self.ports:
                port = _free_port_pair()
            self.ports.append(port)
            self.processes[port] = subprocess.Popen(
                [
                    binary,
                    "--port", str(port),
                    "--bind", HOST,
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", str(Path(self._dir.name) / f"nodes-{port}.conf"),
                    "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                    "--save", "",
                    "--appendonly", "no",
                    "--notify-keyspace-events", self.notify_keyspace_events,
                    "--dir", self._dir.name,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        for name in self.names:
            wait_until(lambda name=name: self._answers(name), timeout=STARTUP_SECONDS, what=f"redis-server {name}")
        created = subprocess.run(
            [cli, "--cluster", "create", *self.names, "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=STARTUP_SECONDS * 3,
        )
        if created.returncode != 0:
            raise AssertionError(f"redis-cli --cluster create failed:\n{created.stdout}\n{created.stderr}")
        wait_until(self._formed, timeout=STARTUP_SECONDS, interval=0.1, what="the cluster to be ok on every node")
        return self

    def _answers(self, name: str) -> bool:
        port = int(name.rpartition(":")[2])
        if self.processes[port].poll() is not None:
            raise AssertionError(f"redis-server {name} exited with {self.processes[port].returncode}")
        try:
            return bool(self.client(name).ping())
        except redis.ConnectionError:
            return False

    def _formed(self) -> bool:
        for name in self.alive_names():
            info = self.client(name).cluster("info")
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != self.count:
                return False
            role = self.client(name).info("replication")
            if role["role"] == "slave" and role.get("master_link_status") != "up":
                return False
        return True

    def alive_names(self) -> list[str]:
        return [f"{HOST}:{port}" for port, process in self.processes.items() if process.poll() is None]

    def primaries(self) -> list[str]:
        """host:port of the nodes that own slots now, as a live node sees it."""
        slots = self.client(self.alive_names()[0]).execute_command("CLUSTER SLOTS")
        return sorted({f"{entry[2][0]}:{entry[2][1]}" for entry in slots})

    def replica_of(self, primary: str) -> str:
        """host:port of a replica of `primary` (by its own replication info)."""
        host, _, port = primary.rpartition(":")
        for name in self.alive_names():
            info = self.client(name).info("replication")
            if info["role"] == "slave" and (info["master_host"], str(info["master_port"])) == (host, port):
                return name
        raise AssertionError(f"{primary} has no replica")

    def kill(self, name: str) -> None:
        """SIGKILL one node, as a crash does."""
        process = self.processes[int(name.rpartition(":")[2])]
        process.kill()
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
