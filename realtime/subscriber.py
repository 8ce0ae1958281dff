"""Turns the domain's events into channel-layer messages: the only way the domain reaches a socket.

Registered in `RealtimeConfig.ready`. Messages to an attempt's sockets go out before those to
the proctors, so a student hears of the end of an attempt no later than the dashboard does.
"""

from __future__ import annotations

from collections.abc import Sequence

from attempts import events
from realtime import frames, publisher
from realtime.groups import attempt_group, proctor_group


def _to_proctors(exam_id: int, frame: dict) -> tuple[str, dict]:
    return proctor_group(exam_id), {"type": "proctor.event", "frame": frame}


def messages_for(batch: Sequence[events.Event]) -> list[tuple[str, dict]]:
    """The (group, message) pairs that tell sockets and dashboards about `batch`, sockets first."""
    to_sockets, to_proctors = [], []
    for event in batch:
        if isinstance(event, events.AttemptStarted):
            to_proctors.append(_to_proctors(event.exam_id, frames.attempt_started_frame(event.row)))
        elif isinstance(event, events.AnswerSaved):
            frame = frames.answer_saved_frame(attempt_id=event.attempt_id, status=event.status, answered=event.answered)
            to_proctors.append(_to_proctors(event.exam_id, frame))
        elif isinstance(event, events.AttemptEnded):
            ended = {"type": "attempt.ended", "frame": frames.end_frame(event.attempt_id, event.status)}
            to_sockets.append((attempt_group(event.attempt_id), ended))
            frame = frames.result_frame(
                attempt_id=event.attempt_id,
                status=event.status,
                score=event.score,
                percentage=event.percentage,
                total_marks=event.total_marks,
            )
            to_proctors.append(_to_proctors(event.exam_id, frame))
    return to_sockets + to_proctors


def relay(batch: Sequence[events.Event]) -> None:
    """The subscriber: publish what `batch` tells sockets and dashboards."""
    messages = messages_for(batch)
    if messages:
        publisher.publish(messages)
