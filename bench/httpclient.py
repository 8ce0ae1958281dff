"""A minimal asyncio HTTP/1.1 client (keep-alive, Content-Length bodies): all the load generator needs.

No third-party HTTP client is installed in the project; this one adds no dependency and no
hidden pooling or retries that would blur the latencies it measures.
"""

from __future__ import annotations

import asyncio

CONNECT_TIMEOUT = 10.0


class HttpConnection:
    """One TCP connection to 127.0.0.1:port; `request` reopens it when the server closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), CONNECT_TIMEOUT
        )

    async def request(
        self, method: str, path: str, *, token: str, keep_alive: bool = True, json_body: bytes = b""
    ) -> tuple[int, bytes]:
        """(status, body) of one request (with a JSON body if given); raises on a broken connection."""
        if self._writer is None:
            await self._open()
        content_type = "Content-Type: application/json\r\n" if json_body else ""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAuthorization: Bearer {token}\r\n"
            f"{content_type}Content-Length: {len(json_body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        )
        self._writer.write(head.encode() + json_body)
        await self._writer.drain()
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length, close = 0, not keep_alive
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        body = await self._reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
