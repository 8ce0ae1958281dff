"""The WebSocket protocol's fixed parts: close codes, limits, and reading a client frame.

Server frames are built in `realtime.frames`; this module decides what a client sent and
how a socket closes (docs/websocket.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from attempts import errors

# Close codes (docs/websocket.md). 4xxx mirror the HTTP status a REST call would get.
CLOSE_NORMAL = 1000  # the attempt was submitted
CLOSE_POLICY_VIOLATION = 1008  # the client sent frames faster than any page would
CLOSE_TOO_BIG = 1009  # a frame over MAX_FRAME_BYTES
CLOSE_UNAUTHENTICATED = 4401  # no, bad or expired token (also: a renewal for another user)
CLOSE_FORBIDDEN = 4403  # not your attempt, or not a proctor of the exam
CLOSE_NOT_FOUND = 4404  # no such attempt or exam
CLOSE_TIMEOUT = 4408  # the attempt's time ran out
CLOSE_TOO_MANY = 4429  # too many sockets of this attempt or user, or too many refused connects from the address

MAX_FRAME_BYTES = 4096  # frames over 4 KiB close the socket with 1009
# A page sends a ping every few seconds and a sync now and then; 20 a second is a runaway
# loop or an attack, and each frame costs this process work that other sockets wait for.
MAX_FRAMES_PER_SECOND = 20
# Never echo a long client string back in an error frame.
MAX_ECHOED_CHARS = 40

# A refused socket's `refused` frame (before 4429): `reason`, its text, and when to try again. A
# full cap frees when a tab closes, which the server cannot foresee: the page tries again then.
TOO_MANY_SOCKETS = ("too_many_sockets", "Too many connections for this attempt.", 30)
TOO_MANY_REFUSALS = ("too_many_refusals", "Too many refused connections from your address.")

CLIENT_FRAME_TYPES = ("ping", "sync", "auth")

# How a socket closes on each domain error its first read can raise: the one mapping.
ERROR_CLOSE_CODES: dict[type[errors.DomainError], int] = {
    errors.NotFound: CLOSE_NOT_FOUND,
    errors.NotYourAttempt: CLOSE_FORBIDDEN,
    errors.StaffOnly: CLOSE_FORBIDDEN,
}
# How an attempt's sockets close when it ends, by the attempt's status.
END_CLOSE_CODES = {"timeout": CLOSE_TIMEOUT, "completed": CLOSE_NORMAL}


def close_code_for(error: errors.DomainError) -> int:
    """The close code of a domain error the socket refuses with; any other refusal is a 4403."""
    return ERROR_CLOSE_CODES.get(type(error), CLOSE_FORBIDDEN)


def close_codes() -> dict[str, int]:
    """Every close code above by its name without `CLOSE_` (`TIMEOUT`: 4408), for the pages."""
    return {
        name.removeprefix("CLOSE_"): value
        for name, value in globals().items()
        if name.startswith("CLOSE_") and isinstance(value, int)
    }


class UnusableFrame(Exception):
    """A client frame the server cannot use; its message goes back in an `error` frame."""


@dataclass(frozen=True)
class ClientFrame:
    type: str
    token: str | None = None  # only for `auth`


def parse_client_frame(text: str) -> ClientFrame:
    """The client frame in `text`, or UnusableFrame saying what is wrong with it."""
    try:
        payload = json.loads(text)
    except ValueError:
        raise UnusableFrame("Frame is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise UnusableFrame("Frame must be a JSON object.")
    kind = payload.get("type")
    if not isinstance(kind, str):
        raise UnusableFrame('Frame needs a string "type".')
    if kind not in CLIENT_FRAME_TYPES:
        raise UnusableFrame(
            f"Unknown frame type {kind[:MAX_ECHOED_CHARS]!r}; expected one of: {', '.join(CLIENT_FRAME_TYPES)}."
        )
    if kind == "auth":
        token = payload.get("token")
        if not isinstance(token, str) or not token:
            raise UnusableFrame('Frame "auth" needs a string "token".')
        return ClientFrame(type=kind, token=token)
    return ClientFrame(type=kind)


def frame_size(text: str | None, data: bytes | None) -> int:
    """The size in bytes of a received frame, text or binary."""
    if text is not None:
        return len(text.encode("utf-8"))
    return len(data or b"")
