"""What a stopping daphne still owes the sockets: the outbox drained from daphne's own stop path.

An `atexit` drain (realtime/outbox.py) runs once the interpreter has begun to shut down, when
a pool that needs a new connection fails with "cannot schedule new futures after interpreter
shutdown". Twisted's "before shutdown" triggers run on SIGTERM/SIGINT while everything still
works: daphne's own (closing the applications) and this one.
"""

from __future__ import annotations

import logging
import sys

from attempts import events

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 5.0  # a mass timeout's events leave in well under a second; a layer outage is not waited out


def _drain() -> None:
    if not events.flush(DRAIN_SECONDS):
        logger.warning("events not all published within %.0f s of stopping", DRAIN_SECONDS)


def drain_before_daphne_stops() -> None:
    """Under daphne (its reactor is installed before the application is imported): drain on stop."""
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or "daphne.server" not in sys.modules:
        return  # another server, a management command or a test: atexit still drains
    reactor.addSystemEventTrigger("before", "shutdown", _drain)
