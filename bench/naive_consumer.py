"""The comparison only (never served by the product): each socket reads its own TTL every second.

What a straightforward Channels consumer looks like: authenticate, check the attempt, then a
loop per socket that asks Redis for its key's TTL and sends a tick, one second at a time.
Same frames and the same JWT auth as the product's consumer, so the load generator treats
both alike; what differs is one Redis round trip and one sleep per socket per second
instead of one pipelined read per process.
"""

from __future__ import annotations

import asyncio
import json
import math
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from attempts import timer
from attempts.models import Attempt
from realtime import auth, frames, protocol

# Bounds the per-socket loop: no socket of the bench lives this long.
MAX_TICKS = 4 * 3600


class NaiveAttemptConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()
        token = self.scope.get("token")
        if token is None:
            await self.close(protocol.CLOSE_UNAUTHENTICATED)
            return
        self.attempt_id = self.scope["url_route"]["kwargs"]["attempt_id"]
        attempt = await database_sync_to_async(Attempt.objects.filter(pk=self.attempt_id).first)()
        if attempt is None or attempt.user_id != auth.user_id_of(token) or attempt.status != Attempt.Status.ONGOING:
            await self.close(protocol.CLOSE_NOT_FOUND)
            return
        self.loop_task = asyncio.get_running_loop().create_task(self._tick_forever())

    async def _tick_forever(self):
        client = timer.async_client()
        for _ in range(MAX_TICKS):
            milliseconds = await client.pttl(timer.key_for(self.attempt_id))
            if milliseconds < 0:
                frame = frames.end_frame(self.attempt_id, "timeout")
                await self.send(text_data=json.dumps(frame))
                await self.close(protocol.CLOSE_TIMEOUT)
                return
            deadline_ms = math.floor(time.time() * 1000) + milliseconds
            frame = frames.tick_frame(
                self.attempt_id, math.ceil(milliseconds / 1000), remaining_ms=milliseconds, deadline_ms=deadline_ms
            )
            await self.send(text_data=json.dumps(frame))
            await asyncio.sleep(1)

    async def disconnect(self, code):
        task = getattr(self, "loop_task", None)
        if task is not None:
            task.cancel()
