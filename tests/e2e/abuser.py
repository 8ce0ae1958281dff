"""One hostile REST client in a process of its own: `python -m tests.e2e.abuser <port> <token> <method> <path>
<json body or -> <in flight> <seconds>`.

Keeps `in flight` requests of one token going as fast as the server answers, each on its own
keep-alive connection, for `seconds`; prints one JSON line: the count of each status. A process
of its own, so that its busy loop does not delay the test's own clients, whose latency is the
measurement.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

from bench.httpclient import HttpConnection


async def abuse(port: int, token: str, method: str, path: str, body: bytes, in_flight: int, seconds: float) -> Counter:
    statuses: Counter = Counter()
    ends = time.monotonic() + seconds

    async def one_connection():
        connection = HttpConnection(port)
        try:
            while time.monotonic() < ends:
                try:
                    status, _ = await connection.request(method, path, token=token, json_body=body)
                except (ConnectionError, OSError, asyncio.IncompleteReadError):
                    status = "error"
                    await connection.close()
                statuses[status] += 1
        finally:
            await connection.close()

    await asyncio.gather(*(one_connection() for _ in range(in_flight)))
    return statuses


if __name__ == "__main__":
    port, token, method, path, raw_body, in_flight, seconds = sys.argv[1:8]
    body = b"" if raw_body == "-" else raw_body.encode()
    counts = asyncio.run(abuse(int(port), token, method, path, body, int(in_flight), float(seconds)))
    print(json.dumps({str(status): count for status, count in counts.items()}))
