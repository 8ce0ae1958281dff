"""What the bench and the test suite both need of the local network: a free port, a /healthz that answers.

Standard library only, and no import of the tests package: the tests import it from here.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from contextlib import closing


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthz_ok(base_url: str) -> bool:
    """Whether `base_url`/healthz answers 200 right now (a refused or slow connection is a no)."""
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
