"""Access logs never contain a token: a real daphne process, its log read after real traffic."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from examsite.access_log import REDACTED
from tests.e2e.servers import ARTIFACTS, Cluster
from tests.factories import PASSWORD, access_token_for, api_client, make_exam, make_user
from tests.helpers import wait_until

JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


@pytest.fixture
def web(request, transactional_db, timer_prefix, channel_layer_prefix, cache_prefix):
    """One daphne process (access log on, as `daphne` logs by default) for this test."""
    servers = Cluster(artifacts_dir=ARTIFACTS / request.node.name)
    try:
        yield servers.start_web(name="web")
    finally:
        servers.stop_all()


def _http(web, method: str, path: str, *, headers: dict | None = None, body: dict | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{web.base_url}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


async def _socket_traffic(web, attempt_id: int, token: str) -> list[str]:
    """A good socket (first frame read), a bad token, and a foreign Origin: what each one got."""
    outcomes = []
    async with connect(web.ws_url(f"/ws/attempts/{attempt_id}/?token={token}"), origin=web.origin) as socket:
        outcomes.append(json.loads(await asyncio.wait_for(socket.recv(), 5))["type"])
    async with connect(web.ws_url(f"/ws/attempts/{attempt_id}/?token={token}x"), origin=web.origin) as socket:
        await asyncio.wait_for(socket.wait_closed(), 5)
        outcomes.append(f"closed {socket.close_code}")
    try:
        async with connect(web.ws_url(f"/ws/attempts/{attempt_id}/?token={token}"), origin="http://evil.example"):
            outcomes.append("foreign origin accepted")
    except InvalidStatus as refused:
        outcomes.append(f"refused {refused.response.status_code}")
    return outcomes


@pytest.mark.e2e
def test_access_log_never_shows_a_token(web):
    student = make_user()
    exam = make_exam(questions=2)
    token = access_token_for(student)
    attempt_id = api_client(student).post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]
    issued = {token}

    # WebSocket upgrades with the token in the query string, as the exam page connects.
    outcomes = asyncio.run(_socket_traffic(web, attempt_id, token))
    assert outcomes == ["tick", "closed 4401", "refused 403"]
    # The same URL as a plain GET (no upgrade): daphne logs the full URI of HTTP requests.
    assert _http(web, "GET", f"/ws/attempts/{attempt_id}/?token={token}") == 404
    # REST: the header (never logged), and a client that puts tokens into the query string.
    bearer = {"Authorization": f"Bearer {token}"}
    assert _http(web, "GET", f"/api/exam/timer/remaining/{attempt_id}/", headers=bearer) == 200
    assert _http(web, "GET", f"/api/exam/timer/remaining/{attempt_id}/?token={token}&access={token}") == 401
    login = {"username": student.username, "password": PASSWORD}
    assert _http(web, "POST", "/api/token/", body=login) == 200
    refresh = str(api_client(student).post("/api/token/", login, format="json").json()["refresh"])
    issued.add(refresh)
    assert _http(web, "POST", f"/api/token/refresh/?refresh={refresh}", body={"refresh": refresh}) == 200

    # Every request above has its line in the log before we read it.
    wait_until(lambda: len(web.log_lines(r'"POST /api/token/refresh/')) == 1, timeout=10, what="the last access line")
    log = web.log()
    assert not [value for value in issued if value in log]
    assert not JWT_SHAPE.search(log), JWT_SHAPE.search(log)
    assert PASSWORD not in log
    # The lines are there, redacted: the test did see what daphne logs.
    assert len(web.log_lines(rf'"GET /ws/attempts/{attempt_id}/\?token=\[redacted\]" 404')) == 1
    assert len(web.log_lines(rf"token={re.escape(REDACTED)}&access={re.escape(REDACTED)}")) == 1
    assert web.log_lines(rf'"WSCONNECT /ws/attempts/{attempt_id}/"')
    assert web.log_lines(rf'"WSREJECT /ws/attempts/{attempt_id}/"')
