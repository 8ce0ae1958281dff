"""A hostile client in a process of its own: `python -m tests.faults.flooder <ws url> <origin> <seconds>`.

Connects, sends BURST pings as fast as it can, reads until the server closes, and does it
again until `seconds` are over; prints one JSON line: per socket, frames sent and close code.
A process of its own, so that its busy loop does not delay the test's own sockets, whose
tick spacing is the measurement.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

BURST = 2000  # a hundred times the server's limit of 20 frames a second


async def flood(url: str, origin: str, seconds: float) -> list[tuple[int, int | str | None]]:
    """(frames sent, close code) of each socket opened until `seconds` are over."""
    results = []
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        sent, code = 0, None
        try:
            async with connect(url, origin=origin, open_timeout=5) as socket:
                for _ in range(BURST):
                    await socket.send('{"type": "ping"}')
                    sent += 1
                while True:
                    await asyncio.wait_for(socket.recv(), 10)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None  # None: the server dropped the connection
        except TimeoutError:
            code = "still open"
        results.append((sent, code))
    return results


if __name__ == "__main__":
    print(json.dumps(asyncio.run(flood(sys.argv[1], sys.argv[2], float(sys.argv[3])))))
