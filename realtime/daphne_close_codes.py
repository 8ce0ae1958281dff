"""Let the application close a socket with 1008, 1009 or 1011 under daphne.

daphne closes through autobahn's `sendClose`, which accepts only 1000 and 3000-4999 from an
application and raises for anything else, so a consumer's close(1009) turned into a crash and
a 1011. RFC 6455 lets an endpoint send 1008 (policy violation) and 1009 (message too big),
and our protocol promises 1009 for frames over 4 KiB; a server may send 1011 (an unexpected
condition), which the protocol promises when the channel layer stays unreachable. Those go
straight to autobahn's `sendCloseFrame`, which is what `sendClose` calls after its check.
Before 1011 was among them, a consumer's close(1011) raised inside daphne and the socket stayed
open without ticks or events, so its page never reconnected (one socket per process after a
Redis restart, in the recovery bench).
"""

from __future__ import annotations

PROTOCOL_CLOSE_CODES = frozenset({1008, 1009, 1011})  # RFC 6455 §7.4.1 codes a server may send itself


def allow_protocol_close_codes() -> None:
    """Patch daphne's WebSocket protocol once so that 1008, 1009 and 1011 reach the client."""
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # another ASGI server: nothing to patch
        return
    original = WebSocketProtocol.serverClose
    if getattr(original, "allows_protocol_close_codes", False):
        return

    def server_close(self, code=None):
        if code in PROTOCOL_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            original(self, code=code)

    server_close.allows_protocol_close_codes = True
    WebSocketProtocol.serverClose = server_close
