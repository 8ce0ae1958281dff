"""When a socket gets a `warning`: its attempt's time left crosses one of the exam's `warning_minutes`.

The rules (docs/websocket.md, "warning"):

- A threshold fires when one ticker pass sees the time left above it and the next at or below
  it, while the socket is connected. A socket that connects at or below a threshold is not
  warned for it: the page shows the time left anyway, and a warning on every reconnect would
  repeat what the student was told before.
- Once per socket per threshold: a fired threshold stays fired, so the few milliseconds by
  which the Redis TTL and the cached deadline disagree (Redis going away and coming back) can
  never warn twice.
- An extension re-arms the thresholds it lifts the time left above (`rearm`, from the socket's
  `time_changed`): the time will cross them again, and the student should hear it again.
- When one pass crosses several thresholds at once (only a deadline moved down could do it),
  the socket gets one frame, for the smallest: the most urgent is the one worth reading.

Pure bookkeeping: the ticker feeds it the seconds of its existing pass, so warnings cost no
Redis read and no database trip of their own.
"""

from __future__ import annotations

from collections.abc import Iterable

from attempts.models import MAX_WARNING_MINUTES


def thresholds_of(warning_minutes: object) -> tuple[int, ...]:
    """The exam's `warning_minutes` as whole minutes, largest first; anything unusable is left out.

    The admin validates the list; rows written around it (a raw update, an old fixture) must
    not break a socket.
    """
    if not isinstance(warning_minutes, list | tuple):
        return ()
    minutes = {
        m for m in warning_minutes if isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= MAX_WARNING_MINUTES
    }
    return tuple(sorted(minutes, reverse=True))


class SocketWarnings:
    """The thresholds of one socket: the time left its last pass saw, and which thresholds fired."""

    __slots__ = ("_fired", "_highest_armed", "_last_seconds", "_minutes")

    def __init__(self, minutes: Iterable[int], *, seconds_left: int) -> None:
        self._minutes = tuple(minutes)
        self._last_seconds = seconds_left  # what the socket was shown on connect
        self._fired: set[int] = set()
        self._highest_armed = self._highest()

    def _highest(self) -> int:
        # Most passes of an exam are above every armed threshold: one comparison per socket then.
        return max((m * 60 for m in self._minutes if m not in self._fired), default=-1)

    def crossed(self, seconds_left: int) -> int | None:
        """The minutes to warn for now that a pass saw `seconds_left`, or None."""
        last, self._last_seconds = self._last_seconds, seconds_left
        if seconds_left > self._highest_armed:
            return None
        crossed = [m for m in self._minutes if m not in self._fired and last > m * 60 >= seconds_left]
        if not crossed:
            return None
        self._fired.update(crossed)
        self._highest_armed = self._highest()
        return min(crossed)

    def rearm(self, seconds_left: int) -> None:
        """The deadline moved and `seconds_left` remain: thresholds now below the time left may fire again."""
        self._fired = {m for m in self._fired if m * 60 >= seconds_left}
        self._highest_armed = self._highest()
