"""Listening in on what the servers broadcast: the test process joins a proctor group itself."""

from __future__ import annotations

import asyncio
import collections
import time

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
