"""`python manage.py expiry_worker`: marks attempts timed out when their time runs out."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from attempts import events
from attempts.expiry.notifications import NotificationsUnavailable
from attempts.expiry.worker import RESTORE_INTERVAL, SWEEP_INTERVAL, ExpiryWorker

FLUSH_SECONDS = 5.0  # what the last batches announced, sent before the process ends (not an outage waited out)


class Command(BaseCommand):
    help = (
        "Listen to Redis expired-key events, sweep for due deadlines and restore lost timers; "
        "any number may run at once. Stops cleanly on SIGINT/SIGTERM."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--sweep-interval", type=float, default=SWEEP_INTERVAL, help="seconds between sweeps (at most 1)"
        )
        parser.add_argument(
            "--restore-interval", type=float, default=RESTORE_INTERVAL, help="seconds between lost-timer checks"
        )

    def handle(self, *args, sweep_interval: float, restore_interval: float, **options):
        if not 0 < sweep_interval <= 1:
            raise CommandError("--sweep-interval must be more than 0 and at most 1 second")
        if restore_interval <= 0:
            raise CommandError("--restore-interval must be more than 0")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        worker = ExpiryWorker(stop=stop, sweep_interval=sweep_interval, restore_interval=restore_interval)
        try:
            worker.run()
        except NotificationsUnavailable as exc:
            raise CommandError(str(exc)) from exc
        finally:
            # The last batches' ends still reach the sockets: drained here, while the interpreter
            # still runs (an atexit drain could not open a connection any more).
            if not events.flush(FLUSH_SECONDS):
                self.stderr.write(f"events not all published within {FLUSH_SECONDS:.0f} s of stopping")
