"""Samples the stack while a phase runs: CPU and RSS per process (psutil), Redis commands processed.

One background thread, one sample every INTERVAL seconds; a phase's numbers are read from
the samples inside its time window, so several measurements never need to coordinate.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psutil
import redis

INTERVAL = 0.5
# Bounds the sample list of a very long run (4 h at 2 samples a second).
MAX_SAMPLES = 30000


@dataclass
class Sample:
    at: float
    cpu: dict[str, float]  # process name -> user+system CPU seconds so far
    rss: dict[str, int]  # process name -> resident bytes
    redis_commands: int


@dataclass
class Monitor:
    redis_url: str
    processes: dict[str, psutil.Process] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._redis = redis.Redis.from_url(self.redis_url, socket_timeout=2)
        self._thread = threading.Thread(target=self._run, name="bench-monitor", daemon=True)

    def watch(self, name: str, pid: int) -> None:
        with self._lock:
            self.processes[name] = psutil.Process(pid)

    def unwatch(self, name: str) -> None:
        with self._lock:
            self.processes.pop(name, None)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def sample_now(self) -> Sample:
        cpu, rss = {}, {}
        with self._lock:
            processes = dict(self.processes)
        for name, process in processes.items():
            try:
                times = process.cpu_times()
                cpu[name] = times.user + times.system
                rss[name] = process.memory_info().rss
            except psutil.Error:
                continue
        try:
            commands = int(self._redis.info("stats")["total_commands_processed"])
        except redis.RedisError:
            commands = -1
        return Sample(at=time.time(), cpu=cpu, rss=rss, redis_commands=commands)

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.samples) < MAX_SAMPLES:
            sample = self.sample_now()
            with self._lock:
                self.samples.append(sample)
            self._stop.wait(INTERVAL)

    def window(self, start: float, end: float) -> dict:
        """CPU share (1.0 = one core) per process, Redis commands/s and last RSS, between `start` and `end`."""
        with self._lock:
            inside = [s for s in self.samples if start <= s.at <= end]
        if len(inside) < 2:
            return {"seconds": 0.0, "cpu": {}, "cpu_seconds": {}, "rss": {}, "redis_commands_per_second": None}
        first, last = inside[0], inside[-1]
        seconds = last.at - first.at
        cpu_seconds = {name: last.cpu[name] - first.cpu[name] for name in last.cpu if name in first.cpu}
        return {
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "cpu": {name: value / seconds for name, value in cpu_seconds.items()},
            "rss": dict(last.rss),
            "redis_commands_per_second": (last.redis_commands - first.redis_commands) / seconds,
        }
