"""What every socket of ours shares: token checks and lifetime, frame limits, ping and auth.

Subclasses add the content: `open()` once the user is known, `on_sync()`, `on_closing()`
and `leave()`. Every close goes through `end()`, which runs once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from attempts import rate_limits
from realtime import fast_send, frames, layer_groups, protocol
from realtime.auth import TOKEN_INVALID, client_address, identity_for_token
from realtime.db import socket_db
from realtime.presence import get_presence

logger = logging.getLogger(__name__)

# The close of a socket whose channel layer stayed unreachable beyond the pool's retries: the page
# reconnects (docs/websocket.md). Not in `protocol`: the pages treat it as any unexpected close.
CLOSE_LAYER_UNREACHABLE = 1011
# Refusals of a connect that count against its client address (settings.SOCKET_REFUSAL_RATE): those that
# suggest a guesser. Also a 4401 for a token we did not sign (`realtime.auth.TOKEN_INVALID`); not one for an
# expired token, a missing one or a user who may no longer use theirs: an exam hall behind one NAT whose network
# was out comes back with hundreds of expired tokens, and must not be refused for the rest of the minute.
REFUSAL_CODES = frozenset({protocol.CLOSE_FORBIDDEN, protocol.CLOSE_NOT_FOUND})


class JWTSocketConsumer(AsyncWebsocketConsumer):
    """A WebSocket that lives only as long as a valid access token of one user."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = None  # set by `open()`, from the database
        self.token = None  # the connection's validated access token
        self.is_closed = False
        self._token_timer: asyncio.TimerHandle | None = None
        self._window_started = 0.0
        self._frames_in_window = 0
        self._background: set[asyncio.Task] = set()
        self._send_direct = None  # daphne's protocol, for the ticker's frames (`realtime.fast_send`); None: `send`
        self._connecting = False  # in websocket_connect: a refusal now counts against the address
        self._forged_token = False  # the connect's token is not one we signed: its 4401 counts against the address
        self._caps: tuple[object, list] | None = None  # (the presence, caps) this socket is counted under

    # --- hooks for subclasses ---------------------------------------------------------

    async def open(self) -> None:
        """The token is valid: read its user with what the socket reads anyway (`realtime.auth.user_accepts_token`;
        4401 unless it accepts), authorize, join groups, send the first frame."""

    async def on_sync(self) -> None:
        """The client asked for fresh state (`sync`)."""

    async def on_renewed(self) -> None:
        """The socket took a renewed token; `self.user` is fresh from the database."""

    async def on_closing(self) -> None:
        """The socket is closing or gone: stop pushing to it (may run more than once; must not suspend)."""

    async def leave(self) -> None:
        """The connection is gone: leave the groups joined in `open()`."""

    async def on_rejoined(self, since: float) -> None:
        """The channel layer's Redis lost this socket's groups and they were joined again: catch up
        on what was published from `since` (Unix time) on, if anything must be (`realtime.layer_groups`)."""

    # --- Channels plumbing ------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except layer_groups.LAYER_ERRORS as exc:
            # The channel layer's Redis stayed away longer than its pool retries (a restart is
            # ridden over): an outage, not a bug, so one line and not daphne's traceback.
            _log_layer_outage(exc)
            if not self.is_closed:
                self._mark_closed()
                with contextlib.suppress(Exception):  # the client may be gone already
                    await self.close(CLOSE_LAYER_UNREACHABLE)
        finally:
            # Also when the server cancels the consumer without a disconnect message: the
            # ticker must never keep pushing to a socket that is gone.
            self._mark_closed()
            await self.on_closing()
            layer_groups.forget(getattr(self, "channel_layer", None), self)

    async def dispatch(self, message):
        # Channels 4.2+ hops to its database thread before every handler to close stale
        # connections. Our database reads look after their connections themselves
        # (realtime/db.py), and a ping or a forwarded event must not queue on a database thread.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_connect(self, message):
        # Accept first, then refuse with a close code: a browser shows the code, while a
        # refused handshake would only say "failed".
        await self.accept()
        self._send_direct = fast_send.direct_sender(self.base_send)
        wait = await rate_limits.arefusals_wait(client_address(self.scope))
        if wait:
            reason, message = protocol.TOO_MANY_REFUSALS
            await self.end(protocol.CLOSE_TOO_MANY, frames.refused_frame(reason, message, wait))
            return
        self._connecting = True
        try:
            self.token = self.scope.get("token")  # validated by realtime.auth.JWTAuthMiddleware, without the database
            if self.token is None:
                self._forged_token = self.scope.get("token_problem") == TOKEN_INVALID
                await self.end(protocol.CLOSE_UNAUTHENTICATED)
                return
            self._expire_with_token(self.scope.get("token_expires_at"))
            await self.open()
        finally:
            self._connecting = False

    async def websocket_receive(self, message):
        if self.is_closed:
            return
        text, data = message.get("text"), message.get("bytes")
        if protocol.frame_size(text, data) > protocol.MAX_FRAME_BYTES:
            await self.end(protocol.CLOSE_TOO_BIG)
            return
        if self._flooding():
            await self.end(protocol.CLOSE_POLICY_VIOLATION)
            return
        if text is None:
            await self.send_frame(frames.error_frame("Frames must be JSON text, not binary."))
            return
        try:
            frame = protocol.parse_client_frame(text)
        except protocol.UnusableFrame as exc:
            await self.send_frame(frames.error_frame(str(exc)))
            return
        if frame.type == "ping":
            await self.send_frame(frames.pong_frame())
        elif frame.type == "auth":
            await self._renew(frame.token)
        else:
            await self.on_sync()

    async def websocket_disconnect(self, message):
        self._mark_closed()
        await self.on_closing()
        await self.leave()
        raise StopConsumer()

    # --- groups -----------------------------------------------------------------------

    async def join(self, group: str) -> None:
        """Join `group`, and again whenever the layer's Redis loses it (`realtime.layer_groups`)."""
        await layer_groups.layer_groups(self.channel_layer).join(self, group)

    async def part(self, group: str) -> None:
        """Leave `group`."""
        await layer_groups.layer_groups(self.channel_layer).part(self, group)

    # --- socket caps ------------------------------------------------------------------

    async def take_place(self, caps: list[tuple[str, int]]) -> bool:
        """Count this socket under `caps` (`attempts.socket_caps`); when one is full, close 4429 and False."""
        local = get_presence()  # its heartbeat tells the others this process is alive; it rewrites the counts
        if not await local.admit(caps):
            reason, message, retry_after = protocol.TOO_MANY_SOCKETS
            await self.end(protocol.CLOSE_TOO_MANY, frames.refused_frame(reason, message, retry_after))
            return False
        self._caps = (local, caps)  # also when Redis did not answer: the socket is held, the rewrite counts it
        if self.is_closed:  # gone while it was counted
            self._release_caps()
        return not self.is_closed

    def _release_caps(self) -> None:
        if self._caps is None:
            return
        local, caps = self._caps
        self._caps = None
        local.release(caps)

    # --- sending and closing ----------------------------------------------------------

    async def send_frame(self, frame: dict) -> None:
        """Send one frame unless the socket is closing."""
        if not self.is_closed:
            await self.send(text_data=json.dumps(frame))

    async def push_text(self, text: str) -> None:
        """Send an already encoded frame unless the socket is closing (the ticker's path)."""
        if not self.is_closed:
            await self.send(text_data=text)

    def push_now(self, encoded: fast_send.EncodedText) -> bool:
        """Send an already encoded frame at once, without a coroutine, unless the socket is closing: the ticker's
        path under daphne (`realtime.fast_send`). False when this socket has no such path: then the caller awaits
        `push_text`."""
        if self.is_closed:
            return True
        if self._send_direct is None:
            return False
        self._send_direct(encoded)
        return True

    async def end(self, code: int, frame: dict | None = None) -> None:
        """Send `frame` if given, then close with `code`; only the first call does anything."""
        if self.is_closed:
            return
        self._mark_closed()
        await self.on_closing()
        if frame is not None:
            await self.send(text_data=json.dumps(frame))
        await self.close(code)
        if self._connecting and (code in REFUSAL_CODES or self._forged_token):
            await rate_limits.arecord_refusal(client_address(self.scope))

    def _mark_closed(self) -> None:
        self.is_closed = True
        self._release_caps()
        if self._token_timer is not None:
            self._token_timer.cancel()
            self._token_timer = None

    # --- token lifetime ---------------------------------------------------------------

    def _expire_with_token(self, expires_at: int | None) -> None:
        """Close the socket with 4401 when the token of `expires_at` (Unix seconds) runs out."""
        if self._token_timer is not None:
            self._token_timer.cancel()
        delay = 0.0 if expires_at is None else max(0.0, expires_at - time.time())
        self._token_timer = asyncio.get_running_loop().call_later(delay, self._token_expired)

    def _token_expired(self) -> None:
        self._token_timer = None
        task = asyncio.get_running_loop().create_task(self.end(protocol.CLOSE_UNAUTHENTICATED))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _renew(self, raw_token: str) -> None:
        identity = await socket_db(identity_for_token)(raw_token)
        if identity is None or self.user is None or identity.user.pk != self.user.pk:
            await self.end(protocol.CLOSE_UNAUTHENTICATED)
            return
        self.user = identity.user
        self._expire_with_token(identity.expires_at)
        await self.send_frame(frames.authenticated_frame(identity.expires_at))
        await self.on_renewed()

    # --- flood control ----------------------------------------------------------------

    def _flooding(self) -> bool:
        """True once the client sent more than MAX_FRAMES_PER_SECOND frames within one second."""
        now = time.monotonic()
        if now - self._window_started >= 1.0:
            self._window_started = now
            self._frames_in_window = 0
        self._frames_in_window += 1
        return self._frames_in_window > protocol.MAX_FRAMES_PER_SECOND


# Sockets closed by one outage are logged as one line a second, not one each.
_outage_log = {"last": 0.0, "since": 0}


def _log_layer_outage(exc: Exception) -> None:
    now = time.monotonic()
    if now - _outage_log["last"] < 1.0:
        _outage_log["since"] += 1
        return
    more = _outage_log["since"]
    _outage_log.update(last=now, since=0)
    logger.warning(
        "socket ended (closed %d if open), channel layer Redis unreachable: %s%s",
        CLOSE_LAYER_UNREACHABLE,
        exc,
        f" ({more} more since the last such line)" if more else "",
    )
