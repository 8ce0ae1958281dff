"""A private, throwaway MariaDB server on a free port, for tests that restart the database.

The shared MariaDB on 3306 serves every engineer's tests: it is never restarted. This one
lives in a temporary directory, lets root in without a password over TCP, and keeps its
data files across `restart()`, as a real server does.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import MySQLdb

from bench.network import free_port
from tests.helpers import wait_until

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "mariadb-install-db"
# install-db takes ~5 s here; a cold start well under 1 s. These only bound a failure.
INSTALL_SECONDS = 120
STARTUP_SECONDS = 30
STOP_SECONDS = 30


def mariadb_unavailable_reason() -> str | None:
    """Why a private MariaDB cannot be started here, or None when it can."""
    if not Path(MARIADBD).exists() and shutil.which("mariadbd") is None:
        return "mariadbd is not installed (Debian: apt-get install mariadb-server)"
    if shutil.which(INSTALL_DB) is None:
        return f"{INSTALL_DB} is not installed (Debian: apt-get install mariadb-server)"
    return None


class PrivateMariaDB:
    """One mariadbd process of this test alone, with its data directory."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="test-mariadb-"))
        self.datadir = self._dir / "data"
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = self._dir / "mariadbd.log"

    def url(self, database: str) -> str:
        """DATABASE_URL of `database` on this server."""
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str | None = None) -> MySQLdb.Connection:
        """A plain MySQLdb connection as root (for setup and checks, outside Django)."""
        kwargs = {"db": database} if database else {}
        return MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=2, **kwargs)

    def install(self) -> None:
        """Create the system tables (`--no-defaults`: the host's my.cnf would force user=mysql)."""
        result = subprocess.run(
            [
                INSTALL_DB,
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ],
            capture_output=True,
            text=True,
            timeout=INSTALL_SECONDS,
        )
        if result.returncode != 0:
            raise AssertionError(f"{INSTALL_DB} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> PrivateMariaDB:
        binary = MARIADBD if Path(MARIADBD).exists() else shutil.which("mariadbd")
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [
                binary,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self._dir / 'mariadbd.sock'}",
                f"--pid-file={self._dir / 'mariadbd.pid'}",
                "--user=root",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=64M",
                "--max-connections=300",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(self._answers, timeout=STARTUP_SECONDS, interval=0.05, what=f"mariadbd on port {self.port}")
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"mariadbd exited with {self.process.returncode}:\n{self.log_path.read_text()}")
        try:
            self.connect().close()
            return True
        except MySQLdb.OperationalError:
            return False

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as an operator's restart does."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=STOP_SECONDS)
        self.process = None

    def restart(self) -> PrivateMariaDB:
        """Stop and start again on the same port and data: every client connection is cut."""
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
