"""Turns the domain's events into channel-layer messages: the only way the domain reaches a socket.

Registered in `RealtimeConfig.ready`. Messages to an attempt's sockets go out before those to
the proctors, so a student hears of a change to the attempt no later than the dashboard does.
Channel-layer messages are msgpack: times travel as Unix milliseconds, not datetimes.
"""

from __future__ import annotations

from collections.abc import Sequence

from attempts import clock, events
from attempts.models import Attempt
from realtime import frames
from realtime.groups import attempt_group, proctor_group
from realtime.outbox import outbox


def _to_proctors(exam_id: int, frame: dict) -> tuple[str, dict]:
    return proctor_group(exam_id), {"type": "proctor.event", "frame": frame}


def _time_changed(event: events.TimeChanged) -> tuple[tuple[str, dict], tuple[str, dict]]:
    """The attempt's sockets get this change; proctors the attempt's sum of changes, and who made it."""
    deadline_ms = frames.unix_ms(event.deadline_at)
    seconds = clock.seconds_to(event.deadline_at)
    to_socket = frames.time_changed_frame(
        attempt_id=event.attempt_id,
        remaining_seconds=seconds,
        deadline_ms=deadline_ms,
        change_seconds=event.change_seconds,
        reason=event.reason,
    )
    to_proctor = frames.attempt_time_changed_frame(
        attempt_id=event.attempt_id,
        status=Attempt.Status.ONGOING.value,  # only an ongoing attempt's time changes
        remaining_seconds=seconds,
        deadline_ms=deadline_ms,
        total_change_seconds=event.total_change_seconds,
        offline_credited_seconds=event.offline_credited_seconds,
        reason=event.reason,
        by=event.by,
    )
    # The consumer hands `deadline_ms` to its process's ticker, whose cached deadline must follow.
    message = {"type": "attempt.time_changed", "frame": to_socket, "deadline_ms": deadline_ms}
    return (attempt_group(event.attempt_id), message), _to_proctors(event.exam_id, to_proctor)


def _announcement(event: events.AnnouncementPosted) -> tuple[list[tuple[str, dict]], tuple[str, dict]]:
    """One message per attempt that was ongoing when it was posted; one to the exam's proctors."""
    frame = frames.announcement_frame(
        exam_id=event.exam_id,
        announcement_id=event.announcement_id,
        message=event.message,
        created_ms=frames.unix_ms(event.created_at),
    )
    message = {"type": "attempt.announcement", "frame": frame}
    to_sockets = [(attempt_group(attempt_id), message) for attempt_id in event.attempt_ids]
    return to_sockets, _to_proctors(event.exam_id, frames.proctor_announcement_frame(frame, by=event.by))


def _answer_to_tabs(event: events.AnswerSaved) -> tuple[str, dict]:
    """Every open tab of the attempt (the saving one too, which knows already) shows the stored choice."""
    frame = frames.attempt_answer_saved_frame(
        attempt_id=event.attempt_id, question_id=event.question_id, selected_option=event.selected_option
    )
    return attempt_group(event.attempt_id), {"type": "attempt.answer_saved", "frame": frame}


def messages_for(batch: Sequence[events.Event]) -> list[tuple[str, dict]]:
    """The (group, message) pairs that tell sockets and dashboards about `batch`, sockets first."""
    to_sockets, to_proctors = [], []
    for event in batch:
        if isinstance(event, events.AttemptStarted):
            to_proctors.append(_to_proctors(event.exam_id, frames.attempt_started_frame(event.row)))
        elif isinstance(event, events.AnswerSaved):
            to_sockets.append(_answer_to_tabs(event))
            frame = frames.answer_saved_frame(attempt_id=event.attempt_id, status=event.status, answered=event.answered)
            to_proctors.append(_to_proctors(event.exam_id, frame))
        elif isinstance(event, events.AttemptEnded):
            end = frames.end_frame(event.attempt_id, event.status, by_proctor=event.by is not None)
            to_sockets.append((attempt_group(event.attempt_id), {"type": "attempt.ended", "frame": end}))
            frame = frames.result_frame(
                attempt_id=event.attempt_id,
                status=event.status,
                score=event.score,
                percentage=event.percentage,
                total_marks=event.total_marks,
                by=event.by,
            )
            to_proctors.append(_to_proctors(event.exam_id, frame))
        elif isinstance(event, events.TimeChanged):
            to_socket, to_proctor = _time_changed(event)
            to_sockets.append(to_socket)
            to_proctors.append(to_proctor)
        elif isinstance(event, events.AnnouncementPosted):
            to_each, to_proctor = _announcement(event)
            to_sockets += to_each
            to_proctors.append(to_proctor)
        elif isinstance(event, events.PresenceChanged):
            since = None if event.offline_since is None else frames.unix_ms(event.offline_since)
            frame = frames.presence_frame(
                attempt_id=event.attempt_id,
                connected=event.connected,
                offline_seconds=event.offline_seconds,
                offline_since_ms=since,
            )
            to_proctors.append(_to_proctors(event.exam_id, frame))
        elif isinstance(event, events.AttemptReopened):
            # No socket of the attempt is open: its end closed them all. The student's page resumes it.
            to_proctors.append(_to_proctors(event.exam_id, frames.attempt_reopened_frame(event.row, by=event.by)))
    return to_sockets + to_proctors


def relay(batch: Sequence[events.Event]) -> None:
    """The subscriber: queue `batch` in the process's outbox, which publishes it off this thread.

    Called after commit; returns at once. The outbox sends in order and retries while the
    channel layer's Redis is unreachable, logging one line per outage, not a traceback:
    a publish failure never reaches the committing caller (`realtime.outbox`).
    """
    outbox().put(batch)
