"""Sends channel-layer messages from synchronous code: request threads, the expiry worker, commands.

Inside the ASGI server the messages go out on the server's own event loop (async_to_sync finds
it from the request's thread). Anywhere else, async_to_sync would build an event loop, a thread
and a new Redis connection for every call (~2 ms a publish, two connections per timeout), so
the process gets one long-lived publishing loop instead, started on first use, which keeps its
connections (~0.25 ms a publish, measured over 1,000).
"""

from __future__ import annotations

import asyncio
import os
import threading

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer

# Bound on one publish through the publishing loop: a dead channel-layer Redis must not hang the caller.
PUBLISH_TIMEOUT_SECONDS = 10.0
# Publishes in flight at once when many attempts end together (each is a few Redis round trips).
# Well under the layer's connection pool (100), also with several expiry batches publishing at once.
PUBLISH_CONCURRENCY = 16

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _publishing_loop() -> asyncio.AbstractEventLoop:
    """This process's publishing loop, running on a daemon thread of its own."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer-publisher", daemon=True).start()
            _loop = loop
        return _loop


def _inside_server_loop() -> bool:
    """True on a thread that a running event loop of this process runs sync code on (sync_to_async).

    The same test async_to_sync makes before it falls back to a loop of its own.
    """
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    same_process = getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) == os.getpid()
    return loop is not None and same_process and loop.is_running()


async def _group_send_all(messages: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)

    async def one(group: str, message: dict) -> None:
        async with gate:
            await layer.group_send(group, message)

    # Every message is tried even when one fails; the first failure is raised afterwards.
    outcomes = await asyncio.gather(*(one(group, message) for group, message in messages), return_exceptions=True)
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        raise failures[0]


def publish(messages: list[tuple[str, dict]]) -> None:
    """Publish (group, message) pairs, several in flight at once, in order of starting.

    A mass timeout's thousands of publishes one after the other took seconds of round trips
    (bench/README.md).
    """
    if _inside_server_loop():
        async_to_sync(_group_send_all)(messages)
        return
    future = asyncio.run_coroutine_threadsafe(_group_send_all(messages), _publishing_loop())
    try:
        future.result(timeout=PUBLISH_TIMEOUT_SECONDS + len(messages) / PUBLISH_CONCURRENCY)
    except TimeoutError:
        future.cancel()
        raise
