"""The connects baseline (bench only): a bare ASGI WebSocket app, without Django, Channels, Redis or a database.

`daphne bench.bare_ws_asgi:application`: accepts every socket, sends one frame, then waits for
the close; any HTTP request (the bench's /healthz) gets 200. What a connect costs daphne and
the load generator on this machine, the floor the product's connects are compared with in the
same run (bench/phases/connects.py).
"""

from __future__ import annotations

import json

FIRST_FRAME = json.dumps({"type": "tick", "attempt_id": 0, "status": "running", "remaining_seconds": 3600})


async def application(scope, receive, send):
    if scope["type"] == "http":
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"status": "ok"}'})
    elif scope["type"] == "websocket":
        while True:
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.send", "text": FIRST_FRAME})
            elif message["type"] == "websocket.disconnect":
                return
