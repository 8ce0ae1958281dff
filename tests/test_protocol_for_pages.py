"""The pages read close codes, frame texts and error codes from the server, not from copies of their own."""

from __future__ import annotations

import json
import re

import pytest

from attempts import errors, texts
from realtime import protocol

pytestmark = pytest.mark.django_db


def _protocol_of(page: str, client) -> dict:
    html = client.get(page).content.decode()
    found = re.search(r'<script id="protocol" type="application/json">(.*?)</script>', html, re.S)
    assert found, f"{page} carries no protocol"
    return json.loads(found.group(1))


@pytest.mark.parametrize("page", ["/login/", "/exam/1/", "/proctor/exams/1/"])
def test_every_page_carries_the_servers_own_constants(page, client):
    rendered = _protocol_of(page, client)

    assert rendered["close"]["TIMEOUT"] == protocol.CLOSE_TIMEOUT == 4408
    assert rendered["close"]["NOT_FOUND"] == protocol.CLOSE_NOT_FOUND
    assert set(rendered["close"].values()) == {1000, 1008, 1009, 4401, 4403, 4404, 4408, 4429}
    assert rendered["messages"] == {
        "timeout": texts.TIMEOUT_MESSAGE,
        "completed": texts.COMPLETED_MESSAGE,
        "ended_by_proctor": texts.ENDED_BY_PROCTOR_MESSAGE,
    }
    assert rendered["errors"]["TimeExpired"] == "time_expired"


def test_error_codes_are_unique_stable_snake_case():
    codes = list(errors.all_codes().values())

    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in codes)


def test_each_domain_error_a_socket_refuses_with_has_its_close_code():
    assert protocol.close_code_for(errors.NotFound()) == protocol.CLOSE_NOT_FOUND
    assert protocol.close_code_for(errors.NotYourAttempt()) == protocol.CLOSE_FORBIDDEN
