"""Sends channel-layer messages from any thread of the process, on one long-lived publishing loop.

async_to_sync from a synchronous caller would build an event loop, a thread and a new Redis
connection for every call (~2 ms a publish, two connections per timeout), so the process gets
one publishing loop instead, started on first use, which keeps its connections (~0.25 ms a
publish, measured over 1,000). The outbox (`realtime.outbox`) sends every domain event from it.
"""

from __future__ import annotations

import asyncio
import threading

from channels.layers import get_channel_layer

# Bound on one send of a batch: a channel-layer Redis that neither answers nor refuses must not
# hang the outbox; the batch is tried again, as for any outage.
PUBLISH_TIMEOUT_SECONDS = 10.0
# Publishes in flight at once when many attempts end together (each is a few Redis round trips).
# Well under the layer's connection pool (100), also with several expiry batches publishing at once.
PUBLISH_CONCURRENCY = 16

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def publishing_loop() -> asyncio.AbstractEventLoop:
    """This process's publishing loop, running on a daemon thread of its own."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer-publisher", daemon=True).start()
            _loop = loop
        return _loop


async def send_all(messages: list[tuple[str, dict]], *, layer=None) -> list[BaseException | None]:
    """Send (group, message) pairs, several groups in flight at once, each group's in order; each one's failure or None.

    Every group's messages are tried even when another group's fail (a mass timeout's thousands of
    publishes one after the other took seconds of round trips: bench/README.md). Messages to one
    group go one after the other, in the given order, and stop at the group's first failure (the
    rest fail with it): sent side by side, two frames of one transaction to the same sockets
    arrived swapped. `layer`: the channel layer to send through (default: the
    current one). Past `PUBLISH_TIMEOUT_SECONDS` (plus a share per message) every message not
    yet sent fails with TimeoutError.
    """
    layer = layer or get_channel_layer()
    gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)
    outcomes: list[BaseException | None] = [None] * len(messages)
    sent = [False] * len(messages)
    by_group: dict[str, list[int]] = {}
    for index, (group, _) in enumerate(messages):
        by_group.setdefault(group, []).append(index)

    async def in_order(indices: list[int]) -> None:
        for position, index in enumerate(indices):
            group, message = messages[index]
            try:
                async with gate:
                    await layer.group_send(group, message)
            except Exception as exc:
                # The group's later messages are not tried: sent now and this one on a retry, they
                # would reach its sockets before it.
                for later in indices[position:]:
                    outcomes[later] = exc
                    sent[later] = True
                return
            sent[index] = True

    tasks = [asyncio.ensure_future(in_order(indices)) for indices in by_group.values()]
    try:
        _, late = await asyncio.wait(tasks, timeout=PUBLISH_TIMEOUT_SECONDS + len(messages) / PUBLISH_CONCURRENCY)
    except asyncio.CancelledError:
        # Given up (the outbox discarded this batch): its sends stop too, not only the wait for them.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late)
    for index, done in enumerate(sent):
        if not done:
            outcomes[index] = TimeoutError(f"not sent within {PUBLISH_TIMEOUT_SECONDS:.0f} s")
    return outcomes
