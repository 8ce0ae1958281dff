"""Helpers for WebSocket tests: the real ASGI stack of asgi.py, driven by channels' WebsocketCommunicator."""

from __future__ import annotations

import functools
import json
import time
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from tests.factories import access_token_for

ORIGIN = (b"origin", b"http://localhost")  # in the default ALLOWED_HOSTS
BACKGROUND_FRAMES = ("tick", "presence")
FRAME_TIMEOUT = 3.0  # generous: a tick is due within 1 s; only a failure waits this long


def async_test(test):
    """Run an `async def` test on an event loop of its own (no pytest-asyncio needed)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return async_to_sync(test)(*args, **kwargs)

    return run


def communicator(path: str, *, token: str | None = None, headers=(), origin=ORIGIN) -> WebsocketCommunicator:
    """A client of `examsite.asgi.application` (Origin check, JWT middleware, routes) for `path`."""
    from examsite.asgi import application

    query = f"?token={token}" if token is not None else ""
    all_headers = ([origin] if origin is not None else []) + list(headers)
    return WebsocketCommunicator(application, f"{path}{query}", headers=all_headers)


def attempt_path(attempt_id: int) -> str:
    return f"/ws/attempts/{attempt_id}/"


def proctor_path(exam_id: int) -> str:
    return f"/ws/proctor/exams/{exam_id}/"


async def open_socket(
    path: str, user=None, *, token: str | None = None, token_seconds: float | None = None, **kwargs
) -> WebsocketCommunicator:
    """Connect as `user` (with a token that expires in `token_seconds`, if given) or with `token`;
    fails the test if the handshake is refused."""
    if token is None and user is not None:
        if token_seconds is None:
            token = await database_sync_to_async(access_token_for)(user)  # writes an outstanding token
        else:
            token = await database_sync_to_async(short_lived_token)(user, token_seconds)
    comm = communicator(path, token=token, **kwargs)
    connected, _ = await comm.connect(timeout=FRAME_TIMEOUT)
    assert connected, f"handshake refused for {path}"
    return comm


async def first_output(path: str, user=None, *, token: str | None = None) -> dict:
    """Connect, take the first thing the server sends (a refusal is a close right away), disconnect."""
    comm = await open_socket(path, user, token=token)
    try:
        return await next_output(comm)
    finally:
        await comm.disconnect()


async def next_output(comm: WebsocketCommunicator, timeout: float = FRAME_TIMEOUT) -> dict:
    """The next thing the server sent: {"frame": {...}} for a text frame, {"close": code} for a close."""
    output = await comm.receive_output(timeout)
    if output["type"] == "websocket.close":
        return {"close": output.get("code", 1000)}
    assert output["type"] == "websocket.send", output
    return {"frame": json.loads(output["text"])}


async def next_frame(comm: WebsocketCommunicator, timeout: float = FRAME_TIMEOUT) -> dict:
    """The next frame; fails if the server closed instead."""
    output = await next_output(comm, timeout)
    assert "frame" in output, f"expected a frame, the socket closed with {output.get('close')}"
    return output["frame"]


async def frame_of_type(comm: WebsocketCommunicator, kind: str, *, timeout: float = FRAME_TIMEOUT) -> dict:
    """The next frame of type `kind`, skipping ticks and `presence` (sent whenever a page comes or goes);
    fails on any other frame, a close, or the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await next_frame(comm, max(0.05, deadline - time.monotonic()))
        if frame["type"] == kind:
            return frame
        assert frame["type"] in BACKGROUND_FRAMES, f"expected {kind!r}, got {frame}"


async def frames_until(comm: WebsocketCommunicator, kind: str, *, timeout: float = FRAME_TIMEOUT) -> list[dict]:
    """Every frame up to and including the next one of type `kind`; fails on a close or the timeout."""
    deadline = time.monotonic() + timeout
    received = []
    while True:
        frame = await next_frame(comm, max(0.05, deadline - time.monotonic()))
        received.append(frame)
        if frame["type"] == kind:
            return received


async def close_code(comm: WebsocketCommunicator, *, timeout: float = FRAME_TIMEOUT) -> int:
    """The code the server closes with next, skipping ticks; fails on any other frame."""
    deadline = time.monotonic() + timeout
    while True:
        output = await next_output(comm, max(0.05, deadline - time.monotonic()))
        if "close" in output:
            return output["close"]
        assert output["frame"]["type"] == "tick", f"expected a close, got {output['frame']}"


def short_lived_token(user, seconds: float) -> str:
    """An access token of `user` that expires `seconds` from now."""
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=seconds))
    return str(token)


def expired_token(user) -> str:
    """An access token of `user` that expired a minute ago."""
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=-60))
    return str(token)
