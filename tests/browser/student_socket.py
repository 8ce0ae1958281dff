"""A student's real attempt socket beside a browser test, on a thread of its own.

Playwright's sync API keeps an asyncio loop running on the test's thread, so the `websockets`
client of tests/e2e/clients.py runs on another thread with its own loop; the test reads what
it received and waits on it with a deadline.
"""

from __future__ import annotations

import asyncio
import threading
import time

from tests.e2e.clients import attempt_path, open_socket
from tests.e2e.servers import ServerProcess

FRAME_TIMEOUT = 10.0  # a frame the contract promises within 1 s; generous for a loaded 2-core machine


class StudentSocket:
    """Connects at once to the attempt's socket; `frame(...)` waits for a frame; `close()` disconnects."""

    def __init__(self, server: ServerProcess, attempt_id: int, token: str) -> None:
        self._lock = threading.Lock()
        self._frames: list[dict] = []
        self.close_code: int | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(server, attempt_id, token), daemon=True)
        self._thread.start()
        if not self._ready.wait(FRAME_TIMEOUT) or self._error:
            raise AssertionError(f"the student's socket did not connect: {self._error!r}")

    def _run(self, server: ServerProcess, attempt_id: int, token: str) -> None:
        asyncio.run(self._main(server, attempt_id, token))

    async def _main(self, server: ServerProcess, attempt_id: int, token: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            socket = await open_socket(server, attempt_path(attempt_id), token=token)
        except Exception as error:  # reported by the constructor
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        reader = asyncio.create_task(self._read(socket))
        await self._stop.wait()
        reader.cancel()
        await socket.close()

    async def _read(self, socket) -> None:
        while True:
            item = await socket.next(timeout=3600)
            if item.close_code is not None or item.frame is None:
                self.close_code = item.close_code
                return
            with self._lock:
                self._frames.append(item.frame)

    def frames(self, frame_type: str | None = None) -> list[dict]:
        with self._lock:
            return [frame for frame in self._frames if frame_type is None or frame["type"] == frame_type]

    def frame(self, frame_type: str, *, timeout: float = FRAME_TIMEOUT, where=lambda frame: True) -> dict:
        """The first frame of `frame_type` (that `where` accepts) received so far or within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            found = [frame for frame in self.frames(frame_type) if where(frame)]
            if found:
                return found[0]
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {frame_type!r} frame within {timeout} s; got {self.frames()}")
            time.sleep(0.05)

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(FRAME_TIMEOUT)
