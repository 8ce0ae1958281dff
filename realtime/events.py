"""Group names, frames and channel-layer events: built in one place, sent after commit.

Two families of groups: `attempt.<id>` holds every socket of one attempt (any process),
`proctor.exam.<id>` every proctor dashboard of one exam.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

TIMEOUT_MESSAGE = "Exam time has expired"
# Bound on one publish through the dedicated loop: a dead channel-layer Redis must not hang the caller.
PUBLISH_TIMEOUT_SECONDS = 10.0
# Publishes in flight at once when many attempts end together (each is a few Redis round trips).
# Well under the layer's connection pool (100), also with EXPIRY_THREADS batches publishing at once.
PUBLISH_CONCURRENCY = 16
COMPLETED_MESSAGE = "Exam already submitted"


def attempt_group(attempt_id: int) -> str:
    """The group of every socket of one attempt."""
    return f"attempt.{attempt_id}"


def proctor_group(exam_id: int) -> str:
    """The group of every proctor dashboard of one exam."""
    return f"proctor.exam.{exam_id}"


def tick_frame(attempt_id: int, remaining_seconds: int) -> dict:
    """The countdown frame a socket receives on connect and then once a second."""
    return {
        "type": "tick",
        "attempt_id": attempt_id,
        "status": "running",
        "remaining_seconds": remaining_seconds,
    }


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
    """What a proctor dashboard receives on connect: one row per attempt (see `attempt_row`)."""
    return {"type": "snapshot", "exam_id": exam_id, "exam_title": exam_title, "attempts": rows}


def attempt_row(attempt, *, remaining_seconds: int, answered: int, total_questions: int) -> dict:
    """One attempt as the proctor dashboard shows it (snapshot row, `attempt_started`)."""
    return {
        "attempt_id": attempt.pk,
        "user": {"id": attempt.user_id, "username": attempt.user.username},
        "status": attempt.status,
        "remaining_seconds": remaining_seconds,
        "answered": answered,
        "total_questions": total_questions,
        "started_at": attempt.started_at.isoformat(),
        "deadline_at": attempt.deadline_at.isoformat(),
        "score": attempt.score,
    }


_dedicated_loop: asyncio.AbstractEventLoop | None = None


@contextmanager
def dedicated_publishing_loop() -> Iterator[None]:
    """Inside this block, publish through one long-lived event loop: for plain sync processes (expiry worker).

    Outside an ASGI server, async_to_sync builds an event loop, a thread and a new Redis
    connection for every call: ~2 ms per publish, two connections per timeout. One loop
    kept running keeps its connection: ~0.25 ms per publish (measured, 1,000 publishes).
    """
    global _dedicated_loop
    if _dedicated_loop is not None:  # already inside one (several workers in one process): share it
        yield
        return
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="events-publisher", daemon=True)
    thread.start()
    _dedicated_loop = loop
    try:
        yield
    finally:
        _dedicated_loop = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()  # channels-redis closes its connections of this loop here


async def _group_send_all(messages: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)

    async def one(group: str, message: dict) -> None:
        async with gate:
            await layer.group_send(group, message)

    # Every message is tried even when one fails; the first failure is raised afterwards.
    outcomes = await asyncio.gather(*(one(group, message) for group, message in messages), return_exceptions=True)
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        raise failures[0]


def publish(messages: list[tuple[str, dict]]) -> None:
    """Publish (group, message) pairs, several in flight at once, in order of starting.

    A mass timeout's thousands of publishes one after the other took seconds of round trips
    (bench/README.md).
    """
    loop = _dedicated_loop
    if loop is None:
        async_to_sync(_group_send_all)(messages)
        return
    future = asyncio.run_coroutine_threadsafe(_group_send_all(messages), loop)
    try:
        future.result(timeout=PUBLISH_TIMEOUT_SECONDS + len(messages) / PUBLISH_CONCURRENCY)
    except TimeoutError:
        future.cancel()
        raise


def _to_proctors(exam_id: int, frame: dict) -> None:
    publish([(proctor_group(exam_id), {"type": "proctor.event", "frame": frame})])


def attempt_started(attempt) -> None:
    """Tell the exam's proctors that an attempt began."""
    total = attempt.exam.questions.count()
    row = attempt_row(
        attempt,
        remaining_seconds=attempt.exam.duration_minutes * 60,
        answered=0,
        total_questions=total,
    )
    _to_proctors(attempt.exam_id, {"type": "attempt_started", **row})


def answer_saved(attempt, *, answered: int) -> None:
    """Tell the exam's proctors how many questions an attempt has answered."""
    frame = {
        "type": "answer_saved",
        "attempt_id": attempt.pk,
        "status": attempt.status,
        "answered": answered,
    }
    _to_proctors(attempt.exam_id, frame)


def end_messages(attempts: list, results: dict) -> list[tuple[str, dict]]:
    """What the end of these attempts tells their sockets (first) and their exams' proctors.

    `results` maps each attempt id to its `attempts.scoring.Result`.
    """
    to_sockets = [
        (attempt_group(attempt.pk), {"type": "attempt.ended", "frame": end_frame(attempt.pk, attempt.status)})
        for attempt in attempts
    ]
    to_proctors = [
        (
            proctor_group(attempt.exam_id),
            {"type": "proctor.event", "frame": _result_frame(attempt, results[attempt.pk])},
        )
        for attempt in attempts
    ]
    return to_sockets + to_proctors


def _result_frame(attempt, result) -> dict:
    kind = "attempt_timeout" if attempt.status == "timeout" else "attempt_submitted"
    return {
        "type": kind,
        "attempt_id": attempt.pk,
        "status": attempt.status,
        "score": result.score,
        "percentage": result.percentage,
        "total_marks": result.total_marks,
    }
