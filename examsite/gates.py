"""A bound on concurrent work per event loop."""

from __future__ import annotations

import asyncio
import weakref


class LoopGate:
    """An `asyncio.Semaphore` of `limit` for each event loop (a semaphore belongs to the loop it was first used on).

    A server process has one loop; tests start one per test.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def semaphore(self) -> asyncio.Semaphore:
        """The running loop's semaphore."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return semaphore
