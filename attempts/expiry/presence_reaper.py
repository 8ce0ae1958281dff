"""The expiry worker's presence thread: sockets of dead server processes count as gone within 3 s.

Every REAP_INTERVAL it removes from the registry the processes that stopped beating
(`presence.reap_dead`, atomic: with two workers, one reaps each process) and settles the
attempts they leave with no socket, as offline since the dead process's last beat. Every
RECHECK_INTERVAL it also settles the ongoing attempts whose stored presence differs from the
registry: a settle that failed while the database was down, a process that died before it
settled. (A registry that no longer matches the sockets is repaired by the server processes
themselves: each checks on every heartbeat that the registry lists what it holds.)
Its own thread, so that a mass timeout in the main loop does not delay it.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import DatabaseError, InterfaceError, close_old_connections

from attempts import presence
from attempts.services.presence import mismatched, settle

logger = logging.getLogger("attempts.expiry")

# Dead after DEAD_AFTER_SECONDS without a beat, seen within this, settled in tens of ms: < 3 s.
REAP_INTERVAL = 0.25
RECHECK_INTERVAL = 5.0
OUTAGES = (DatabaseError, InterfaceError, presence.PresenceUnavailable, OSError)


class PresenceReaper:
    def __init__(self, *, stop: threading.Event) -> None:
        self.stop = stop
        self._unsettled: dict[int, int] = {}  # reaped attempts whose settle failed -> last beat (Unix ms)
        self._next_recheck = time.monotonic() + RECHECK_INTERVAL
        self._thread = threading.Thread(target=self._run, name="presence-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self.stop.wait(REAP_INTERVAL):
                self._guarded("presence reap", self.reap)
                if time.monotonic() >= self._next_recheck:
                    self._next_recheck = time.monotonic() + RECHECK_INTERVAL
                    self._guarded("presence recheck", self.recheck)
        finally:
            close_old_connections()

    def reap(self) -> None:
        """One round: reap dead processes, settle what they left (and what failed to settle before)."""
        self._unsettled.update(presence.reap_dead())
        if self._unsettled:
            settled = settle(self._unsettled, gone_at=self._unsettled)
            if settled.changed:
                logger.info("presence: %d attempts lost their last socket with a dead process", len(settled.changed))
            self._unsettled = {pk: self._unsettled[pk] for pk in settled.busy}  # the next round tries them again

    def recheck(self) -> None:
        """Settle what differs from the registry, except what this thread reaped and still has to settle
        (settled here as offline since the dead process's last beat, not since now)."""
        settle([pk for pk in mismatched() if pk not in self._unsettled])

    def _guarded(self, what: str, action) -> None:
        try:
            action()
        except OUTAGES as exc:
            logger.warning("%s failed: %s: %s", what, exc.__class__.__name__, exc)
        except Exception:
            logger.exception("%s failed", what)
        finally:
            close_old_connections()
