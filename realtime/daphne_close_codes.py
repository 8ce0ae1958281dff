"""Let the application close a socket with 1008 or 1009 under daphne.

daphne closes through autobahn's `sendClose`, which accepts only 1000 and 3000-4999 from an
application and raises for anything else, so a consumer's close(1009) turned into a crash and
a 1011. RFC 6455 lets an endpoint send 1008 (policy violation) and 1009 (message too big),
and our protocol promises 1009 for frames over 4 KiB: those two go straight to autobahn's
`sendCloseFrame`, which is what `sendClose` calls after its check.
"""

from __future__ import annotations

PROTOCOL_CLOSE_CODES = frozenset({1008, 1009})  # RFC 6455 §7.4.1 codes an endpoint may send itself


def allow_protocol_close_codes() -> None:
    """Patch daphne's WebSocket protocol once so that 1008 and 1009 reach the client."""
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
