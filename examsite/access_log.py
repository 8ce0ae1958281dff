"""Keeps JWTs out of logs: daphne's access log and every record that names a URL.

A browser's WebSocket cannot send headers, so the exam page puts its access token in the
query string (`/ws/attempts/1/?token=…`); any client may do the same on a REST route. daphne
logs the full URI of each HTTP request (query string included) in its access log, which it
writes straight to a stream, so a `logging` filter alone cannot reach it.
"""

from __future__ import annotations

import logging
import re
from functools import wraps

REDACTED = "[redacted]"
# Query parameters that carry a credential, whatever a client names them.
_SECRET_PARAM = re.compile(r"(?i)([?&;](?:token|access|refresh|access_token|refresh_token|jwt|auth)=)[^&;#\s\"']*")
# Anything shaped like a JWT (base64url header starting `{"`), wherever it appears.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def redact_tokens(text: str) -> str:
    """`text` with every token-like query value and every JWT replaced by `[redacted]`."""
    return _JWT.sub(REDACTED, _SECRET_PARAM.sub(rf"\g<1>{REDACTED}", text))


class RedactTokensFilter(logging.Filter):
    """A logging filter that redacts tokens from the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_daphne_access_log() -> None:
    """Make daphne's access log redact tokens from each request line (idempotent)."""
    try:
        from daphne.access import AccessLogGenerator
    except ImportError:  # daphne is not installed: there is no access log to fix.
        return
    write_entry = AccessLogGenerator.write_entry
    if getattr(write_entry, "redacts_tokens", False):
        return

    @wraps(write_entry)
    def redacting_write_entry(self, host, date, request, *args, **kwargs):
        return write_entry(self, host, date, redact_tokens(request), *args, **kwargs)

    redacting_write_entry.redacts_tokens = True
    AccessLogGenerator.write_entry = redacting_write_entry
