"""Timeout latency: attempts run out, connected or not, spread out or on one shared deadline."""

from __future__ import annotations

import math
import random
import time

from bench import seed
from bench.dbwatch import TimeoutWatch
from bench.phases.harness import FAR_SECONDS, Bench, tokens_for, unlink_timers
from bench.stats import summary
from tests.e2e.servers import ServerProcess

# Time given to the sockets of a timeout phase to connect before the first deadline
# (measured: 10,000 sockets connect in ~60 s here; 200 in ~1 s).
CONNECT_LEAD_SECONDS = 5.0
CONNECT_SECONDS_PER_SOCKET = 0.009


def timeouts(
    bench: Bench,
    web: ServerProcess | None,
    count: int,
    *,
    spread: float,
    label: str,
    filler: int = 0,
    connect_seconds_per_socket: float = CONNECT_SECONDS_PER_SOCKET,
):
    """`count` attempts run out (over `spread` s, 0: all at one moment): deadline -> DB `timeout`, -> frame."""
    connected = web is not None
    bench.log(f"timeouts[{label}]: {count} attempts, spread {spread:.0f} s, connected={connected}, filler={filler}")
    filler_ids = seed.filler_timers(filler, FAR_SECONDS) if filler else []
    # Deadlines set before the sockets open, far enough ahead for all of them to connect: a
    # socket caches its attempt's deadline, as it would in an exam (moving deadlines afterwards
    # sent the ticker down its "deadline moved" path, one attempt at a time).
    first = time.time() + CONNECT_LEAD_SECONDS + (count * connect_seconds_per_socket if connected else 0)
    if spread:
        deadlines = [first + random.uniform(0, spread) for _ in range(count)]
    else:
        deadlines = [math.floor(first) + 0.5] * count  # mid-second: neither helped nor hurt by the ticker's slot
    exam_id, attempt_ids, user_ids = bench.seeded(f"timeouts {label}", count, deadlines)
    loadgens = []
    try:
        if connected:
            far = [0.0] * count  # ticks are not measured here
            loadgens = bench.connect(web, list(zip(attempt_ids, tokens_for(user_ids), far, strict=True)), f"to-{label}")
            if time.time() > min(deadlines) - 1:
                bench.log("  WARNING: sockets connected less than 1 s before the first deadline")
        last = max(deadlines)
        watch = TimeoutWatch(attempt_ids, max_seconds=last - time.time() + 60).start()
        bench.log(f"  deadlines between +{min(deadlines) - time.time():.1f} s and +{last - time.time():.1f} s")
        watch.wait()
        window_start, window_end = min(deadlines), time.time()
        if connected:
            # Frames follow the commit: wait until the server closed every socket, bounded.
            bound = time.monotonic() + 60
            for loadgen in loadgens:
                loadgen.all_closed.wait(max(0.0, bound - time.monotonic()))
        got = bench.collect(loadgens) if loadgens else {"ends": {}, "closes": {}, "connect_errors": 0}
        window = bench.monitor.window(window_start - 1, window_end)
    finally:
        for loadgen in loadgens:
            loadgen.stop()
        bench.drop_exam(exam_id)
        if filler_ids:
            unlink_timers(filler_ids)
    deadline_of = dict(zip(attempt_ids, deadlines, strict=True))
    db_late = [watch.seen[a] - deadline_of[a] for a in attempt_ids if a in watch.seen]
    frame_late = [
        got["ends"][str(a)][1] - deadline_of[a]
        for a in attempt_ids
        if str(a) in got["ends"] and got["ends"][str(a)][0] == "timeout"
    ]
    return {
        "label": label,
        "count": count,
        "connected": connected,
        "filler": filler,
        "spread": spread,
        "db": summary(db_late),
        "db_missing": count - len(db_late),
        "frame": summary(frame_late) if connected else None,
        "frame_missing": count - len(frame_late) if connected else None,
        "connect_errors": got["connect_errors"],
        "cpu": window["cpu"],
        "db_samples": db_late,
        "frame_samples": frame_late,
    }
