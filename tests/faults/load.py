"""Many REST calls at once, each fired at its own moment: the client side of the race tests."""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tests.e2e.servers import ServerProcess

# Threads firing requests: enough that a round's requests are all in flight together.
CLIENT_THREADS = 100


@dataclass(frozen=True)
class Call:
    """One REST call: what to send, where, and when (Unix seconds; None: at once)."""

    server: ServerProcess
    method: str
    path: str
    token: str
    body: dict | None = None
    at: float | None = None


@dataclass(frozen=True)
class Outcome:
    call: Call
    status: int
    body: dict
    sent_at: float  # Unix seconds, just before the request left
    received_at: float  # Unix seconds, just after the whole response arrived


def fire(calls: list[Call], *, threads: int = CLIENT_THREADS) -> list[Outcome]:
    """Make every call, each at its moment, `threads` at a time; outcomes in the order of `calls`."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(call_once, calls))


_local = threading.local()


def _connection(port: int, *, fresh: bool = False) -> http.client.HTTPConnection:
    """This thread's kept-alive connection to `port`: a new TCP connection per call costs the client a core."""
    connections = _local.__dict__.setdefault("connections", {})
    if fresh or port not in connections:
        if port in connections:
            connections[port].close()
        connections[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    return connections[port]


def call_once(call: Call) -> Outcome:
    """Make one call at its moment, on this thread's kept-alive connection to its server."""
    if call.at is not None and (left := call.at - time.time()) > 0:
        time.sleep(left)
    headers = {"Authorization": f"Bearer {call.token}", "Content-Type": "application/json"}
    data = json.dumps(call.body) if call.body is not None else None
    connection = _connection(call.server.port)
    if connection.sock is None:
        connection.connect()  # before the clock starts: the race is about the request, not the handshake
    sent_at = time.time()
    try:
        connection.request(call.method, call.path, body=data, headers=headers)
        response = connection.getresponse()
    except (http.client.HTTPException, ConnectionError):
        # The server closed a kept-alive connection between two calls: once more on a new one.
        connection = _connection(call.server.port, fresh=True)
        sent_at = time.time()
        connection.request(call.method, call.path, body=data, headers=headers)
        response = connection.getresponse()
    payload = response.read()
    received_at = time.time()
    return Outcome(call=call, status=response.status, body=_json(payload), sent_at=sent_at, received_at=received_at)


def spread(count: int, *, first: float, step: float) -> list[float]:
    """`count` moments `step` seconds apart from `first`."""
    return [first + number * step for number in range(count)]


def _json(payload: bytes) -> dict:
    """The JSON body, or the raw text under "_raw": an HTML error page must show in the failure, not crash it."""
    try:
        return json.loads(payload or b"{}")
    except ValueError:
        return {"_raw": payload[:2000].decode(errors="replace")}
