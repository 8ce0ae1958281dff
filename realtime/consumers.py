"""The two sockets: one per exam attempt, and the proctor dashboard of an exam (docs/websocket.md).

Transport only: authorize, join the group, read the first state through the domain, send
it; then relay what the ticker and the channel layer bring.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from attempts import access, audit, clock, errors, selectors, socket_caps
from attempts.models import Attempt
from realtime import auth, frames, protocol
from realtime.base_consumer import JWTSocketConsumer
from realtime.db import socket_db
from realtime.groups import attempt_group, proctor_group
from realtime.presence import LocalPresence, get_presence
from realtime.ticker import Ticker, get_ticker
from realtime.time_warnings import thresholds_of

logger = logging.getLogger(__name__)


def _attempt_state(*, token, attempt_id: int) -> tuple[object, Attempt, int] | None:
    """The token's user, their attempt (404/403 as domain errors) and its seconds left, as the REST `remaining`
    sees them; None when the token's user may not use it (4401).

    One query for the user and the attempt when the attempt is theirs (every connect but a refusal).
    """
    attempt = selectors.attempt_with_owner(attempt_id=attempt_id)
    if attempt is not None and attempt.user_id == auth.user_id_of(token):
        user = attempt.user if auth.user_accepts_token(attempt.user, token) else None
    else:
        user = auth.user_of(token)  # a refusal: still 4401 first for a user who may not use the token
    if user is None:
        return None
    if attempt is None:
        raise errors.NotFound()
    if attempt.user_id != user.pk:
        raise errors.NotYourAttempt()
    return user, attempt, clock.attempt_reconcile(attempt=attempt)  # expires a due attempt, restores a lost timer


def _proctor(*, token, user, exam_id: int):
    """The user (the token's, when `user` is None) if they may watch the exam (DomainError otherwise); None when
    the token's user may not use it (4401)."""
    if user is None:
        user = auth.user_of(token)
        if user is None:
            return None
    access.exam_for_proctor(user=user, exam_id=exam_id)
    return user


def _end_of(*, attempt_id: int, status: str) -> dict:
    """The last frame of an attempt that is over, read as it ended: a proctor's end has its own message."""
    by_proctor = status == Attempt.Status.COMPLETED and audit.ended_by_proctor(attempt_id)
    return frames.end_frame(attempt_id, status, by_proctor=by_proctor)


# The processes that wrote the rows and this one may read their clocks a little apart.
CATCH_UP_MARGIN_SECONDS = 1.0


def _missed(*, attempts: dict[int, int], since: float) -> dict[int, list[dict]]:
    """Per attempt (id -> its exam's id), the frames its sockets were sent from `since` on (Unix time), again:
    the page keeps one banner per announcement id, and a choice's frame says what is stored now. Two queries
    for all of them."""
    moment = datetime.fromtimestamp(since - CATCH_UP_MARGIN_SECONDS, UTC)
    published = selectors.published_since(attempts=attempts, since=moment)
    missed: dict[int, list[dict]] = {}
    for attempt_id, exam_id in attempts.items():
        missed[attempt_id] = [
            frames.announcement_frame(
                exam_id=row.exam_id,
                announcement_id=row.pk,
                message=row.message,
                created_ms=frames.unix_ms(row.created_at),
            )
            for row in published.announcements.get(exam_id, [])
        ] + [
            frames.attempt_answer_saved_frame(attempt_id=attempt_id, question_id=question_id, selected_option=option)
            for question_id, option in published.answers.get(attempt_id, [])
        ]
    return missed


def _snapshot(*, exam_id: int) -> dict:
    view = selectors.proctor_view(exam_id=exam_id)
    return frames.snapshot_frame(view.exam_id, view.rows, exam_title=view.exam_title)


class AttemptConsumer(JWTSocketConsumer):
    """`/ws/attempts/<attempt_id>/`: the countdown of one attempt, and how it ends."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.attempt_id: int | None = None
        self.exam_id: int | None = None
        self.group: str | None = None
        self.ticker: Ticker | None = None
        self.presence: LocalPresence | None = None  # set once the socket counts as the student's page

    async def open(self) -> None:
        self.attempt_id = self.scope["url_route"]["kwargs"]["attempt_id"]
        self.group = attempt_group(self.attempt_id)
        # Join before reading: an end broadcast sent between the read and the join would be lost.
        await self.join(self.group)
        try:
            state = await socket_db(_attempt_state)(token=self.token, attempt_id=self.attempt_id)
        except errors.DomainError as error:
            await self.end(protocol.close_code_for(error))
            return
        if state is None:
            await self.end(protocol.CLOSE_UNAUTHENTICATED)
            return
        self.user, attempt, seconds = state
        self.exam_id = attempt.exam_id
        if attempt.status != Attempt.Status.ONGOING:
            await self.attempt_over(attempt.status)
            return
        if self.is_closed:  # the token ran out while we read
            return
        if not await self.take_place(socket_caps.student_caps(attempt_id=self.attempt_id, user_id=self.user.pk)):
            return
        await self.send_frame(
            frames.tick_frame(
                self.attempt_id,
                seconds,
                remaining_ms=max(0, clock.ms_until(attempt.deadline_at)),
                deadline_ms=frames.unix_ms(attempt.deadline_at),
            )
        )
        self.ticker = get_ticker()
        self.ticker.register(
            self,
            attempt_id=self.attempt_id,
            deadline_at=attempt.deadline_at,
            warning_minutes=thresholds_of(attempt.exam.warning_minutes),  # read with the attempt: no extra trip
            seconds_left=seconds,
        )
        self.presence = get_presence()
        self.presence.opened(self.attempt_id, self)

    async def on_rejoined(self, since: float) -> None:
        await self.on_rejoined_many([self], since)

    @staticmethod
    async def on_rejoined_many(sockets: list[AttemptConsumer], since: float) -> None:
        """Announcements and saved choices published while the layer's Redis had lost these sockets' groups
        never came: sent again from the database, read once for all of them. An end comes back through the
        ticker (the timer of an ended attempt is gone), a time change with the next tick."""
        live = [socket for socket in sockets if not socket.is_closed and socket.exam_id is not None]
        if not live:
            return
        missed = await socket_db(_missed)(attempts={s.attempt_id: s.exam_id for s in live}, since=since)
        for socket in live:
            try:
                for frame in missed.get(socket.attempt_id, []):
                    if socket.is_closed:
                        break
                    await socket.send_frame(frame)
            except Exception as exc:  # one socket's failure is not the others'
                logger.warning("catch-up of attempt %s's socket failed: %s", socket.attempt_id, exc)

    async def attempt_ended(self, message: dict) -> None:
        """Channel-layer `attempt.ended`: send its `timeout`/`completed` frame and close."""
        frame = message["frame"]
        await self.end(protocol.END_CLOSE_CODES.get(frame.get("status"), protocol.CLOSE_NORMAL), frame)

    async def attempt_time_changed(self, message: dict) -> None:
        """Channel-layer `attempt.time_changed`: this process's ticker learns the new deadline, the page the change."""
        if self.ticker is not None:
            deadline_at = datetime.fromtimestamp(message["deadline_ms"] / 1000, UTC)
            self.ticker.deadline_moved(self, attempt_id=self.attempt_id, deadline_at=deadline_at)
        await self.send_frame(message["frame"])

    async def attempt_announcement(self, message: dict) -> None:
        """Channel-layer `attempt.announcement`: forward a proctor's announcement."""
        await self.send_frame(message["frame"])

    async def attempt_answer_saved(self, message: dict) -> None:
        """Channel-layer `attempt.answer_saved`: a choice saved from any tab, so this tab shows it too."""
        await self.send_frame(message["frame"])

    async def attempt_over(self, status: str | None) -> None:
        """The attempt ended with `status` (None: it is gone): last frame, then close.

        Reached on connect and from the ticker's safety nets, not from the end broadcast; a
        `completed` attempt is looked up once more, so a proctor's end reads as one here too.
        """
        if status is None:
            await self.end(protocol.CLOSE_NOT_FOUND)
            return
        if status == Attempt.Status.COMPLETED and not self.is_closed:
            frame = await socket_db(_end_of)(attempt_id=self.attempt_id, status=status)
        else:
            frame = frames.end_frame(self.attempt_id, status)
        await self.end(protocol.END_CLOSE_CODES[status], frame)

    async def on_sync(self) -> None:
        if self.ticker is not None:
            await self.ticker.tick_now(self, attempt_id=self.attempt_id)

    async def on_closing(self) -> None:
        if self.ticker is not None:
            self.ticker.unregister(self, attempt_id=self.attempt_id)
        if self.presence is not None:
            self.presence.closed(self.attempt_id, self)

    async def leave(self) -> None:
        if self.group is not None:
            await self.part(self.group)


class ProctorConsumer(JWTSocketConsumer):
    """`/ws/proctor/exams/<exam_id>/`: a snapshot of the exam's attempts, then every event; the exam's proctors only."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.exam_id: int | None = None
        self.group: str | None = None
        self.presence: LocalPresence | None = None

    async def open(self) -> None:
        self.exam_id = self.scope["url_route"]["kwargs"]["exam_id"]
        if not await self._allowed():
            return
        if not await self.take_place(socket_caps.proctor_caps(user_id=self.user.pk)):
            return
        self.group = proctor_group(self.exam_id)
        # Join before the snapshot: an event is then in the snapshot, or follows it, or both.
        await self.join(self.group)
        self.presence = get_presence()
        self.presence.watch(self)  # a watched exam's students are seen gone when their process dies
        await self._send_snapshot()

    async def _send_snapshot(self) -> None:
        try:
            snapshot = await socket_db(_snapshot)(exam_id=self.exam_id)
        except errors.DomainError as error:
            await self.end(protocol.close_code_for(error))
            return
        await self.send_frame(snapshot)

    async def proctor_event(self, message: dict) -> None:
        """Channel-layer `proctor.event`: forward its frame."""
        await self.send_frame(message["frame"])

    async def on_sync(self) -> None:
        await self._send_snapshot()

    async def on_rejoined(self, since: float) -> None:
        # The events published while the layer's Redis had lost this group never came: a fresh
        # snapshot holds what they said.
        await self._send_snapshot()

    async def _allowed(self) -> bool:
        """True if the user may watch this exam (its proctors, or every staff user when it names none);
        otherwise the socket is closed (4401 for a user who may not use the token, 4403, or 4404 for an exam
        that does not exist). The user is read with the check on connect: one trip."""
        try:
            user = await socket_db(_proctor)(token=self.token, user=self.user, exam_id=self.exam_id)
        except errors.DomainError as error:
            await self.end(protocol.close_code_for(error))
            return False
        if user is None:
            await self.end(protocol.CLOSE_UNAUTHENTICATED)
            return False
        self.user = user
        return True

    async def on_closing(self) -> None:
        if self.presence is not None:
            self.presence.unwatch(self)

    async def on_renewed(self) -> None:
        # Asked again on every renewal: a proctor taken off the exam, or no longer staff, is cut off then.
        await self._allowed()

    async def leave(self) -> None:
        if self.group is not None:
            await self.part(self.group)
