"""Where a Redis database of the project lives, and the clients, layer hosts and cache options that reach it.

Two topologies (README, "Running at scale"):

- one server: its URL (`REDIS_URL`, `CHANNEL_LAYER_URL`, `CACHE_URL`);
- the primary that Redis Sentinel names (`REDIS_SENTINELS`, `REDIS_SENTINEL_MASTER`,
  `REDIS_SENTINEL_PASSWORD`): the same URLs give the database number and the password, their host is
  the master's name (`redis://mymaster/1`) and is not dialled. Every connection asks the sentinels
  for the primary when it connects, so a failover needs no restart: a connection to the old primary
  fails, the pool's retry (examsite/redis_pools.py) connects again and lands on the new one.

The timers' client is built in one place, `RedisTarget.sync_client`/`async_client` on `timers()`:
another topology for the timers (Redis Cluster) is one more branch there.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.retry
import redis.sentinel
from redis.backoff import NoBackoff
from redis.connection import parse_url

# A sentinel answers from memory in well under a millisecond; one that takes longer is skipped for the
# next one in the list (each is asked once: the next sentinel is the retry).
SENTINEL_SOCKET_TIMEOUT_SECONDS = 0.5
# The options of a Redis URL that Sentinel replaces with the primary's address.
_ADDRESS_OPTIONS = ("host", "port", "path", "connection_class")


class BadRedisSetting(ValueError):
    """A Redis variable of the environment that cannot be read; the message names it."""


def host_ports(value: str, *, variable: str) -> tuple[tuple[str, int], ...]:
    """`host:port,host:port` as pairs; raises BadRedisSetting naming `variable`."""
    pairs = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise BadRedisSetting(f"{variable}: {item!r} is not host:port")
        pairs.append((host.strip("[]"), int(port)))
    return tuple(pairs)


def url_from_parts(*, host: str, port: int, password: str, db: int) -> str:
    """The design document's REDIS_HOST/PORT/PASSWORD/DB as one URL (used when REDIS_URL is unset)."""
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/{db}"


@dataclass(frozen=True)
class Sentinels:
    """The sentinels that watch the primary named `master` (hashable: a key of the per-process client caches)."""

    addresses: tuple[tuple[str, int], ...]
    master: str
    password: str = ""

    def _kwargs(self, retry) -> dict:
        return {
            "password": self.password or None,
            "socket_timeout": SENTINEL_SOCKET_TIMEOUT_SECONDS,
            "socket_connect_timeout": SENTINEL_SOCKET_TIMEOUT_SECONDS,
            "retry": retry,
        }

    def sync_kwargs(self) -> dict:
        """Connection options of the sentinels themselves (not of the primary)."""
        return self._kwargs(redis.retry.Retry(NoBackoff(), 0))

    def async_kwargs(self) -> dict:
        return self._kwargs(redis.asyncio.retry.Retry(NoBackoff(), 0))

    def sync_manager(self) -> redis.sentinel.Sentinel:
        return redis.sentinel.Sentinel(list(self.addresses), sentinel_kwargs=self.sync_kwargs())

    def async_manager(self) -> redis.asyncio.sentinel.Sentinel:
        return redis.asyncio.sentinel.Sentinel(list(self.addresses), sentinel_kwargs=self.async_kwargs())

    def describe(self) -> str:
        return f"master {self.master!r} of sentinels " + ",".join(f"{host}:{port}" for host, port in self.addresses)


@dataclass(frozen=True)
class RedisTarget:
    """One Redis database: a URL, and the sentinels that name its server (None: the URL's own host)."""

    url: str
    sentinels: Sentinels | None = None

    def _database_options(self) -> dict:
        """The URL's options without its address: database number, user, password."""
        return {key: value for key, value in parse_url(self.url).items() if key not in _ADDRESS_OPTIONS}

    def sync_client(self, **options) -> redis.Redis:
        """A client with its own pool (`options` as for `redis.Redis`)."""
        if self.sentinels is None:
            return redis.Redis.from_url(self.url, **options)
        manager = self.sentinels.sync_manager()
        return manager.master_for(self.sentinels.master, **self._database_options(), **options)

    def async_client(self, **options) -> redis.asyncio.Redis:
        """The asyncio twin of `sync_client`; belongs to the event loop that first uses it."""
        if self.sentinels is None:
            return redis.asyncio.Redis.from_url(self.url, **options)
        manager = self.sentinels.async_manager()
        return manager.master_for(self.sentinels.master, **self._database_options(), **options)

    def layer_host(self, **options) -> dict:
        """A channels-redis host entry (its own `sentinels`/`master_name`/`sentinel_kwargs` under Sentinel)."""
        if self.sentinels is None:
            return {"address": self.url, **options}
        return {
            "sentinels": list(self.sentinels.addresses),
            "master_name": self.sentinels.master,
            "sentinel_kwargs": self.sentinels.async_kwargs(),
            **self._database_options(),
            **options,
        }

    def cache(self, **options) -> dict:
        """LOCATION and OPTIONS of Django's RedisCache (a Sentinel pool under Sentinel)."""
        if self.sentinels is None:
            return {"LOCATION": self.url, "OPTIONS": options}
        # Django builds the pool with `pool_class.from_url(LOCATION, **OPTIONS)`: the URL gives the
        # database and password, the two options below make the pool ask the sentinels for the address.
        sentinel_options = {"service_name": self.sentinels.master, "sentinel_manager": self.sentinels.sync_manager()}
        return {
            "LOCATION": self.url,
            "OPTIONS": {"pool_class": redis.sentinel.SentinelConnectionPool, **sentinel_options, **options},
        }

    def describe(self) -> str:
        """Where this database is, for a log line (no password)."""
        if self.sentinels is not None:
            return self.sentinels.describe()
        parts = parse_url(self.url)
        return f"{parts.get('host', 'localhost')}:{parts.get('port', 6379)}"


def node_of(client: redis.Redis) -> str:
    """`host:port` of the server a synchronous client's commands go to now (under Sentinel: the current
    primary, asked of the sentinels); never raises, so that an error message can always name it."""
    pool = client.connection_pool
    if isinstance(pool, redis.sentinel.SentinelConnectionPool):
        try:
            host, port = pool.get_master_address()
        except redis.RedisError as exc:
            return f"no primary for {pool.service_name!r} from the sentinels ({exc})"
        return f"{host}:{port}"
    kwargs = pool.connection_kwargs
    return kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def sentinels_from_settings(settings) -> Sentinels | None:
    """The Sentinel settings as one value, or None without REDIS_SENTINELS."""
    addresses = tuple(getattr(settings, "REDIS_SENTINELS", ()) or ())
    if not addresses:
        return None
    return Sentinels(addresses, settings.REDIS_SENTINEL_MASTER, settings.REDIS_SENTINEL_PASSWORD)


def timers() -> RedisTarget:
    """Where the timers live (read on every call, so that a test's settings override counts)."""
    from django.conf import settings  # lazily: examsite.settings imports this module

    return RedisTarget(settings.REDIS_URL, sentinels_from_settings(settings))
