"""nginx in front of 2 daphne processes, with the repository's own site file (deploy/nginx/examtimer.conf).

Real nginx, real daphnes, real TLS and WebSocket clients, loopback only. The clients connect from
several loopback addresses (127.0.0.2, 127.0.0.3: all of 127/8 is this machine), so the address
nginx sees differs from its own (127.0.0.1, the one daphne sees): that is how the tests tell the
login throttle's key apart from the proxy's address.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import re
import ssl
import time
import uuid

import pytest
import redis
from django.conf import settings
from websockets.asyncio.client import connect

from attempts.models import Attempt
from bench.network import free_port
from tests.e2e.clients import FRAME_TIMEOUT, Socket, attempt_path
from tests.e2e.servers import subprocess_env
from tests.factories import PASSWORD, make_user
from tests.helpers import set_deadline_on_a_half_second
from tests.scale.nginx_server import missing_tools, start_nginx

pytestmark = [
    pytest.mark.scale,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(missing_tools() is not None, reason=missing_tools() or ""),
]

RATE = 3  # failed logins allowed per username and address in these tests
CLIENT_A, CLIENT_B = "127.0.0.2", "127.0.0.3"


@pytest.fixture
def nginx(request, cluster, tmp_path):
    """A function that starts nginx in front of the given web processes; stopped (logs printed on failure) after."""
    started = []

    def start(webs):
        server = start_nginx(
            tmp_path / "nginx", https_port=free_port(), http_port=free_port(), upstream_ports=[w.port for w in webs]
        )
        started.append(server)
        return server

    yield start
    for server in started:
        if getattr(request.node, "report_call", None) and request.node.report_call.failed:
            print(f"\n===== nginx logs =====\n{server.log()}")
        server.stop()


def https(proxy, method, path, *, source=CLIENT_A, body=None, headers=None):
    """(status, headers, JSON body or None) of one request to nginx over TLS, sent from the address `source`."""
    context = ssl.create_default_context(cafile=str(proxy.cert))
    conn = http.client.HTTPSConnection(
        "127.0.0.1", proxy.https_port, context=context, source_address=(source, 0), timeout=10
    )
    try:
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        raw = response.read()
        is_json = response.getheader("Content-Type", "").startswith("application/json")
        return response.status, dict(response.getheaders()), json.loads(raw) if is_json else None
    finally:
        conn.close()


async def open_wss(proxy, path: str, *, token: str, source=CLIENT_A) -> Socket:
    """A WebSocket through nginx (wss://), from the address `source`, with the Origin of the site."""
    context = ssl.create_default_context(cafile=str(proxy.cert))
    connection = await connect(
        f"wss://127.0.0.1:{proxy.https_port}{path}?token={token}",
        ssl=context,
        origin=f"https://127.0.0.1:{proxy.https_port}",
        local_addr=(source, 0),
        open_timeout=FRAME_TIMEOUT,
    )
    return Socket(connection)


def login(proxy, username, password, *, source=CLIENT_A, forwarded_for=None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
    status, _, body = https(
        proxy, "POST", "/api/token/", source=source, body={"username": username, "password": password}, headers=headers
    )
    return status, body


def upstreams_of(proxy, path_prefix: str) -> set[str]:
    """The daphne addresses nginx's access log names for requests under `path_prefix`."""
    pattern = re.compile(rf'"[A-Z]+ {re.escape(path_prefix)}\S* HTTP/1\.1" .* upstream=(\S+) ')
    return {m.group(1) for m in pattern.finditer(proxy.access_log.read_text())}


def wait_for(condition, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return value


def test_rest_and_sockets_through_nginx_on_two_daphnes(cluster, nginx, exam):
    web_a, web_b = cluster.start_webs(2)
    proxy = nginx([web_a, web_b])
    student = make_user(f"nginx-{uuid.uuid4().hex[:10]}")

    # Plain HTTP only redirects to HTTPS.
    conn = http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=10)
    conn.request("GET", "/healthz")
    redirect = conn.getresponse()
    conn.close()
    assert (redirect.status, redirect.getheader("Location")) == (301, "https://127.0.0.1/healthz")

    # REST through nginx: login, start.
    status, tokens = login(proxy, student.username, PASSWORD)
    assert status == 200, tokens
    token = tokens["access"]
    status, _, started = https(
        proxy, "POST", f"/api/exam/timer/start/{exam.pk}/", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 201, started
    attempt_id = started["attempt_id"]
    # Half-way between two seconds: the ticker never reads at a boundary, each tick is one less.
    set_deadline_on_a_half_second(Attempt.objects.get(pk=attempt_id), 60)

    async def sockets_tick():
        sockets = [await open_wss(proxy, attempt_path(attempt_id), token=token) for _ in range(4)]
        # The first tick comes on connect; the next ones on the ticker's whole seconds. Read all
        # four at once, so that each frame's time is its arrival, not when the test got to it.

        async def three_ticks(socket):
            return [await socket.until("tick") for _ in range(3)][1:]

        ticks = await asyncio.gather(*(three_ticks(s) for s in sockets))
        for socket in sockets:
            await socket.close()
        return ticks

    for first, second in asyncio.run(sockets_tick()):
        assert first.frame["attempt_id"] == second.frame["attempt_id"] == attempt_id
        assert second.frame["remaining_seconds"] == first.frame["remaining_seconds"] - 1
        assert 0.7 <= second.at - first.at <= 1.3

    # least_conn spread the four sockets over both processes (a socket's line is logged when it closes).
    both = {f"127.0.0.1:{web_a.port}", f"127.0.0.1:{web_b.port}"}
    wait_for(lambda: upstreams_of(proxy, "/ws/") == both, f"/ws/ lines naming {both} in nginx's access log")
    # The socket URL's ?token=<JWT> never reaches nginx's log.
    log = proxy.access_log.read_text()
    assert "token=" not in log and token not in log

    # One daphne killed: new sockets and requests go to the other, none is refused (nginx retries a
    # refused connect on the next process).
    web_a.kill()

    async def reconnect():
        socket = await open_wss(proxy, attempt_path(attempt_id), token=token)
        tick = await socket.until("tick")
        await socket.close()
        return tick

    assert asyncio.run(reconnect()).frame["status"] == "running"
    statuses = [
        https(proxy, "GET", f"/api/exam/timer/remaining/{attempt_id}/", headers={"Authorization": f"Bearer {token}"})[0]
        for _ in range(6)
    ]
    assert statuses == [200] * 6
    # nginx tried the dead process and moved on: the access log says so, and no log of nginx holds the token.
    assert re.search(r"upstream_status=502, 101", proxy.access_log.read_text()), proxy.access_log.read_text()
    assert token not in proxy.log()


def throttle_key(prefix: str, address: str, username: str) -> str:
    """The Redis key of the login throttle's count for `address` and `username` (attempts/throttles.py)."""
    ident = hashlib.sha256(f"{address}\0{username}".encode()).hexdigest()
    return f"{prefix}:1:throttle:login:{ident}"


def test_login_throttle_counts_the_address_nginx_saw_not_a_forged_header(cluster, nginx):
    prefix = f"nginx{uuid.uuid4().hex[:10]}"
    cluster.env = subprocess_env(NUM_PROXIES="1", LOGIN_THROTTLE_RATE=f"{RATE}/min", CACHE_KEY_PREFIX=prefix)
    web_a, web_b = cluster.start_webs(2)
    proxy = nginx([web_a, web_b])
    username = make_user(f"nginx-{uuid.uuid4().hex[:10]}").username
    cache = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"], decode_responses=True)
    forged = [f"203.0.113.{n}" for n in range(RATE + 2)]
    try:
        # A new made-up X-Forwarded-For on every wrong password from one address: still one count.
        from_a = [login(proxy, username, "wrong", forwarded_for=f)[0] for f in forged]
        assert from_a == [401] * RATE + [429] * 2
        assert login(proxy, username, PASSWORD)[0] == 429  # throttled: even the right password
        # Another client address, same username: a count of its own, not nginx's shared one.
        assert login(proxy, username, "wrong", source=CLIENT_B)[0] == 401
        assert login(proxy, username, PASSWORD, source=CLIENT_B)[0] == 200

        assert cache.get(throttle_key(prefix, CLIENT_A, username)) == str(RATE)
        assert cache.get(throttle_key(prefix, CLIENT_B, username)) == "1"
        never_keyed = ["127.0.0.1", *forged]  # nginx's own address, and what the client claimed
        assert [cache.get(throttle_key(prefix, address, username)) for address in never_keyed] == [None] * len(
            never_keyed
        )
        # Both processes took logins and shared the count (it lives in Redis).
        both = {f"127.0.0.1:{web_a.port}", f"127.0.0.1:{web_b.port}"}
        assert upstreams_of(proxy, "/api/token/") == both
    finally:
        keys = list(cache.scan_iter(match=f"{prefix}:*"))
        if keys:
            cache.delete(*keys)
        cache.close()
