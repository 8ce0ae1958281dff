"""Every frame the server sends on a socket, built in one place (docs/websocket.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from attempts.texts import COMPLETED_MESSAGE, TIMEOUT_MESSAGE


def tick_frame(attempt_id: int, remaining_seconds: int, *, remaining_ms: int, deadline_ms: int) -> dict:
    """The countdown frame a socket receives on connect and then once a second.

    `remaining_seconds` is rounded up, for display; `remaining_ms` (exact when the server read
    the timer) and `deadline_at` let a page reach zero at the deadline itself, not up to a
    second after it.
    """
    return {
        "type": "tick",
        "attempt_id": attempt_id,
        "status": "running",
        "remaining_seconds": remaining_seconds,
        "remaining_ms": remaining_ms,
        "deadline_at": iso_ms(deadline_ms),
    }


def iso_ms(unix_ms: int) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, from Unix milliseconds."""
    moment = datetime.fromtimestamp(unix_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def end_frame(attempt_id: int, status: str) -> dict:
    """The `timeout` or `completed` frame that ends an attempt's sockets."""
    if status == "timeout":
        return {
            "type": "timeout",
            "attempt_id": attempt_id,
            "status": "timeout",
            "remaining_seconds": 0,
            "message": TIMEOUT_MESSAGE,
        }
    return {
        "type": "completed",
        "attempt_id": attempt_id,
        "status": "completed",
        "remaining_seconds": 0,
        "message": COMPLETED_MESSAGE,
    }


def pong_frame() -> dict:
    """The answer to a client's `ping`."""
    return {"type": "pong"}


def error_frame(message: str) -> dict:
    """A client frame the server cannot use; the socket stays open."""
    return {"type": "error", "message": message}


def authenticated_frame(expires_at: int) -> dict:
    """The socket took a renewed token; it now lives until `expires_at` (Unix seconds)."""
    return {"type": "authenticated", "expires_at": expires_at}


def snapshot_frame(exam_id: int, rows: list[dict], *, exam_title: str) -> dict:
    """What a proctor dashboard receives on connect: one row per attempt (`attempts.selectors.attempt_row`)."""
    return {"type": "snapshot", "exam_id": exam_id, "exam_title": exam_title, "attempts": rows}


def attempt_started_frame(row: dict) -> dict:
    """Proctors: an attempt began (its row)."""
    return {"type": "attempt_started", **row}


def answer_saved_frame(*, attempt_id: int, status: str, answered: int) -> dict:
    """Proctors: how many questions an attempt has answered now."""
    return {"type": "answer_saved", "attempt_id": attempt_id, "status": status, "answered": answered}


def result_frame(*, attempt_id: int, status: str, score: int, percentage: float, total_marks: int) -> dict:
    """Proctors: an attempt ended (`attempt_timeout` or `attempt_submitted`) with its score."""
    return {
        "type": "attempt_timeout" if status == "timeout" else "attempt_submitted",
        "attempt_id": attempt_id,
        "status": status,
        "score": score,
        "percentage": percentage,
        "total_marks": total_marks,
    }
