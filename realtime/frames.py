"""Every frame the server sends on a socket, built in one place (docs/websocket.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from attempts.texts import COMPLETED_MESSAGE, ENDED_BY_PROCTOR_MESSAGE, TIMEOUT_MESSAGE


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


def tick_text(attempt_id: int, remaining_seconds: int, *, remaining_ms: int, deadline_at: str) -> str:
    """`json.dumps(tick_frame(...))`, byte for byte, for the ticker's pass: built without a dict or the encoder
    (0.36 us instead of 3.6 us measured here, 10,000 times a second on a full process). `deadline_at` is
    `iso_ms(deadline_ms)`, which the ticker keeps per attempt. Only whole numbers and an ISO string go in: nothing
    to escape."""
    return (
        f'{{"type": "tick", "attempt_id": {attempt_id:d}, "status": "running", "remaining_seconds": '
        f'{remaining_seconds:d}, "remaining_ms": {remaining_ms:d}, "deadline_at": "{deadline_at}"}}'
    )


def iso_ms(unix_ms: int) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, from Unix milliseconds."""
    moment = datetime.fromtimestamp(unix_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def unix_ms(moment: datetime) -> int:
    """Unix milliseconds of an aware datetime (what `iso_ms` takes, and channel-layer messages carry).

    Whole-number arithmetic: `timestamp() * 1000` can land a float a hair under the millisecond.
    """
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def end_frame(attempt_id: int, status: str, *, by_proctor: bool = False) -> dict:
    """The `timeout` or `completed` frame that ends an attempt's sockets (`by_proctor`: a proctor ended it)."""
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
        "message": ENDED_BY_PROCTOR_MESSAGE if by_proctor else COMPLETED_MESSAGE,
    }


def time_changed_frame(
    *, attempt_id: int, remaining_seconds: int, deadline_ms: int, change_seconds: int, reason: str
) -> dict:
    """A proctor moved the attempt's deadline by `change_seconds` (this change); the ticks that follow agree."""
    return {
        "type": "time_changed",
        "attempt_id": attempt_id,
        "remaining_seconds": remaining_seconds,
        "deadline_at": iso_ms(deadline_ms),
        "change_seconds": change_seconds,
        "reason": reason,
    }


def warning_frame(*, attempt_id: int, remaining_seconds: int, minutes_left: int) -> dict:
    """The attempt's time left just crossed one of its exam's `warning_minutes`."""
    unit = "minute" if minutes_left == 1 else "minutes"
    return {
        "type": "warning",
        "attempt_id": attempt_id,
        "remaining_seconds": remaining_seconds,
        "minutes_left": minutes_left,
        "message": f"{minutes_left} {unit} left",
    }


def announcement_frame(*, exam_id: int, announcement_id: int, message: str, created_ms: int) -> dict:
    """A proctor's announcement to everyone taking the exam (attempt sockets and dashboards alike)."""
    return {
        "type": "announcement",
        "exam_id": exam_id,
        "id": announcement_id,
        "message": message,
        "created_at": iso_ms(created_ms),
    }


def pong_frame() -> dict:
    """The answer to a client's `ping`."""
    return {"type": "pong"}


def error_frame(message: str) -> dict:
    """A client frame the server cannot use; the socket stays open."""
    return {"type": "error", "message": message}


def refused_frame(reason: str, message: str, retry_after: int) -> dict:
    """Why the socket is refused (then closed 4429), and in how many seconds to come back."""
    return {"type": "refused", "reason": reason, "message": message, "retry_after": retry_after}


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


def attempt_answer_saved_frame(*, attempt_id: int, question_id: int, selected_option: str) -> dict:
    """The attempt's sockets: a choice was saved (from any tab), so that every open tab shows it.

    Not the proctors' `answer_saved`: a student's other tabs need the choice, a dashboard only the count.
    """
    return {
        "type": "answer_saved",
        "attempt_id": attempt_id,
        "question_id": question_id,
        "selected_option": selected_option,
    }


def result_frame(
    *, attempt_id: int, status: str, score: int, percentage: float, total_marks: int, by: dict | None = None
) -> dict:
    """Proctors: an attempt ended (`attempt_timeout` or `attempt_submitted`) with its score.

    `by` is the proctor who ended it, None when the student submitted or the clock ran out.
    """
    return {
        "type": "attempt_timeout" if status == "timeout" else "attempt_submitted",
        "attempt_id": attempt_id,
        "status": status,
        "score": score,
        "percentage": percentage,
        "total_marks": total_marks,
        "by": by,
    }


def attempt_time_changed_frame(
    *,
    attempt_id: int,
    status: str,
    remaining_seconds: int,
    deadline_ms: int,
    total_change_seconds: int,
    offline_credited_seconds: int,
    reason: str,
    by: dict | None,
) -> dict:
    """Proctors: an attempt's deadline moved; `change_seconds` is the sum of its live changes so far, as in its row
    (and `offline_credited_seconds`, which a credit of offline time moves)."""
    return {
        "type": "attempt_time_changed",
        "attempt_id": attempt_id,
        "status": status,
        "remaining_seconds": remaining_seconds,
        "deadline_at": iso_ms(deadline_ms),
        "change_seconds": total_change_seconds,
        "reason": reason,
        "offline_credited_seconds": offline_credited_seconds,
        "by": by,
    }


def proctor_announcement_frame(frame: dict, *, by: dict | None) -> dict:
    """Proctors: the students' `announcement` frame, and which proctor posted it."""
    return {**frame, "by": by}


def attempt_reopened_frame(row: dict, *, by: dict | None) -> dict:
    """Proctors: an ended attempt is ongoing again (its row, as `attempt_started` has it)."""
    return {"type": "attempt_reopened", **row, "by": by}


def presence_frame(*, attempt_id: int, connected: bool, offline_seconds: int, offline_since_ms: int | None) -> dict:
    """Proctor socket: the attempt's page connected or went away (`offline_since`: ISO 8601, null while connected)."""
    return {
        "type": "presence",
        "attempt_id": attempt_id,
        "connected": connected,
        "offline_seconds": offline_seconds,
        "offline_since": None if offline_since_ms is None else iso_ms(offline_since_ms),
    }
