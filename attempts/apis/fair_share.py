"""Per-user rate limits of the REST routes, refused before a request costs a thread or a query.

ASGI middleware, outermost on HTTP: it reads the user from the bearer token (signature and
expiry checked, no database), counts the request against its route's budget
(`attempts.rate_limits`) and answers 429 itself past it, so a client that floods the server
costs it an event-loop turn per request, not a slot thread, a database connection and a view.
A request it lets through carries its user in `scope["fair_share_user"]`, which the per-user
share of the HTTP slots (`examsite.concurrency`) queues on.

Requests without a usable token pass untouched: the view answers their 401 as before.
"""

from __future__ import annotations

import asyncio
import json

from django.conf import settings
from django.urls import Resolver404, resolve
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings

from attempts import rate_limits, timer
from attempts.apis import holds
from examsite.arrival import read_body
from examsite.concurrency import USER_KEY, UserShares

CODE = "rate_limited"
# One user's refusals leave a process one at a time, `settings.RATE_LIMIT_REFUSAL_SPACING_MS` apart: a
# 429 costs the event loop so little that a client with 50 requests in flight got ~1,000 a second and
# took the loop from everybody (five students' p99 81 -> 986 ms). Paced, it waits, at the cost of a
# coroutine per request; the page never sees it, as it waits out Retry-After before it asks again.
STAFF_PATH = "/api/exam/proctor/"
# The budget (settings.RATE_LIMITS) of each student route, by URL name.
SCOPES = {
    "exam-start": "start",
    "own-attempts": "start",
    "attempt-remaining": "remaining",
    "attempt-questions": "questions",
    "answer-submit": "answer",
    "attempt-submit": "submit",
}


# Answers and submits are judged against their attempt's deadline: one refused for its rate within this
# of the deadline is let through instead, because the page's retry (Retry-After, up to a window of 10 s,
# plus up to half again, plus its trip) would arrive after the deadline and be refused as late: the
# student's answer lost. It costs the rate limit the last half minute of one attempt per abuser.
JUDGED_BY_DEADLINE = {"answer", "submit"}
NEAR_DEADLINE_MS = 30_000


async def _deadline_near(scope, body: bytes) -> bool:
    """True when the attempt of this answer or submit ends within NEAR_DEADLINE_MS (or Redis cannot be asked)."""
    attempt_id = holds.attempt_id_of(scope, body)
    if attempt_id is None:
        return False  # malformed: the view refuses it anyway, and refusing it here loses nothing
    try:
        left = (await timer.aremaining_many([attempt_id]))[attempt_id]
    except timer.TimerUnavailable:
        return True
    # No timer: ended (or not theirs, or made up): the view refuses it anyway, so the budget holds.
    return left is not None and left.milliseconds <= NEAR_DEADLINE_MS


def message(retry_after: int) -> str:
    """The 429's text: what happened (nothing) and when to come back."""
    return f"Too many requests: this one was not carried out (nothing was saved). Try again in {retry_after} s."


def scope_of(path: str) -> str | None:
    """The budget a path counts against; None for routes without one (login, pages, schema, health)."""
    if path.startswith(STAFF_PATH):
        return "staff"
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return SCOPES.get(match.url_name)


def user_of(scope) -> object | None:
    """The user id of the request's `Authorization: Bearer` access token, if it is valid; no database."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, raw = value.decode("latin1").partition(" ")
            if kind.lower() != "bearer" or not raw.strip():
                return None
            try:
                token = JWTAuthentication().get_validated_token(raw.strip())
            except (InvalidToken, TokenError):
                return None
            return token.get(api_settings.USER_ID_CLAIM)
    return None


async def send_refusal(send, retry_after: int) -> None:
    body = json.dumps(
        {"detail": message(retry_after), "error": message(retry_after), "code": CODE, "retry_after": retry_after}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RateLimit:
    """ASGI middleware: 429 past the user's budget for the route; otherwise `app`, with the user in the scope."""

    def __init__(self, app) -> None:
        self.app = app
        self._refusing = UserShares(1)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        budget = scope_of(scope.get("path", ""))
        user = user_of(scope) if budget is not None else None
        if user is None:
            return await self.app(scope, receive, send)
        verdict = await rate_limits.ahit(budget, user)
        if not verdict.allowed and budget in JUDGED_BY_DEADLINE:
            # Its retry after Retry-After could come after the deadline and be refused as late: an
            # answer refused for its rate would then be lost. Near the deadline it goes through.
            body, receive = await read_body(receive)
            if await _deadline_near(scope, body):
                verdict = rate_limits.Verdict(allowed=True)
        if not verdict.allowed:
            async with self._refusing.held(user):
                await send_refusal(send, verdict.retry_after)
                await asyncio.sleep(settings.RATE_LIMIT_REFUSAL_SPACING_MS / 1000)
            return
        return await self.app({**scope, USER_KEY: user}, receive, send)
