"""The ticker's pre-encoded frames: the same bytes as the slow way (json.dumps, autobahn's framing)."""

from __future__ import annotations

import functools
import json

import pytest
from websockets.frames import Frame, Opcode

from realtime import fast_send, frames


@pytest.mark.parametrize(
    ("attempt_id", "seconds", "ms", "deadline_ms"),
    [(1, 0, 0, 0), (123, 2847, 2846_999, 1_893_553_445_678), (2**40, 10**9, 10**12, 4_102_444_800_000)],
)
def test_tick_text_is_json_dumps_of_the_tick_frame_byte_for_byte(attempt_id, seconds, ms, deadline_ms):
    expected = json.dumps(frames.tick_frame(attempt_id, seconds, remaining_ms=ms, deadline_ms=deadline_ms))
    text = frames.tick_text(attempt_id, seconds, remaining_ms=ms, deadline_at=frames.iso_ms(deadline_ms))
    assert text == expected


@pytest.mark.parametrize("length", [0, 1, 125, 126, 180, 65535, 65536, 70000])
def test_the_frame_is_what_a_websocket_server_writes(length):
    payload = ("x" * length).encode()
    assert fast_send.text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


def test_encoded_text_holds_the_utf8_payload_and_its_frame():
    encoded = fast_send.EncodedText('{"message": "5 minutes left ✓"}')
    assert encoded.payload == '{"message": "5 minutes left ✓"}'.encode()
    assert encoded.frame.endswith(encoded.payload) and encoded.frame[0] == 0x81


async def _send(message):
    return None


class _NotAServer:
    connections = {}

    async def handle_reply(self, protocol, message):
        return None


def test_any_send_but_daphnes_gets_no_direct_sender():
    # Channels' test communicator, another ASGI server, or a daphne that builds `send` otherwise: the caller keeps
    # the ASGI `send`.
    assert fast_send.direct_sender(_send) is None
    assert fast_send.direct_sender(functools.partial(_NotAServer().handle_reply, object())) is None
    assert fast_send.direct_sender(functools.partial(_NotAServer().handle_reply)) is None


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


class _Protocol:
    """The attributes of an autobahn server protocol that `fast_send` reads, as daphne configures them."""

    STATE_OPEN = 3

    def __init__(self) -> None:
        self.state = self.STATE_OPEN
        self.send_queue = []
        self._perMessageCompress = None
        self.autoFragmentSize = 0
        self.maskServerFrames = False
        self.logFrames = self.logOctets = False
        self.maxMessagePayloadSize = 0
        self.factory = type("Factory", (), {"isServer": True})()
        self.transport = _Transport()
        self.messages: list[bytes] = []

    def sendMessage(self, payload: bytes, isBinary: bool) -> None:
        self.messages.append(payload)


class _Daphne:
    def __init__(self, protocol) -> None:
        self.connections = {protocol: {}}

    async def handle_reply(self, protocol, message):
        return None


def test_a_clean_open_socket_gets_the_frame_written_and_anything_else_goes_through_autobahn():
    protocol = _Protocol()
    daphne = _Daphne(protocol)
    send = fast_send.direct_sender(functools.partial(daphne.handle_reply, protocol))
    encoded = fast_send.EncodedText('{"type": "tick"}')

    send(encoded)
    assert protocol.transport.written == [encoded.frame] and protocol.messages == []

    protocol.send_queue.append((b"queued", False))  # autobahn holds earlier data: it must keep the order
    send(encoded)
    protocol.send_queue.clear()
    assert protocol.messages == [encoded.payload] and len(protocol.transport.written) == 1

    compressed = _Protocol()
    compressed._perMessageCompress = object()  # agreed in the handshake: it would change the bytes
    daphne.connections[compressed] = {}
    fast_send.direct_sender(functools.partial(daphne.handle_reply, compressed))(encoded)
    assert compressed.messages == [encoded.payload] and compressed.transport.written == []

    protocol.state = 4  # closing: nothing, as autobahn
    send(encoded)
    protocol.state = protocol.STATE_OPEN
    daphne.connections[protocol]["disconnected"] = 1.0  # daphne counts it gone: nothing, as daphne
    send(encoded)
    assert len(protocol.messages) == 1 and len(protocol.transport.written) == 1


class _TwistedLikeTransport:
    """The attributes of a Twisted TCP transport that `fast_send` reads, over a real socket."""

    def __init__(self, sock) -> None:
        self.socket = sock
        self.TLS = False
        self.connected = True
        self.disconnecting = False
        self._writeDisconnected = False
        self.dataBuffer = b""
        self.offset = 0
        self._tempDataBuffer: list[bytes] = []
        self.producerPaused = False
        self.buffered: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.buffered.append(data)


def test_a_frame_goes_out_on_the_socket_at_once_unless_twisted_holds_data_for_it():
    import socket

    ours, peer = socket.socketpair()
    ours.setblocking(False)
    try:
        transport = _TwistedLikeTransport(ours)
        write = fast_send._socket_writer(transport)

        write(b"first")
        assert peer.recv(100) == b"first" and transport.buffered == []

        transport._tempDataBuffer.append(b"pending")  # Twisted has bytes queued: after them, never before
        write(b"second")
        transport._tempDataBuffer.clear()
        transport.TLS = True
        write(b"third")
        transport.TLS, transport.producerPaused = False, True
        write(b"fourth")
        assert transport.buffered == [b"second", b"third", b"fourth"]
    finally:
        ours.close()
        peer.close()


def test_a_transport_it_does_not_know_keeps_its_own_write():
    assert fast_send._socket_writer(_Transport()) is None
