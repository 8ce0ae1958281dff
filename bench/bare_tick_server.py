"""The load generator's own lag (bench only): a tick server that costs next to nothing per socket.

`python -m bench.bare_tick_server PORT REDIS_URL PREFIX`: the `websockets` library's server (its
frames are built once and written to every connection by `broadcast`), no daphne, no Django. Each
socket gets a tick on connect, then, on every whole second, the same tick frame as every other
socket: `remaining_seconds` from the bench's shared whole-second deadline, which it reads once from
the first socket's timer (PTTL, rounded to the whole second the bench set with PXAT). The load
generator measures its lateness exactly as for the product: what it shows beyond a few ms is the
generator's own lag (its CPU, its receive loop) on this machine, beside the same sockets' count.
Any HTTP request (the bench's /healthz) gets 200.
"""

from __future__ import annotations

import asyncio
import http
import json
import math
import sys
import time

import redis.asyncio
from websockets.asyncio.server import broadcast, serve
from websockets.datastructures import Headers
from websockets.http11 import Response


class Ticks:
    def __init__(self, redis_url: str, prefix: str) -> None:
        self.redis = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        self.prefix = prefix
        self.deadline: int | None = None
        self.connections: set = set()

    def frame(self, at: float) -> str:
        left = max(0, math.ceil(self.deadline - at))
        return json.dumps({"type": "tick", "attempt_id": 0, "status": "running", "remaining_seconds": left})

    async def handler(self, connection) -> None:
        if self.deadline is None:
            attempt_id = connection.request.path.split("?")[0].rstrip("/").split("/")[-1]
            ttl_ms = await self.redis.pttl(f"{self.prefix}{attempt_id}")
            self.deadline = round(time.time() + ttl_ms / 1000)  # the bench's deadlines are whole seconds
        await connection.send(self.frame(time.time()))
        self.connections.add(connection)
        try:
            await connection.wait_closed()
        finally:
            self.connections.discard(connection)

    async def tick_forever(self) -> None:
        slot = math.floor(time.time())
        while True:
            slot = max(slot + 1, math.floor(time.time()) + 1)  # each whole second once, none skipped while on time
            while (delay := slot - time.time()) > 0:
                await asyncio.sleep(delay)
            if self.deadline is not None and self.connections:
                broadcast(self.connections, self.frame(slot))


def healthz(connection, request):
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return Response(http.HTTPStatus.OK, "OK", Headers([("Content-Type", "application/json")]), b'{"status": "ok"}')
    return None


async def main(port: int, redis_url: str, prefix: str) -> None:
    ticks = Ticks(redis_url, prefix)
    async with serve(ticks.handler, "127.0.0.1", port, process_request=healthz, ping_interval=None, compression=None):
        await ticks.tick_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
