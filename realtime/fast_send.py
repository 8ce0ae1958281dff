"""The ticker's short way into daphne: a tick written to the socket's WebSocket protocol directly.

Through the ASGI `send`, each tick of each socket passed four coroutines (Channels' two `send`s,
daphne's `Server.handle_reply`, its protocol's `handle_reply`), a message dict, a header check and
a UTF-8 encode before autobahn's `sendMessage`, which then framed it and formatted the arguments of
a debug log line that is off. At 10,000 sockets that was most of a pass (bench/README.md, "Ticks").
Here a tick is encoded and framed once per attempt (a server's frames are not masked, so every
socket of the attempt gets the same bytes) and each socket gets one transport write.

This reaches daphne's and autobahn's internals, not their APIs: daphne's protocol object through
the ASGI `send` that daphne gives the application (`functools.partial(server.handle_reply,
protocol)` in daphne 4's `Server.create_application`), and the autobahn protocol's state, send
queue and compression. Guarded twice:

- `direct_sender` returns None for anything it does not recognise (another server, Channels' test
  communicator, a daphne that builds `send` differently): the caller keeps using `send`.
- Each send writes the frame itself only while autobahn would have written the same bytes straight
  to the transport (open, nothing queued before it, no compression, no fragmenting, no masking, no
  frame logging); otherwise it hands the payload to autobahn's public `sendMessage`.
- The write itself goes to the socket at once only while Twisted holds nothing for it (`_socket_writer`),
  else to Twisted's `write`.

What the skipped hops did for a text frame is done here too: nothing once daphne counts the
connection as disconnected or autobahn's state is not open. Order with the socket's other frames is
kept: they go through the same synchronous path to the same transport.
"""

from __future__ import annotations

import functools
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

# RFC 6455 5.2: FIN and opcode 1 (text); then the payload length: 7 bits, or 126 and 16 bits, or 127 and 64 bits.
_FIN_TEXT = 0x81
_SHORT_LENGTH_MAX = 125
_MEDIUM_LENGTH_MAX = 0xFFFF

logger = logging.getLogger(__name__)
_said: set[bool] = set()  # which way this process's ticks go, logged once each


@dataclass(eq=False)
class EncodedText:
    """One text frame, encoded once for every socket it goes to."""

    text: str
    payload: bytes = field(init=False)
    frame: bytes = field(init=False)  # the whole unmasked WebSocket frame, header and payload

    def __post_init__(self) -> None:
        self.payload = self.text.encode()
        self.frame = text_frame(self.payload)


def text_frame(payload: bytes) -> bytes:
    """The unmasked, unfragmented WebSocket text frame of `payload` (what autobahn writes for a server)."""
    length = len(payload)
    if length <= _SHORT_LENGTH_MAX:
        header = struct.pack("!BB", _FIN_TEXT, length)
    elif length <= _MEDIUM_LENGTH_MAX:
        header = struct.pack("!BBH", _FIN_TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, length)
    return header + payload


def direct_sender(send) -> Callable[[EncodedText], None] | None:
    """For daphne's ASGI `send`, a function that sends one text frame on that socket; else None."""
    sender = _direct_sender(send)
    if (direct := sender is not None) not in _said:
        _said.add(direct)
        logger.info(
            "ticks are written to daphne's WebSocket protocol directly"
            if direct
            else "ticks go through the ASGI send (not daphne's, or not as realtime/fast_send.py knows it)"
        )
    return sender


def _direct_sender(send) -> Callable[[EncodedText], None] | None:
    if not isinstance(send, functools.partial) or len(send.args) != 1 or send.keywords:
        return None
    server = getattr(send.func, "__self__", None)
    protocol = send.args[0]
    connections = getattr(server, "connections", None)
    if getattr(send.func, "__name__", None) != "handle_reply" or not isinstance(connections, dict):
        return None
    needed = ("sendMessage", "state", "STATE_OPEN", "send_queue", "transport", "factory")
    if protocol not in connections or not all(hasattr(protocol, name) for name in needed):
        return None
    open_state = protocol.STATE_OPEN
    transport = protocol.transport
    # Fixed once the socket is open (options copied from the factory on connect, compression agreed in the
    # handshake): asked once, not per frame.
    frames_as_is = _frames_as_is(protocol)
    write = _socket_writer(transport) or transport.write
    max_payload = getattr(protocol, "maxMessagePayloadSize", 0)

    def send_text(encoded: EncodedText) -> None:
        details = connections.get(protocol)
        if details is None or details.get("disconnected") or protocol.state != open_state:
            return  # as daphne's handle_reply and autobahn's sendMessage: the socket is gone or going
        if frames_as_is and not protocol.send_queue and not (0 < max_payload < len(encoded.payload)):
            write(encoded.frame)  # what autobahn would write, nothing queued before it
        else:
            protocol.sendMessage(encoded.payload, False)

    return send_text


# What a Twisted TCP transport must have for `_socket_writer` (twisted.internet.abstract.FileDescriptor and
# tcp.Connection; Twisted 22-26).
_TRANSPORT_ATTRIBUTES = (
    "socket",
    "TLS",
    "connected",
    "disconnecting",
    "_writeDisconnected",
    "dataBuffer",
    "offset",
    "_tempDataBuffer",
    "producerPaused",
)


def _socket_writer(transport) -> Callable[[bytes], None] | None:
    """A write that sends on the socket at once while Twisted has nothing buffered for it; None if `transport` is
    not the Twisted TCP transport this knows.

    Twisted's `write` only buffers: it registers the socket with the event loop, which on its next turn finds it
    writable, sends, and unregisters it: two selector changes, a callback and a handle per frame, about as much
    as everything else in a tick's send together (bench/README.md, "Ticks"). A tick is small and the socket's
    send buffer nearly always empty, so the frame goes out in one `send`. Whenever Twisted holds data for the
    socket (an earlier frame not sent yet), or TLS, a producer or a closing connection is involved, the frame goes
    to Twisted's `write` instead, so the order of the bytes never changes; so does whatever one `send` left over.
    A registered producer (daphne's HTTP channel stays one after the upgrade) is paused only by data that Twisted
    buffers, and resumed once it is written: a frame sent at once with nothing buffered changes neither, so only a
    paused one sends the frame the buffered way.
    """
    if not all(hasattr(transport, name) for name in _TRANSPORT_ATTRIBUTES):
        return None
    sock, buffered_write = transport.socket, transport.write

    def write(frame: bytes) -> None:
        if (
            transport.TLS
            or not transport.connected
            or transport.disconnecting
            or transport._writeDisconnected
            or transport._tempDataBuffer
            or len(transport.dataBuffer) > transport.offset
            or transport.producerPaused
        ):
            buffered_write(frame)
            return
        try:
            sent = sock.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            buffered_write(frame)  # Twisted finds the broken connection on its own path and closes it
            return
        if sent < len(frame):
            buffered_write(frame[sent:])

    return write


def _frames_as_is(protocol) -> bool:
    """True when autobahn's `sendMessage` writes a text payload as `text_frame(payload)` (no compression, no
    fragmenting, no masking, no frame logging, a server's protocol)."""
    return (
        getattr(protocol, "_perMessageCompress", True) is None
        and not getattr(protocol, "autoFragmentSize", True)
        and not getattr(protocol, "maskServerFrames", True)
        and not getattr(protocol, "logFrames", True)
        and not getattr(protocol, "logOctets", True)
        and getattr(protocol.factory, "isServer", False)
    )
