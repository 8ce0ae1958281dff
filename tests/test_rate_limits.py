"""Per-user REST budgets (attempts/rate_limits.py, attempts/apis/fair_share.py) against the real Redis cache."""

from __future__ import annotations

import asyncio
import json

import pytest

from attempts import rate_limits
from attempts.apis.fair_share import RateLimit, scope_of
from examsite.concurrency import USER_KEY
from tests.factories import access_token_for, make_user


def _call(app, path: str, token: str | None) -> tuple[int, dict, dict]:
    """One request through `app`: (status, headers, JSON body or {})."""
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "http", "method": "GET", "path": path, "headers": headers}, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), (json.loads(body) if body else {})


def _ok_app(seen: list):
    async def app(scope, receive, send):
        seen.append(scope.get(USER_KEY))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def test_budgets_parse():
    assert rate_limits.parse("40/10s") == rate_limits.Budget(40, 10)
    assert rate_limits.parse("off") is None
    with pytest.raises(ValueError):
        rate_limits.parse("40/min")


def test_every_student_route_and_the_staff_routes_have_a_budget():
    assert scope_of("/api/exam/timer/start/1/") == "start"
    assert scope_of("/api/exam/timer/attempts/1/") == "start"
    assert scope_of("/api/exam/timer/remaining/1/") == "remaining"
    assert scope_of("/api/exam/timer/questions/1/") == "questions"
    assert scope_of("/api/exam/timer/submit-answer/") == "answer"
    assert scope_of("/api/exam/timer/submit/1/") == "submit"
    assert scope_of("/api/exam/proctor/attempts/1/extend/") == "staff"
    assert scope_of("/api/token/") is None
    assert scope_of("/healthz") is None


@pytest.mark.django_db
def test_past_the_budget_429_with_retry_after_and_a_code_and_the_app_is_not_called(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "remaining": "3/30s"}
    user, other = make_user(), make_user()
    seen: list = []
    app = RateLimit(_ok_app(seen))
    path = "/api/exam/timer/remaining/7/"
    statuses = [_call(app, path, access_token_for(user))[0] for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert [str(user_id) for user_id in seen] == [str(user.pk)] * 3  # the user, for the slots' per-user share
    status, headers, body = _call(app, path, access_token_for(user))
    assert status == 429
    assert body["code"] == "rate_limited" and "nothing was saved" in body["error"]
    assert 1 <= body["retry_after"] <= 30 and headers[b"retry-after"] == str(body["retry_after"]).encode()
    # Another user, and another route of the same user, have budgets of their own.
    assert _call(app, path, access_token_for(other))[0] == 200
    assert _call(app, "/api/exam/timer/questions/7/", access_token_for(user))[0] == 200


@pytest.mark.django_db
def test_requests_without_a_valid_token_pass_to_the_view_uncounted(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "remaining": "1/30s"}
    seen: list = []
    app = RateLimit(_ok_app(seen))
    assert [_call(app, "/api/exam/timer/remaining/7/", token)[0] for token in (None, "garbage", None)] == [200] * 3
    assert seen == [None] * 3


@pytest.mark.django_db
def test_an_unreachable_cache_lets_requests_through(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "remaining": "1/30s"}
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/3"}}
    token = access_token_for(make_user())
    app = RateLimit(_ok_app([]))
    assert [_call(app, "/api/exam/timer/remaining/7/", token)[0] for _ in range(3)] == [200] * 3
