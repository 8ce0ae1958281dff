"""Throttling of password guessing on `/api/token/`: failed logins per username and address."""

from __future__ import annotations

import hashlib
import logging

import redis
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)

# Throttling is a defence, not a dependency: while the cache's Redis is away, logins go on.
CACHE_ERRORS = (redis.ConnectionError, redis.TimeoutError)


class LoginFailureThrottle(SimpleRateThrottle):
    """Refuses a login (429) once a username has failed `rate` times from one address.

    Only failures count (`record_failure`), so a student who signs in again and again is
    never locked out, and a guesser is stopped whatever the outcome of earlier requests. The
    count is a fixed window in Django's cache (Redis): one atomic INCR per failure, shared by
    every server process.
    """

    scope = "login"
    key: str | None = None
    cache_format = "throttle:login:%(ident)s"

    def get_rate(self) -> str | None:
        # Read at each request, not frozen at import as DRF's THROTTLE_RATES is, so the
        # setting (and a test's override of it) holds.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str | None:
        data = request.data
        username = data.get("username") if hasattr(data, "get") else None
        if not isinstance(username, str) or not username:
            return None  # No username: authentication fails on the missing field, nothing to guess.
        ident = hashlib.sha256(f"{self.get_ident(request)}\0{username}".encode()).hexdigest()
        return self.cache_format % {"ident": ident}

    def allow_request(self, request, view) -> bool:
        """False when this username and address have used up their failures."""
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        try:
            failures = cache.get(self.key, 0)
        except CACHE_ERRORS as exc:
            logger.warning("login throttle skipped, cache unreachable: %s", exc)
            return True
        return failures < self.num_requests

    def record_failure(self, request, view) -> None:
        """Count one failed login of the request's username from its address."""
        self.key = self.get_cache_key(request, view)
        if self.rate is None or self.key is None:
            return
        try:
            # add() starts the window (no-op if it runs); incr() keeps the key's TTL.
            cache.add(self.key, 0, timeout=self.duration)
            cache.incr(self.key)
        except ValueError:
            pass  # The window ended between add() and incr(): this failure starts no new one.
        except CACHE_ERRORS as exc:
            logger.warning("login failure not counted, cache unreachable: %s", exc)

    def wait(self) -> float:
        # A fixed window: at most its whole length is left.
        return float(self.duration)
