"""GET /healthz: 200 when the database and Redis answer with expired-key events on; 503 naming what fails."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.redis_server import private_redis, unreachable_redis

pytestmark = pytest.mark.django_db


def health():
    return APIClient().get("/healthz")


def test_healthy_200():
    response = health()

    assert response.status_code == 200
    assert "Retry-After" not in response
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "keyspace_notifications": "ok"},
    }


def test_redis_unreachable_503_names_redis(settings):
    with unreachable_redis(settings) as url:
        response = health()

    assert response.status_code == 503
    assert response["Retry-After"] == "5"  # seconds: when to look again (docs/api.md)
    body = response.json()
    assert body["status"] == "unavailable"
    assert "redis" in body["failing"]
    assert body["checks"]["redis"].startswith(f"error at {url.split('/')[2]}: ")  # names the server
    assert body["checks"]["database"] == "ok"


def test_keyspace_notifications_off_503_names_them(settings):
    with private_redis(settings, notify_keyspace_events="") as server:
        response = health()

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["failing"] == ["keyspace_notifications"]
    off = f"off at 127.0.0.1:{server.port}"  # names the server to fix
    assert body["checks"] == {"database": "ok", "redis": "ok", "keyspace_notifications": off}


def test_notifications_of_other_kinds_only_are_not_enough(settings):
    with private_redis(settings, notify_keyspace_events="Kg"):  # keyspace events, but not expired-key events
        response = health()

    assert response.status_code == 503
    assert response.json()["failing"] == ["keyspace_notifications"]


def test_all_events_on_counts(settings):
    with private_redis(settings, notify_keyspace_events="EA"):  # A includes x
        assert health().status_code == 200


def test_needs_no_token_and_only_answers_get():
    assert APIClient().post("/healthz").status_code == 405


def test_config_refused_reports_unverified_not_a_failure(settings):
    # Managed Redis forbids CONFIG: the worker proves the events with a probe; health must not 500 or fail.
    with private_redis(settings, extra_args=("--rename-command", "CONFIG", '""')):
        response = health()

    assert response.status_code == 200, response.content
    assert response.json()["checks"]["keyspace_notifications"] == "unverified (CONFIG GET refused)"
