"""Listening in on what the servers broadcast: the test process joins a proctor group itself."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from realtime.groups import proctor_group

END_EVENTS = ("attempt_timeout", "attempt_submitted")


class ProctorTap:
    """A channel of the test process in one exam's proctor group: every event the servers publish to it."""

    def __init__(self, exam_id: int) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(proctor_group(exam_id), self.channel)
        self.frames: list[dict] = []

    def drain(self, *, until_count: int = 0, kinds: tuple[str, ...] = END_EVENTS, timeout: float, quiet: float = 1.0):
        """Collect frames until `until_count` of `kinds` came and then `quiet` s of silence, or `timeout`."""
        async_to_sync(self._drain)(until_count, kinds, timeout, quiet)
        return self.frames

    def drain_while(self, work: Callable, *, until_count: int, kinds: tuple[str, ...] = END_EVENTS, timeout: float):
        """Run `work()` on a thread while collecting as `drain` does; what `work` returned.

        For work that takes long: the channel layer drops a message left unread for its `expiry` (60 s),
        so a tap that drained only afterwards lost the first events of a 70 s burst on a loaded machine.
        """
        return async_to_sync(self._drain_while)(work, until_count, kinds, timeout, 1.0)

    async def _drain_while(self, work: Callable, until_count: int, kinds: tuple[str, ...], timeout: float, quiet):
        # One event loop for both drains: the layer's receive buffers belong to the loop that made them.
        started = time.monotonic()
        with ThreadPoolExecutor(1) as pool:
            result = asyncio.get_running_loop().run_in_executor(pool, work)
            await self._drain(until_count, kinds, timeout, quiet)
            outcome = await result
        # And what came after `until_count` while the work went on: a duplicate must not go unseen.
        await self._drain(0, kinds, max(quiet, timeout - (time.monotonic() - started)), quiet)
        return outcome

    async def _drain(self, until_count: int, kinds: tuple[str, ...], timeout: float, quiet: float) -> None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            enough = self.count(kinds) >= until_count
            try:
                message = await asyncio.wait_for(self.layer.receive(self.channel), timeout=quiet if enough else left)
            except TimeoutError:
                if enough:
                    return
                continue
            self.frames.append(message["frame"])

    def count(self, kinds: tuple[str, ...] = END_EVENTS) -> int:
        return sum(1 for frame in self.frames if frame["type"] in kinds)

    def per_attempt(self, kinds: tuple[str, ...] = END_EVENTS) -> collections.Counter:
        """How many frames of `kinds` each attempt got."""
        return collections.Counter(frame["attempt_id"] for frame in self.frames if frame["type"] in kinds)
