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
