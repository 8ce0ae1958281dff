"""When each attempt turns `timeout` in the database, seen by polling (resolution POLL_SECONDS)."""

from __future__ import annotations

import threading
import time

from django.db import connection

from attempts.models import Attempt

POLL_SECONDS = 0.05
IN_CHUNK = 5000


class TimeoutWatch:
    """Polls the pending attempts in a thread; `seen[attempt_id]` is the first time it read `timeout`."""

    def __init__(self, attempt_ids: list[int], max_seconds: float) -> None:
        self.pending = set(attempt_ids)
        self.seen: dict[int, float] = {}
        self.max_seconds = max_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-dbwatch", daemon=True)

    def start(self) -> TimeoutWatch:
        self._thread.start()
        return self

    def wait(self) -> None:
        """Until every attempt is seen or `max_seconds` passed."""
        self._thread.join(self.max_seconds + 10)
        self._stop.set()

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        try:
            while self.pending and time.monotonic() < end and not self._stop.is_set():
                ids = list(self.pending)
                for start in range(0, len(ids), IN_CHUNK):
                    done = Attempt.objects.filter(
                        pk__in=ids[start : start + IN_CHUNK], status=Attempt.Status.TIMEOUT
                    ).values_list("pk", flat=True)
                    now = time.time()
                    for attempt_id in done:
                        self.seen[attempt_id] = now
                        self.pending.discard(attempt_id)
                time.sleep(POLL_SECONDS)
        finally:
            connection.close()
