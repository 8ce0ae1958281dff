"""Fixtures shared by every test: the real Redis with a key prefix of each test's own."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
import redis
from django.core.cache import cache

from attempts import timer
from realtime.outbox import outbox
from tests.factories import api_client, make_exam, make_user, start_attempt
from tests.helpers import WorkerThreads


def pytest_configure(config):
    # The SQLite test database is a file under var/ (daphne and workers of the e2e tests open it too).
    (Path(__file__).resolve().parent.parent / "var").mkdir(exist_ok=True)


# A test's events reach the layer in milliseconds; longer means its Redis is gone.
OUTBOX_DRAIN_SECONDS = 2.0


@pytest.fixture(autouse=True)
def timer_prefix(settings):
    """Each test gets its own timer keys in the real Redis, removed afterwards."""
    prefix = f"test:{uuid.uuid4().hex[:10]}:exam:timer:"
    settings.TIMER_KEY_PREFIX = prefix
    yield prefix
    client = timer.client()
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def cache_prefix(settings):
    """Each test gets its own keys in the cache's Redis (login throttle counters, rate limits, the
    sockets' address throttle), removed afterwards."""
    prefix = f"test{uuid.uuid4().hex[:10]}"
    settings.CACHES = {name: {**config, "KEY_PREFIX": prefix} for name, config in settings.CACHES.items()}
    yield prefix
    cache.close()
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"], socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.ConnectionError:
        pass  # A test that pointed the cache at a dead port left nothing behind.
    finally:
        client.close()


@pytest.fixture(autouse=True)
def channel_layer_prefix(settings):
    """Each test gets channel-layer groups of its own: ids repeat across test databases."""
    layers = {
        name: {**layer, "CONFIG": {**layer["CONFIG"], "prefix": f"test{uuid.uuid4().hex[:10]}"}}
        for name, layer in settings.CHANNEL_LAYERS.items()
    }
    settings.CHANNEL_LAYERS = layers
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    # This test's events go out to this test's layer, or (its Redis stopped for good) not at all,
    # but never ahead of the next test's (realtime/outbox.py).
    if not outbox().drain(OUTBOX_DRAIN_SECONDS):
        outbox().discard()
    channel_layers.backends.clear()


@pytest.fixture(scope="session", autouse=True)
def keyspace_notifications():
    """Expired-key events on, as the expiry worker would set them."""
    timer.enable_notifications()


@pytest.fixture
def fast_passwords(settings):
    """A cheap password hash: modules that make many users and never time a login (PBKDF2 costs ~0.2 s a user)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def student(db):
    return make_user()


@pytest.fixture
def other_student(db):
    return make_user()


@pytest.fixture
def proctor(db):
    return make_user(is_staff=True)


@pytest.fixture
def exam(db):
    return make_exam(questions=4, duration_minutes=60)


@pytest.fixture
def attempt(exam, student):
    """The student's ongoing attempt of `exam` (a module may override `exam` to change its shape)."""
    return start_attempt(student, exam)


@pytest.fixture
def client_for():
    return api_client


@pytest.fixture
def workers():
    """Expiry workers to start in threads of this process; stopped, and their errors raised, afterwards."""
    threads = WorkerThreads()
    yield threads
    threads.close()


@pytest.fixture
def expiry_log(caplog):
    """The messages the expiry worker logged so far, as a function of no arguments."""
    caplog.set_level(logging.INFO, logger="attempts.expiry")

    def lines() -> list[str]:
        return [record.getMessage() for record in caplog.records if record.name == "attempts.expiry"]

    return lines
