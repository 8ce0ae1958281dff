"""The expiry worker: expired-key notifications, a sweep of due deadlines, restore of lost timers.

Three paths lead to `services.attempt_expire`, which is idempotent, so any number of
workers may run: the notification path is prompt when Redis deletes a key on time; the
sweep (at the next deadline in the database, and at least every SWEEP_INTERVAL) catches
what Redis announces late or while nobody listened; the restorer writes back timers Redis
lost. Each part survives outages of Redis and the
database on its own: it logs, waits a little, and tries again.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import DatabaseError, InterfaceError, close_old_connections

from attempts import timer
from attempts.expiry import notifications, restorer, sweeper
from attempts.expiry.batches import expire_each
from attempts.expiry.listener import ExpiredKeyListener
from attempts.expiry.presence_reaper import PresenceReaper

logger = logging.getLogger("attempts.expiry")

# "At least once a second" with room to spare: the query is one range scan of attempt_due_idx.
SWEEP_INTERVAL = 0.5
# Wake just after a deadline, not a hair before it: attempt_expire wants deadline_at <= now.
DEADLINE_MARGIN_SECONDS = 0.005
# Lost timers are rare (Redis restart or flush); a restart is caught at once through run_id.
RESTORE_INTERVAL = 15.0
# Notifications handled per round: the rest wait in the socket buffer for the next round.
NOTIFICATION_BATCH = 500
# What an outage of Redis or the database raises; anything else is logged with its traceback.
OUTAGE_ERRORS = (DatabaseError, InterfaceError, timer.TimerUnavailable, *timer.REDIS_ERRORS, OSError)
# Longest wait for notifications before looking at the stop flag again.
STOP_CHECK_SECONDS = 0.5
# Longest wait between two attempts to reach a Redis that is down.
MAX_BACKOFF_SECONDS = 5.0
# On a cluster, how often the worker asks who the primaries are: a failover is followed within this
# (plus the cluster's own failure detection), and the sweep covers the events lost meanwhile.
TOPOLOGY_CHECK_SECONDS = 1.0


class ExpiryWorker:
    """One expiry worker; `run` loops until `stop` is set."""

    def __init__(
        self,
        *,
        stop: threading.Event | None = None,
        sweep_interval: float = SWEEP_INTERVAL,
        restore_interval: float = RESTORE_INTERVAL,
        follow_deadlines: bool = True,
    ) -> None:
        """`follow_deadlines=False` sweeps on the interval only (tests of the notification path use it)."""
        self.stop = stop or threading.Event()
        self.follow_deadlines = follow_deadlines
        self.sweep_interval = sweep_interval
        self.restore_interval = restore_interval
        self._listener = ExpiredKeyListener()
        self._next_sweep = 0.0
        self._next_restore = 0.0
        self._next_connect = 0.0
        self._backoff = 0.5
        self._run_id: str | None = None
        self._next_topology = 0.0
        self._notifications_ok = True
        self._subscribed_before = False

    def start_up(self) -> bool:
        """Wait for Redis, then make sure it sends expired-key events; False if stopped first.

        Raises NotificationsUnavailable when the events are off and cannot be turned on.
        """
        backoff = 0.5
        while not self.stop.is_set():
            try:
                how = notifications.ensure_expired_events()
            except (timer.TimerUnavailable, *timer.REDIS_ERRORS) as exc:
                logger.warning(
                    "Redis at %s unreachable at start-up (%s); retrying in %.1f s", timer.node(), exc, backoff
                )
                self.stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            logger.info("expired-key events: %s; channel %s", how, timer.expired_channel())
            # Known from here on: a restart after this point is seen as a change of run_id.
            self._run_id = self._guarded("start-up", restorer.redis_run_id)
            return True
        return False

    def run(self) -> None:
        """Start up, then listen, sweep and restore until stopped."""
        if not self.start_up():
            return
        self._connect_listener()
        reaper = PresenceReaper(stop=self.stop)
        reaper.start()
        logger.info(
            "expiry worker ready: sweep every %.2f s, restore every %.0f s", self.sweep_interval, self.restore_interval
        )
        try:
            while not self.stop.is_set():
                self.run_once()
        finally:
            self.stop.set()
            reaper.join(timeout=5)
            self._listener.close()
            close_old_connections()
            logger.info("expiry worker stopped")

    def run_once(self) -> None:
        """One round: wait for notifications until the next sweep is due, then sweep and restore if due."""
        wait = min(self._next_sweep - time.monotonic(), self.sweep_interval, STOP_CHECK_SECONDS)
        self._listen(timeout=max(0.0, wait))
        self._follow_topology_if_due()
        if time.monotonic() >= self._next_sweep:
            self._sweep()
        self._restore_if_due()

    def _listen(self, *, timeout: float) -> None:
        if not self._listener.connected:
            if time.monotonic() >= self._next_connect:
                self._connect_listener()
            if not self._listener.connected:
                self.stop.wait(timeout)
                return
        try:
            ids = self._listener.receive(timeout=timeout, limit=NOTIFICATION_BATCH)
        except (*timer.REDIS_ERRORS, OSError) as exc:
            logger.warning("lost the expired-key subscription (%s); the sweep carries on", exc)
            self._listener.close()
            self._next_connect = time.monotonic() + self._backoff
            return
        if ids:
            self._guarded("notification", lambda: expire_each(sweeper.ongoing_due_among(ids), path="notification"))

    def _connect_listener(self) -> None:
        try:
            self._listener.connect()
        except (*timer.REDIS_ERRORS, OSError) as exc:
            logger.warning("cannot subscribe to expired-key events (%s); retrying in %.1f s", exc, self._backoff)
            self._next_connect = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_SECONDS)
            return
        self._backoff = 0.5
        logger.info("subscribed to expired-key events at %s", self._listener.node)
        # Events sent while we were not subscribed are gone, and Redis may have restarted or failed
        # over (losing keys, and the CONFIG SET of notify-keyspace-events, which is not replicated).
        self._next_sweep = 0.0
        self._next_restore = 0.0
        if self._subscribed_before:
            self._guarded("notifications check", self._recheck_notifications)
        self._subscribed_before = True

    def _follow_topology_if_due(self) -> None:
        if not timer.on_cluster() or time.monotonic() < self._next_topology:
            return
        self._next_topology = time.monotonic() + TOPOLOGY_CHECK_SECONDS
        changed = self._guarded("cluster topology", timer.refresh_topology)
        if self._listener.connected:
            try:
                changed = self._listener.follow_topology() or changed
            except (*timer.REDIS_ERRORS, OSError) as exc:  # a primary down, not yet replaced: again in a second
                logger.warning("cannot subscribe on every cluster primary (%s); the sweep carries on", exc)
        if changed:
            logger.warning("cluster primaries changed: listening on %s", ", ".join(self._listener.subscribed_nodes()))
            # Events of the failed primary's keys may be lost, and the new primary's flags may be off.
            self._next_sweep = 0.0
            self._guarded("notifications check", self._recheck_notifications)

    def _sweep(self) -> None:
        more = self._guarded("sweep", lambda: sweeper.sweep()[1])
        wait = self.sweep_interval
        if more:
            wait = 0.0  # a backlog (mass timeout) is worked off round after round, between notifications
        elif self.follow_deadlines:
            # Wake at the next deadline itself: no notification needed, however late Redis is.
            upcoming = self._guarded("sweep", sweeper.seconds_to_next_deadline)
            if upcoming is not None:
                wait = min(wait, upcoming + DEADLINE_MARGIN_SECONDS)
        self._next_sweep = time.monotonic() + wait

    def _restore_if_due(self) -> None:
        run_id = self._guarded("restore", restorer.redis_run_id)
        now = time.monotonic()
        if run_id is not None and run_id != self._run_id:
            previous, self._run_id = self._run_id, run_id
            if previous is not None:
                logger.warning(
                    "Redis at %s is a new server (run_id %s -> %s: restart or failover): restoring timers",
                    timer.node(),
                    previous,
                    run_id,
                )
                # Under Sentinel the subscription may still be on the old primary (demoted, sending nothing):
                # subscribe again, to the server of this run_id; that also checks its flags and sweeps.
                self._listener.close()
                self._connect_listener()
                if not self._listener.connected:
                    self._guarded("notifications check", self._recheck_notifications)
            self._next_restore = 0.0
        if now < self._next_restore:
            return
        self._next_restore = now + self.restore_interval
        if not self._notifications_ok:
            self._guarded("notifications check", self._recheck_notifications)
        self._guarded("restore", restorer.restore_lost_timers)

    def _recheck_notifications(self) -> None:
        # A restarted Redis forgets CONFIG SET unless it was written to its config file.
        try:
            notifications.ensure_expired_events()
            self._notifications_ok = True
        except notifications.NotificationsUnavailable as exc:
            self._notifications_ok = False
            logger.error("%s Until then timeouts come from the sweep only.", exc)

    def _guarded(self, what: str, action):
        """Run one part of a round; an outage is logged and the round goes on."""
        try:
            return action()
        except OUTAGE_ERRORS as exc:
            logger.warning("%s failed: %s: %s", what, exc.__class__.__name__, exc)
            return None
        except Exception:  # a bug must not stop every timeout: log it loudly and go on
            logger.exception("%s failed", what)
            return None
        finally:
            # Lets a restarted database be reconnected instead of "server has gone away".
            close_old_connections()
