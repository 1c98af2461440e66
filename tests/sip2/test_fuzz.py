"""Fuzz: random and mutated frames to the decoder (hypothesis, 10,000
examples) and to the server over TCP (10,000 frames): always a message or a
typed RemoteSip2Error, never a crash; the server keeps answering."""

from __future__ import annotations

import asyncio
import logging
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sip2_examples import EXAMPLES
from sip2_fixtures import ACCOUNT, FakeLibrary

from kiosk.sip2 import NEED_DATA, LoginRequest, LoginResponse, Message, RemoteSip2Error, Sip2Codec, Sip2Server

_ENCODER = Sip2Codec()
SEEDS = [_ENCODER.encode(msg, i % 10) for i, msg in enumerate(EXAMPLES.values())]
SEEDS += [
    b"9300CNscclient|COclientpwd|CPLOC1|AY0AZF277\r",
    b"941AY0AZFDFD\r",
    b"41ZZ0012|AA2000123456|XI77|AY3AZFFFF\r",
    b"24              00020200221    185454AE MrUser|AA01000|BLY|CQN|AOtestlibrary|\r",
]


def mutate(frame: bytes, rng: random.Random) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(9)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data.insert(pos, rng.randrange(256))
        elif op == 2 and data:
            del data[pos : pos + rng.randint(1, 8)]
        elif op == 3:
            del data[pos:]
        elif op == 4:
            data[pos:pos] = data[rng.randrange(len(data) + 1) :][: rng.randint(1, 20)]
        elif op == 5:
            data.insert(pos, ord(rng.choice("|\r\nAZY\x00")))
        elif op == 6 and len(data) > 6:
            data[-5:-1] = "".join(rng.choice("0123456789ABCDEFXZ") for _ in range(4)).encode()
        elif op == 7 and len(data) > 2:
            data[0:2] = bytes(rng.randrange(32, 127) for _ in range(2))
        elif op == 8:
            data[pos:pos] = rng.choice([b"AY", b"AZ", b"AZ1", b"||", b"\xff\xfe", b"Y" * 14])
    return bytes(data)


frames = st.one_of(
    st.binary(max_size=300),
    st.builds(mutate, st.sampled_from(SEEDS), st.randoms(use_true_random=False)),
    st.text(alphabet="0123456789YNAZ| ", max_size=120).map(str.encode),
)


@settings(max_examples=10_000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(frame=frames, encoding=st.sampled_from(["cp850", "utf-8"]))
def test_decoder_never_crashes(frame, encoding):
    codec = Sip2Codec(encoding)
    try:
        msg = codec.decode(frame)
    except RemoteSip2Error as exc:
        assert str(exc)
        return
    assert isinstance(msg, Message)
    # whatever we could read, we can write again
    assert isinstance(codec.encode(msg), bytes)


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(frames, max_size=12), max_frame=st.sampled_from([64, 4096]))
def test_stream_decoder_never_crashes(chunks, max_frame):
    codec = Sip2Codec(max_frame=max_frame)
    for chunk in chunks:
        codec.receive_data(chunk)
        while True:
            try:
                msg = codec.next_message()
            except RemoteSip2Error:
                continue
            if msg is NEED_DATA:
                break
            assert isinstance(msg, Message)


async def test_server_survives_10000_random_and_mutated_frames(caplog):
    caplog.set_level(logging.WARNING, logger="kiosk.sip2")
    rng = random.Random(20240115)
    server = Sip2Server(FakeLibrary(), max_frame=2048)
    port = await server.start()
    try:
        total = 0
        for batch in range(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            received = bytearray()

            async def drain_answers():
                while chunk := await reader.read(65536):
                    received.extend(chunk)

            reading = asyncio.create_task(drain_answers())
            for _ in range(1000):
                kind = rng.random()
                if kind < 0.2:
                    frame = bytes(rng.randrange(256) for _ in range(rng.randrange(200))) + b"\r"
                else:
                    frame = mutate(rng.choice(SEEDS), rng)
                writer.write(frame)
                total += 1
            await writer.drain()
            # then a good login on the same connection (after a CR that ends any
            # unterminated garbage): it must still be answered
            writer.write(b"\r" + Sip2Codec().encode(LoginRequest(login_user_id=ACCOUNT[0], login_password=ACCOUNT[1]), 7))
            await writer.drain()
            expected_tail = Sip2Codec().encode(LoginResponse(ok=True), 7)
            for _ in range(200):
                if received.endswith(expected_tail):
                    break
                await asyncio.sleep(0.02)
            assert received.endswith(expected_tail), f"batch {batch}: no answer to the final login"
            writer.close()
            await reading
        assert total == 10_000
        # a fresh connection still works
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"9300CNkiosk1|COs3cret-pw|AY0AZFFFF\r")  # bad checksum: 96
        writer.write(Sip2Codec().encode(LoginRequest(login_user_id=ACCOUNT[0], login_password=ACCOUNT[1]), 1))
        await writer.drain()
        assert await asyncio.wait_for(reader.readuntil(b"\r"), 5) == b"96AZFEF6\r"
        assert await asyncio.wait_for(reader.readuntil(b"\r"), 5) == Sip2Codec().encode(LoginResponse(ok=True), 1)
        writer.close()
    finally:
        await server.close()
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not crashes, [r.getMessage() for r in crashes[:5]]
