"""WebSocket authentication: JWT from the query string or header, refusals, token lifetime and renewal."""

from __future__ import annotations

import time

import pytest
from channels.db import database_sync_to_async
from rest_framework_simplejwt.tokens import RefreshToken

from realtime.auth import TOKEN_EXPIRED, TOKEN_INVALID, TOKEN_MISSING, token_from_scope, token_problem
from tests.factories import access_token_for, make_user
from tests.wsclient import (
    async_test,
    attempt_path,
    close_code,
    communicator,
    expired_token,
    first_output,
    frame_of_type,
    next_frame,
    open_socket,
    short_lived_token,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _refresh_token(user) -> str:
    return str(RefreshToken.for_user(user))


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    return f"{header}.{payload}.{signature[:-4]}{'AAAA' if not signature.endswith('AAAA') else 'BBBB'}"


def _deactivated(user):
    user.is_active = False
    user.save(update_fields=["is_active"])
    return user


@async_test
async def test_no_token_is_accepted_then_closed_4401(attempt):
    assert await first_output(attempt_path(attempt.pk)) == {"close": 4401}


@pytest.mark.parametrize("kind", ["garbage", "tampered", "expired", "refresh token", "inactive user"])
@async_test
async def test_unusable_tokens_are_closed_4401(attempt, student, kind):
    if kind == "garbage":
        token = "not-a-jwt"
    elif kind == "tampered":
        token = _tampered(await database_sync_to_async(access_token_for)(student))
    elif kind == "expired":
        token = await database_sync_to_async(expired_token)(student)
    elif kind == "refresh token":
        token = await database_sync_to_async(_refresh_token)(student)
    else:
        token = await database_sync_to_async(access_token_for)(student)
        await database_sync_to_async(_deactivated)(student)
    assert await first_output(attempt_path(attempt.pk), token=token) == {"close": 4401}


@async_test
async def test_an_authorization_bearer_header_works_too(attempt, student):
    token = await database_sync_to_async(access_token_for)(student)
    comm = await open_socket(attempt_path(attempt.pk), headers=[(b"authorization", f"Bearer {token}".encode())])
    assert (await next_frame(comm))["type"] == "tick"
    await comm.disconnect()


@pytest.mark.parametrize("origin", [(b"origin", b"https://evil.example"), None])
@async_test
async def test_a_foreign_or_missing_origin_is_refused_at_the_handshake(attempt, student, origin):
    token = await database_sync_to_async(access_token_for)(student)
    comm = communicator(attempt_path(attempt.pk), token=token, origin=origin)
    connected, _ = await comm.connect(timeout=3)
    assert not connected
    await comm.disconnect()


@async_test
async def test_the_socket_closes_4401_when_its_token_expires(attempt, student):
    comm = await open_socket(attempt_path(attempt.pk), student, token_seconds=2)
    assert (await next_frame(comm))["type"] == "tick"
    assert await close_code(comm, timeout=4.0) == 4401  # ticks until then
    await comm.disconnect()


@async_test
async def test_auth_frame_renews_the_socket_beyond_its_first_token(attempt, student):
    short = await database_sync_to_async(short_lived_token)(student, 2)
    first_expiry = time.time() + 2
    comm = await open_socket(attempt_path(attempt.pk), token=short)
    await next_frame(comm)

    fresh = await database_sync_to_async(access_token_for)(student)
    await comm.send_json_to({"type": "auth", "token": fresh})
    renewed = await frame_of_type(comm, "authenticated")
    assert renewed["expires_at"] > first_expiry + 60

    # Ticks keep coming after the first token's expiry, and no close arrives.
    while time.time() < first_expiry + 1.5:
        assert (await next_frame(comm, timeout=2.0))["type"] == "tick"
    await comm.disconnect()


@pytest.mark.parametrize("kind", ["another user", "expired", "garbage"])
@async_test
async def test_auth_frame_with_an_unusable_token_closes_4401(attempt, student, kind):
    comm = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(comm)
    if kind == "another user":
        other = await database_sync_to_async(make_user)()
        token = await database_sync_to_async(access_token_for)(other)
    elif kind == "expired":
        token = await database_sync_to_async(expired_token)(student)
    else:
        token = "not-a-jwt"
    await comm.send_json_to({"type": "auth", "token": token})
    assert await close_code(comm) == 4401
    await comm.disconnect()


@pytest.mark.parametrize(
    ("query", "headers", "expected"),
    [
        (b"token=abc", [], "abc"),
        (b"", [(b"authorization", b"Bearer xyz")], "xyz"),
        (b"token=abc", [(b"authorization", b"Bearer xyz")], "abc"),
        (b"", [(b"authorization", b"Basic xyz")], None),
        (b"", [(b"authorization", b"Bearer ")], None),
        (b"other=1", [], None),
    ],
)
def test_token_from_scope_reads_the_query_string_then_the_header(query, headers, expected):
    assert token_from_scope({"query_string": query, "headers": headers}) == expected


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("none", TOKEN_MISSING),
        ("expired", TOKEN_EXPIRED),
        ("tampered", TOKEN_INVALID),
        ("garbage", TOKEN_INVALID),
        ("refresh token", TOKEN_INVALID),
    ],
)
def test_token_problem_tells_an_expired_token_of_ours_from_a_forged_one(student, kind, expected):
    """Only a forged or malformed token counts against the address (SOCKET_REFUSAL_RATE); an expired one does not."""
    token = {
        "none": lambda: None,
        "expired": lambda: expired_token(student),
        "tampered": lambda: _tampered(access_token_for(student)),
        "garbage": lambda: "not.a.jwt",
        "refresh token": lambda: _refresh_token(student),
    }[kind]()
    assert token_problem(token) == expected
