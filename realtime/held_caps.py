"""This process's side of the socket caps: how many of its sockets count under each cap, and the repair.

An admit or a release changes this process's entry in Redis by one (`attempts.socket_caps`). One whose
answer is lost leaves the entry off for as long as the process lives: a release that failed (Redis briefly
unreachable) keeps a +1, an admit whose reply timed out was counted all the same, a Sentinel failover or a
restore loses or brings back changes. A student would be refused 4429 until that daphne restarts. So every
REWRITE_SECONDS this process writes its absolute count under its caps from the sockets it holds (`rewrite`, a
slice of REWRITE_SLICE caps at a time), as the presence registry is written again after any doubt. Admitting
stays one atomic script across processes; a rewrite waits for this process's admits and releases in flight and
holds new ones back for its round trips, so it never undoes one that Redis applied and this process has not counted yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from attempts import presence, socket_caps

logger = logging.getLogger(__name__)

# A count left off is right again this long after, for a process holding up to REWRITE_SLICE caps (~2 per
# student socket); one holding more rewrites the next slice each time, all of them every few tens of
# seconds, within the 20-40 s after which a refused page tries again. Sliced, because one script over
# 10,000 caps held Redis 100-240 ms every 2 s (every process's ticks waited behind it), and the
# process's admits waited for its round trip.
REWRITE_SECONDS = 2.0
REWRITE_SLICE = 500


class HeldCaps:
    """The sockets of this process counted under each cap (cap key -> count)."""

    def __init__(self, process_id: str) -> None:
        self.process_id = process_id
        self._held: dict[str, int] = {}
        self._dropped: set[str] = set()  # caps whose last socket here closed since the last rewrite
        self._in_flight = 0  # admits and releases sent and not answered
        self._drained = asyncio.Event()
        self._drained.set()
        self._rewriting = False
        self._rewritten = asyncio.Event()
        self._rewritten.set()
        self._releases: set[asyncio.Task] = set()
        self._after: str | None = None  # the last cap written in this round (None: a new round starts)
        self.rewrites = 0  # rewrites that reached Redis (tests read it)

    def idle(self) -> bool:
        return not (self._held or self._dropped or self._in_flight or self._releases)

    async def admit(self, caps: list[tuple[str, int]]) -> bool:
        """Count one more socket under every cap, or none and False when one is full. While Redis cannot be
        reached the socket is admitted (and counted here, so the next rewrite counts it there too)."""
        async with self._change():
            try:
                admitted = await socket_caps.aadmit(self.process_id, caps)
            except presence.PresenceUnavailable as exc:
                logger.warning("socket admitted, its count not confirmed (Redis unreachable): %s", exc)
                admitted = True
            if admitted:
                for key, _ in caps:
                    self._held[key] = self._held.get(key, 0) + 1
                    self._dropped.discard(key)
        return admitted

    def release(self, caps: list[tuple[str, int]]) -> None:
        """Take one socket off every cap it was admitted under (in the background: the socket is gone)."""
        task = asyncio.get_running_loop().create_task(self._release(caps))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, caps: list[tuple[str, int]]) -> None:
        async with self._change():
            try:
                await socket_caps.arelease(self.process_id, caps)
            except presence.PresenceUnavailable as exc:
                logger.warning("socket cap not released, Redis unreachable (the next rewrite is): %s", exc)
            finally:  # counted here until now: a rewrite meanwhile wrote it, and this release takes it off
                for key, _ in caps:
                    left = self._held.get(key, 0) - 1
                    if left > 0:
                        self._held[key] = left
                    else:
                        self._held.pop(key, None)
                        self._dropped.add(key)

    async def rewrite(self) -> None:
        """Make this process's entries of the next slice of its caps say the sockets it holds (all of them when
        it holds few); at the start of each round, caps listed in Redis that it holds nowhere are cleared too.
        Failures are logged and wait for the next."""
        try:
            changed = await self._rewrite_slice()
            self.rewrites += 1
            if changed:
                logger.info("socket caps of process %s out of step: %d entries written again", self.process_id, changed)
        except presence.PresenceUnavailable as exc:
            logger.warning("socket caps not rewritten, Redis unreachable: %s", exc)

    async def _rewrite_slice(self) -> int:
        self._rewriting = True
        self._rewritten.clear()
        try:
            while self._in_flight:
                await self._drained.wait()
            # Nothing changes the counts while the rewrite holds admits and releases back (an admit in
            # flight would be listed in Redis and not held here yet: cleared as stale, it would be undone).
            if self._after is None:  # a new round
                self._dropped |= await socket_caps.acaps_listed(self.process_id) - set(self._held)
            # The next keys in order after the last one written (a position would skip keys that left the list).
            after = self._after or ""
            chosen = sorted(key for key in self._dropped | set(self._held) if key > after)[:REWRITE_SLICE]
            self._after = chosen[-1] if len(chosen) == REWRITE_SLICE else None
            changed = await socket_caps.arewrite(self.process_id, {key: self._held.get(key, 0) for key in chosen})
            self._dropped -= set(chosen)
            return changed
        finally:
            self._rewriting = False
            self._rewritten.set()

    @contextlib.asynccontextmanager
    async def _change(self):
        while self._rewriting:
            await self._rewritten.wait()
        self._in_flight += 1
        self._drained.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._drained.set()
