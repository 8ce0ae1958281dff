"""Real clients of the servers in tests/e2e/servers.py: REST over urllib, WebSockets over `websockets`."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.servers import ServerProcess

# Long enough for any frame the contract promises within a second; only a failure waits it out.
FRAME_TIMEOUT = 5.0


def rest(server: ServerProcess, method: str, path: str, *, token: str, body: dict | None = None) -> tuple[int, dict]:
    """(status, JSON body) of one REST call with a Bearer token."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{server.base_url}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@dataclass
class RestResponse:
    """What `rest` got, shaped like a test client's response so that the API helpers of tests/helpers.py take it."""

    status_code: int
    body: dict

    def json(self) -> dict:
        return self.body


@dataclass
class RestClient:
    """The REST API of one web process as one student sees it: `get` and `post`, as a DRF test client has them."""

    server: ServerProcess
    token: str

    def get(self, path: str) -> RestResponse:
        return RestResponse(*rest(self.server, "GET", path, token=self.token))

    def post(self, path: str, data: dict | None = None, format: str | None = None) -> RestResponse:
        # `format` is always JSON here; it is taken so that calls written for APIClient work unchanged.
        return RestResponse(*rest(self.server, "POST", path, token=self.token, body=data))


@dataclass
class Received:
    """A frame (or the close) a socket received, with its arrival time (Unix seconds)."""

    at: float
    frame: dict | None = None
    close_code: int | None = None


@dataclass
class Socket:
    """One WebSocket client that records every frame with its arrival time."""

    connection: ClientConnection
    received: list[Received] = field(default_factory=list)

    async def next(self, timeout: float = FRAME_TIMEOUT) -> Received:
        """The next frame, or the close (then `close_code` is set)."""
        try:
            text = await asyncio.wait_for(self.connection.recv(), timeout)
        except ConnectionClosed as closed:
            item = Received(at=time.time(), close_code=closed.rcvd.code if closed.rcvd else None)
        else:
            item = Received(at=time.time(), frame=json.loads(text))
        self.received.append(item)
        return item

    async def until(self, frame_type: str, timeout: float = FRAME_TIMEOUT) -> Received:
        """Read frames until one of `frame_type` arrives; fails on close or after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            item = await self._next_before(deadline, f"no {frame_type!r} frame within {timeout} s")
            if item.close_code is not None:
                raise AssertionError(f"closed with {item.close_code} before a {frame_type!r} frame: {self.frames()}")
            if item.frame["type"] == frame_type:
                return item

    async def closed(self, timeout: float = FRAME_TIMEOUT) -> int | None:
        """Read until the server closes; returns the close code."""
        deadline = time.monotonic() + timeout
        while True:
            item = await self._next_before(deadline, f"not closed within {timeout} s")
            if item.close_code is not None or item.frame is None:
                return item.close_code

    async def _next_before(self, deadline: float, failure: str) -> Received:
        """The next frame or close, if it comes before the monotonic `deadline`; else fail with `failure`."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{failure}; got {self.frames()}")
        return await self.next(left)

    def frames(self, frame_type: str | None = None) -> list[dict]:
        """Frames received so far (of `frame_type` only, if given)."""
        return [r.frame for r in self.received if r.frame and (frame_type is None or r.frame["type"] == frame_type)]

    async def close(self) -> None:
        await self.connection.close()


async def open_socket(server: ServerProcess, path: str, *, token: str | None, origin: str | None = None) -> Socket:
    """Connect to `path` on `server` with `?token=` (if given) and an Origin the server accepts (or `origin`)."""
    query = f"?token={token}" if token is not None else ""
    connection = await connect(
        server.ws_url(f"{path}{query}"), origin=origin or server.origin, open_timeout=FRAME_TIMEOUT
    )
    return Socket(connection)


def attempt_path(attempt_id: int) -> str:
    return f"/ws/attempts/{attempt_id}/"


def proctor_path(exam_id: int) -> str:
    return f"/ws/proctor/exams/{exam_id}/"
