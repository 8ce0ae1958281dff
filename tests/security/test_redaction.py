"""Token redaction in logs: the function, the logging filter, and daphne's own access-log writer."""

from __future__ import annotations

import io
import logging

from daphne.access import AccessLogGenerator

from examsite.access_log import REDACTED, RedactTokensFilter, redact_tokens

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiMSJ9.c2lnbmF0dXJl"


def test_query_values_named_like_credentials_are_redacted():
    assert redact_tokens("/ws/attempts/7/?token=abc.def&x=1") == f"/ws/attempts/7/?token={REDACTED}&x=1"
    assert redact_tokens("/p?a=1&access_token=s3cret") == f"/p?a=1&access_token={REDACTED}"
    assert redact_tokens("/p?REFRESH=s3cret;jwt=t") == f"/p?REFRESH={REDACTED};jwt={REDACTED}"


def test_any_jwt_is_redacted_wherever_it_appears():
    assert JWT not in redact_tokens(f"GET /api/{JWT}/ 404")
    assert redact_tokens(f"Bearer {JWT}") == f"Bearer {REDACTED}"


def test_harmless_text_is_left_alone():
    line = "GET /api/exam/timer/remaining/12/?tokens_left=3 200"
    assert redact_tokens(line) == line


def test_logging_filter_redacts_formatted_messages():
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", (f"/x?token={JWT}",), None
    )
    assert RedactTokensFilter().filter(record) is True
    assert record.getMessage() == f"Not Found: /x?token={REDACTED}"


def _handlers_reached_from(name: str) -> list[logging.Handler]:
    """Every handler a record of logger `name` reaches, as `logging` walks up the hierarchy."""
    found, logger = [], logging.getLogger(name)
    while logger is not None:
        found += logger.handlers
        logger = logger.parent if logger.propagate else None
    return found


def test_every_handler_of_url_logging_loggers_redacts():
    """Loggers that write URLs (requests, runservers, daphne) reach only redacting handlers of ours."""
    for name in ("django.request", "django.server", "django.channels.server", "daphne.server", "attempts"):
        handlers = [h for h in _handlers_reached_from(name) if type(h).__module__.startswith("logging")]
        assert handlers, name
        for handler in handlers:
            assert any(isinstance(f, RedactTokensFilter) for f in handler.filters), (name, handler)


def test_daphnes_access_log_writer_redacts_the_request_line():
    """daphne's real AccessLogGenerator (patched by settings) writing an HTTP and a WebSocket entry."""
    token = JWT
    stream = io.StringIO()
    log = AccessLogGenerator(stream)
    log(
        "http",
        "complete",
        {
            "path": f"/ws/attempts/1/?token={token}",
            "status": 404,
            "method": "GET",
            "client": "127.0.0.1:5000",
            "size": 10,
        },
    )
    log("websocket", "connecting", {"path": f"/ws/attempts/1/?token={token}", "client": "127.0.0.1:5000"})
    text = stream.getvalue()
    assert token not in text
    assert text.count(REDACTED) == 2
