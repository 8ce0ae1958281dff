"""Settings for the exam timer server, read from the environment (see README, "Configuration")."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from examsite.redis_pools import layer_host_options, sync_pool_options
from examsite.redis_target import BadRedisSetting, RedisTarget, Sentinels, host_ports, url_from_parts

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)


def _secret(name: str, *, dev_default: str) -> str:
    """A secret from the environment; only a DEBUG run may fall back to `dev_default`."""
    value = env(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(f"{name} must be set in the environment when DEBUG is off (production).")


SECRET_KEY = _secret("SECRET_KEY", dev_default="dev-insecure-secret-key-change-me-in-production-0123456789")
# A key of its own, so that rotating it logs everybody out without touching sessions, and a
# leak of one key does not give away the other.
JWT_SIGNING_KEY = _secret("JWT_SIGNING_KEY", dev_default=SECRET_KEY)
if not DEBUG and JWT_SIGNING_KEY == SECRET_KEY:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must differ from SECRET_KEY when DEBUG is off (production).")
# Never "*": AllowedHostsOriginValidator checks WebSocket Origins against this list.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by us: /api/docs/ works without internet
    "channels",
    "examsite.apps.SiteConfig",
    "attempts",
    "realtime",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "examsite.urls"
ASGI_APPLICATION = "examsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "realtime.context_processors.protocol",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
# Persistent connections: Django keeps one per thread, and every thread that queries is long-lived
# and bounded in number: the HTTP_CONCURRENCY slot threads (examsite/concurrency.py), the
# SOCKET_DB_THREADS of the sockets (realtime/db.py), the presence settler, the ticker's settling
# (channels' database thread), the expiry worker's pool. So a daphne process holds at most
# HTTP_CONCURRENCY + SOCKET_DB_THREADS + 2, each used again instead of a
# connect per request or socket (tests/faults/test_db_connections.py). Seconds; well under
# MariaDB's wait_timeout (8 h by default), so the server never drops an idle one first. 0 restores
# a connection per request.
_db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=300)
# A kept connection is pinged before the first query of each request, so one that the database
# dropped (restart, KILL, wait_timeout) is replaced instead of failing with "server has gone
# away". The sockets' reads skip the ping and reconnect once on failure instead (realtime/db.py).
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"] == "django.db.backends.mysql":
    _db.setdefault("OPTIONS", {}).update({"charset": "utf8mb4"})
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock up front, so concurrent writers queue instead of
    # failing with "database is locked" when a read lock cannot be upgraded.
    _db.setdefault("OPTIONS", {}).update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
    # A file, not memory: end-to-end tests run daphne and workers as processes on it.
    # (tests/conftest.py creates the folder.)
    _db["TEST"] = {"NAME": str(BASE_DIR / "var" / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# collectstatic's output, served by WhiteNoise when DEBUG is off (with DEBUG on it serves from
# the apps' static folders). Settable so that a test can collect into a folder of its own.
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Redis: timers, the channel layer, the cache (README, "Configuration" and "Running at scale") ---


def _redis_setting(build):
    """A Redis value built from the environment; a malformed one stops start-up naming the variable."""
    try:
        return build()
    except BadRedisSetting as exc:
        raise ImproperlyConfigured(str(exc)) from exc


# Sentinel: every Redis client of the project asks these for the primary of REDIS_SENTINEL_MASTER.
REDIS_SENTINELS = _redis_setting(lambda: host_ports(env("REDIS_SENTINELS", default=""), variable="REDIS_SENTINELS"))
REDIS_SENTINEL_MASTER = env("REDIS_SENTINEL_MASTER", default="mymaster")
REDIS_SENTINEL_PASSWORD = env("REDIS_SENTINEL_PASSWORD", default="")
# The design document's variables when REDIS_URL is unset. Under Sentinel the host is the master's
# name (never dialled: the URLs then give only the database and the password).
REDIS_URL = env("REDIS_URL", default="") or url_from_parts(
    host=env("REDIS_HOST", default=REDIS_SENTINEL_MASTER if REDIS_SENTINELS else "127.0.0.1"),
    port=env.int("REDIS_PORT", default=6379),
    password=env("REDIS_PASSWORD", default=""),
    db=env.int("REDIS_DB", default=1),
)
TIMER_KEY_PREFIX = env("TIMER_KEY_PREFIX", default="exam:timer:")
_sentinels = Sentinels(REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_SENTINEL_PASSWORD) if REDIS_SENTINELS else None
# Timers and the presence registry on a Redis Cluster instead (`host:port,...`, any nodes of it: the
# rest are discovered); the channel layer and the cache stay on REDIS_URL (channels-redis does not
# run on a cluster). README, "Running at scale".
REDIS_CLUSTER_NODES = [
    f"{host}:{port}"
    for host, port in _redis_setting(
        lambda: host_ports(env("REDIS_CLUSTER_NODES", default=""), variable="REDIS_CLUSTER_NODES")
    )
]


def _same_server_db(url: str, db: int) -> str:
    """The Redis URL of another database on the server that `url` names."""
    base, _, _ = url.rpartition("/")
    return f"{base}/{db}" if base.count("/") >= 2 else f"{url.rstrip('/')}/{db}"


# Django's cache holds the login throttle's counters: in Redis, so that every daphne process
# counts the same failures; a database of its own, away from the timer keys.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="examtimer"),
        # Short: a login must not hang on a dead Redis (the throttle then lets it through).
        # Retries and health checks ride over a Redis restart (examsite/redis_pools.py).
        **RedisTarget(env("CACHE_URL", default=_same_server_db(REDIS_URL, 3)), _sentinels).cache(
            socket_connect_timeout=1, socket_timeout=1, **sync_pool_options()
        ),
    }
}

# The layer has its own database: its expiring keys must never reach the expiry listener.
CHANNEL_LAYER_URL = env("CHANNEL_LAYER_URL", default=_same_server_db(REDIS_URL, 2))
# channels-redis's own sharding: groups and channels spread over several standalone servers
# (it cannot run on Redis Cluster: a group send runs one script over keys of many slots).
CHANNEL_LAYER_HOSTS = env.list("CHANNEL_LAYER_HOSTS", default=[])
_layer_targets = [RedisTarget(url) for url in CHANNEL_LAYER_HOSTS] or [RedisTarget(CHANNEL_LAYER_URL, _sentinels)]
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py's default socket_timeout equals the layer's 5 s blocking read, which
            # makes receive() fail with TimeoutError (django/channels_redis#422).
            # Retries and health checks (examsite/redis_pools.py): without them the first command on
            # each pooled connection after a Redis restart fails, and a socket whose receive fails
            # is closed (1011).
            "hosts": [target.layer_host(socket_timeout=30, **layer_host_options()) for target in _layer_targets],
            # A mass timeout sends one message per socket of a process at once; the
            # default capacity of 100 would drop most of them.
            "capacity": 20000,
            "expiry": 60,
            # Lets several deployments (or test runs) share one Redis database.
            "prefix": env("CHANNEL_LAYER_PREFIX", default="asgi"),
        },
    }
}

# HTTP requests one server process runs at once (each on a thread with a database connection
# of its own); the rest wait in the event loop. Keeps a burst from exhausting the database's
# connections (examsite/concurrency.py).
HTTP_CONCURRENCY = env.int("HTTP_CONCURRENCY", default=16)
# Of those, the most one user's requests hold at once; the user's others wait behind each other.
HTTP_SLOTS_PER_USER = env.int("HTTP_SLOTS_PER_USER", default=max(1, HTTP_CONCURRENCY // 4))

# Per-user budgets of the REST routes, `<requests>/<seconds>s` (up to <requests> at once, then spread
# evenly at that rate) shared by every process (attempts/rate_limits.py), or `off`. Sized from what
# the exam page itself sends, with three tabs open (README, "Fair share"): the page never meets
# them; a client that loops does.
RATE_LIMITS = {
    "start": env("RATE_LIMIT_START", default="20/60s"),  # start, resume and own attempts: a page load each
    "remaining": env("RATE_LIMIT_REMAINING", default="40/10s"),  # end checks ~1/s per tab for a few seconds
    "questions": env("RATE_LIMIT_QUESTIONS", default="30/60s"),  # a page load or a reconnect each
    "answer": env("RATE_LIMIT_ANSWER", default="60/10s"),  # clicks, and failed saves sent again together
    "submit": env("RATE_LIMIT_SUBMIT", default="10/60s"),
    "staff": env("RATE_LIMIT_STAFF", default="100/10s"),  # the console: rows, audit trails read per event
}
# One user's 429s leave a process one at a time, this far apart (attempts/apis/fair_share.py).
RATE_LIMIT_REFUSAL_SPACING_MS = env.int("RATE_LIMIT_REFUSAL_SPACING_MS", default=50)

# Sockets open at once, counted across every process (attempts/socket_caps.py); the next is closed 4429.
# 3 per attempt: two tabs (or a laptop and a phone) and one reconnect in flight whose old socket the
# server has not seen close yet. Per user: two such attempts open (two exams); proctors watch exams in tabs.
SOCKETS_PER_ATTEMPT = env.int("SOCKETS_PER_ATTEMPT", default=4)
SOCKETS_PER_STUDENT = env.int("SOCKETS_PER_STUDENT", default=6)
SOCKETS_PER_PROCTOR = env.int("SOCKETS_PER_PROCTOR", default=10)
# Connects refused 4403/4404, or 4401 for a forged or malformed token (not an expired one), per client address
# (NUM_PROXIES) before every connect from it is refused 4429 until the window ends: a token or id guesser is
# slowed down as the login throttle does.
SOCKET_REFUSAL_RATE = env("SOCKET_REFUSAL_RATE", default="60/60s")

# Threads (each with its persistent database connection) that the sockets' reads run on
# (realtime/db.py): connects overlap their round trips instead of queuing on one thread.
SOCKET_DB_THREADS = env.int("SOCKET_DB_THREADS", default=4)

# --- REST and JWT ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "attempts.apis.errors.exception_handler",
    # Wrong passwords per username and client address (attempts/throttles.py).
    "DEFAULT_THROTTLE_RATES": {"login": env("LOGIN_THROTTLE_RATE", default="10/min")},
    # 0: the client address is REMOTE_ADDR. Unset, DRF would trust any X-Forwarded-For, and
    # a client could dodge the login throttle by inventing one per request.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=env.int("JWT_REFRESH_HOURS", default=12)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "ALGORITHM": "HS256",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Exam timer server",
    "DESCRIPTION": "Timed online exams: the clock lives on the server.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # From our own static files, not a CDN: an exam hall's network may reach nothing else.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "attempts.apis.schema_hooks.require_one_of_bodies",
        "attempts.apis.schema_hooks.rate_limited_responses",
    ],
    # Several responses carry a `status` with its own choices: each set gets one stable name.
    "ENUM_NAME_OVERRIDES": {
        "AttemptStatusEnum": ["ongoing", "completed", "timeout"],
        "RunningStatusEnum": ["running"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # A URL logged anywhere (daphne's runserver, django.request) may carry ?token=<JWT>.
    "filters": {"redact_tokens": {"()": "examsite.access_log.RedactTokensFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_tokens"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # Django's default handlers for these have no redaction (runserver logs whole URLs): ours instead.
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
