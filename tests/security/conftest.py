"""Fixtures of the security tests: a cache key prefix of each test's own, tokens of every kind."""

from __future__ import annotations

import uuid

import pytest
import redis
from django.core.cache import cache

from tests.factories import make_exam, make_user


@pytest.fixture(autouse=True)
def cache_prefix(settings):
    """Each test gets its own keys in the cache's Redis (login throttle counters), removed afterwards."""
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


@pytest.fixture
def unique_name():
    """A username no other test (of any engineer, in any database) uses."""
    return f"sec-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def victim(db):
    return make_user(f"victim-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def intruder(db):
    return make_user(f"intruder-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def secret_exam(db):
    """An exam whose title and texts are easy to spot in a response body that should not hold them."""
    exam = make_exam(questions=4, duration_minutes=30, title=f"Secret exam {uuid.uuid4().hex[:8]}")
    for number, question in enumerate(exam.questions.all()):
        question.text = f"Secret question {number} {uuid.uuid4().hex[:6]}?"
        question.option_a, question.option_b = f"secret-a-{number}", f"secret-b-{number}"
        question.option_c, question.option_d = f"secret-c-{number}", f"secret-d-{number}"
        question.save()
    return exam
