"""Password guessing on /api/token/: failed logins per username and address end in 429."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import PASSWORD, make_user

ROOT = Path(__file__).resolve().parents[2]
RATE = 3  # failures allowed per window in these tests (production default: 10/min)


@pytest.fixture(autouse=True)
def low_login_rate(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": f"{RATE}/min"},
    }


def _login(username: str, password: str, *, address: str = "127.0.0.1", **extra):
    return APIClient(REMOTE_ADDR=address, **extra).post(
        "/api/token/", {"username": username, "password": password}, format="json"
    )


def _fail(username: str, times: int, **kwargs) -> list[int]:
    return [_login(username, "wrong-password", **kwargs).status_code for _ in range(times)]


@pytest.mark.django_db
def test_wrong_passwords_are_throttled_with_json_429(unique_name):
    make_user(unique_name)
    assert _fail(unique_name, RATE) == [401] * RATE
    refused = _login(unique_name, "wrong-password")
    assert refused.status_code == 429
    assert refused["Content-Type"].startswith("application/json")
    body = refused.json()
    assert "throttled" in body["detail"] and body["error"] == body["detail"]
    assert int(refused["Retry-After"]) == 60
    # While throttled even the right password is refused: a guesser learns nothing more.
    assert _login(unique_name, PASSWORD).status_code == 429


@pytest.mark.django_db
def test_throttle_is_per_username_and_address(unique_name):
    make_user(unique_name)
    bystander = make_user(f"{unique_name}-b")
    _fail(unique_name, RATE)
    assert _login(unique_name, "wrong-password").status_code == 429
    assert _login(bystander.username, PASSWORD).status_code == 200  # same address, other user
    assert _login(unique_name, PASSWORD, address="10.0.0.7").status_code == 200  # same user, other address


@pytest.mark.django_db
def test_forged_forwarded_for_does_not_dodge_the_throttle(unique_name):
    make_user(unique_name)
    statuses = [
        _login(unique_name, "wrong-password", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(6)
    ]
    assert statuses == [401] * RATE + [429] * (6 - RATE)


@pytest.mark.django_db
def test_successful_logins_are_not_counted(unique_name):
    make_user(unique_name)
    assert [_login(unique_name, PASSWORD).status_code for _ in range(RATE * 3)] == [200] * (RATE * 3)
    assert _fail(unique_name, RATE) == [401] * RATE


@pytest.mark.django_db
def test_unknown_usernames_are_throttled_too(unique_name):
    """Guessing which usernames exist costs the same as guessing passwords."""
    assert _fail(unique_name, RATE + 2) == [401] * RATE + [429, 429]


@pytest.mark.django_db
def test_counter_lives_in_redis_with_the_window_as_ttl(unique_name, cache_prefix):
    make_user(unique_name)
    _fail(unique_name, 2)
    client = redis.Redis.from_url(django_settings.CACHES["default"]["LOCATION"], decode_responses=True)
    try:
        keys = list(client.scan_iter(match=f"{cache_prefix}:*throttle:login:*"))
        assert len(keys) == 1
        assert client.get(keys[0]) == "2"
        assert 0 < client.ttl(keys[0]) <= 60
    finally:
        client.close()


@pytest.mark.django_db(transaction=True)
def test_failures_in_another_process_count_here(unique_name, cache_prefix):
    """Two server processes share one count: failures made by a subprocess throttle this one."""
    make_user(unique_name)
    script = (
        "import django; django.setup()\n"
        "from rest_framework.test import APIClient\n"
        f"for _ in range({RATE}):\n"
        f"    body = {{'username': {unique_name!r}, 'password': 'x'}}\n"
        "    r = APIClient(SERVER_NAME='localhost').post('/api/token/', body, format='json')\n"
        "    print(r.status_code)\n"
    )
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "examsite.settings",
        "DATABASE_URL": f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CACHE_KEY_PREFIX": cache_prefix,
        "LOGIN_THROTTLE_RATE": f"{RATE}/min",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["401"] * RATE
    assert _login(unique_name, "wrong-password").status_code == 429


@pytest.mark.django_db
def test_unreachable_cache_lets_logins_through_without_500(settings, unique_name):
    """The throttle is a defence, not a dependency: with its Redis gone, logins still work."""
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/3"}  # nothing listens on port 1
    }
    make_user(unique_name)
    assert _fail(unique_name, RATE + 2) == [401] * (RATE + 2)
    assert _login(unique_name, PASSWORD).status_code == 200
