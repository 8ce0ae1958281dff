"""Expiring attempts one by one through the idempotent service, with one log line for each."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from attempts import services

logger = logging.getLogger("realtime.expiry")


def expire_each(rows: Iterable[tuple[int, datetime]], *, path: str) -> int:
    """Expire each (attempt id, deadline); logs and counts only the ones this process won."""
    won = 0
    for attempt_id, deadline_at in rows:
        # One transaction per attempt: a mass timeout never holds thousands of row locks,
        # and each attempt's events go out as soon as its own commit is done.
        if services.attempt_expire(attempt_id=attempt_id):
            won += 1
            late_ms = round((timezone.now() - deadline_at).total_seconds() * 1000)
            logger.info("expired attempt=%d late_ms=%d path=%s", attempt_id, late_ms, path)
    return won
