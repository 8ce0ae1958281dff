"""Holds an attempt's deadline open for the answers and submits the server received before it.

An answer or submit counts when the server received it before the deadline, however long it
then waits for a thread (`HTTP_CONCURRENCY`) or the row lock. The expiry worker and the ticker
would otherwise time the attempt out milliseconds after the deadline, while such a request
still waits, and it would be refused. So every answer and submit, as soon as its body has
arrived and before it is stamped (`examsite.arrival`), counts itself in the attempt's hold
(a Redis counter); expiry leaves a held attempt alone and the request releases its hold when
it has been answered. Taking the hold before the stamp means that a request stamped before
the deadline is always visible to an expiry that runs after it.
"""

from __future__ import annotations

import json
import logging

from django.urls import Resolver404, resolve

from attempts import timer
from examsite.arrival import read_body

logger = logging.getLogger(__name__)

SCOPE_KEY = "deadline_hold"  # the attempt id this request holds, if any
# Routes whose requests are judged against the deadline, and where their attempt id is.
_ATTEMPT_ID_IN_PATH = {"attempt-submit"}
_ATTEMPT_ID_IN_BODY = {"answer-submit"}


def attempt_id_of(scope, body: bytes) -> int | None:
    """The attempt an answer or submit is for; None for any other request or a malformed one."""
    if scope.get("method") != "POST":
        return None
    try:
        match = resolve(scope.get("path", ""))
    except Resolver404:
        return None
    raw = None
    if match.url_name in _ATTEMPT_ID_IN_PATH:
        raw = match.kwargs.get("attempt_id")
        raw = int(raw) if isinstance(raw, str) and raw.isascii() and raw.isdigit() else None
    elif match.url_name in _ATTEMPT_ID_IN_BODY:
        try:
            raw = json.loads(body).get("attempt_id")
        except (ValueError, AttributeError, UnicodeDecodeError):
            return None
    # Bad ids get their 400 from the view; they need no hold.
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw < 2**63 else None


class HoldDeadline:
    """ASGI middleware: reads the body, holds the attempt of an answer or submit, calls `app`, releases."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        body, replay = await read_body(receive)
        attempt_id = attempt_id_of(scope, body)
        if attempt_id is None:
            return await self.app(scope, replay, send)
        try:
            await timer.ahold(attempt_id)
        except timer.TimerUnavailable as exc:
            # Without Redis there is no timer to expire either: the sweep then works from the
            # database, and the row lock alone orders this request against it.
            logger.debug("no hold for attempt %s: %s", attempt_id, exc)
            return await self.app(scope, replay, send)
        try:
            return await self.app({**scope, SCOPE_KEY: attempt_id}, replay, send)
        finally:
            try:
                await timer.arelease(attempt_id)
            except timer.TimerUnavailable as exc:
                logger.warning("hold of attempt %s not released (%s); it lapses by itself", attempt_id, exc)


def holding(request) -> int | None:
    """The attempt id whose deadline `request` holds, if any."""
    scope = getattr(request, "scope", None) or {}
    return scope.get(SCOPE_KEY)
