"""Round trips for every message type (hypothesis), through the streaming
API, and cross-checks against pysip2's independent codec."""

from __future__ import annotations

import random
from datetime import timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pysip2 import decode_message as pysip2_decode
from pysip2 import encode_message as pysip2_encode
from sip2_examples import EXAMPLES, SAFE_ALPHABET, messages_of, unknown_messages

from kiosk.sip2 import MESSAGE_TYPES, NEED_DATA, Sip2Codec
from kiosk.sip2 import messages as m
from kiosk.sip2.codec import sip2_datetime

UTC = timezone.utc
CLASSES = sorted(MESSAGE_TYPES.values(), key=lambda c: c.CODE)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.CODE}-{c.__name__}")
@settings(max_examples=120)
@given(data=st.data())
def test_round_trip_every_type(cls, data):
    encoding = data.draw(st.sampled_from(["cp850", "utf-8"]))
    codec = Sip2Codec(encoding, tz=UTC)
    msg = data.draw(messages_of(cls))
    seq = data.draw(st.integers(0, 9))
    frame = codec.encode(msg, seq)
    assert frame.endswith(b"\r")
    decoded = codec.decode(frame)
    assert decoded == msg
    assert codec.last_sequence == (None if cls.CODE in ("96", "97") else seq)
    assert codec.last_had_checksum


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.CODE}-{c.__name__}")
@settings(max_examples=40)
@given(data=st.data())
def test_round_trip_without_error_detection(cls, data):
    codec = Sip2Codec(error_detection=False, tz=UTC)
    msg = data.draw(messages_of(cls, SAFE_ALPHABET))
    frame = codec.encode(msg)
    assert b"AZ" not in frame[-8:]
    assert codec.decode(frame) == msg
    assert not codec.last_had_checksum


@settings(max_examples=200)
@given(msg=unknown_messages())
def test_round_trip_unknown_codes(msg):
    codec = Sip2Codec(tz=UTC)
    assert codec.decode(codec.encode(msg, 1)) == msg


@settings(max_examples=100)
@given(
    msgs=st.lists(st.sampled_from(sorted(EXAMPLES)), min_size=1, max_size=12),
    endings=st.lists(st.sampled_from([b"\r", b"\r\n", b"\n"]), min_size=12, max_size=12),
    seed=st.integers(0, 2**32),
)
def test_streaming_any_chunking_any_terminator(msgs, endings, seed):
    codec = Sip2Codec(tz=UTC)
    wire = b"".join(codec.encode(EXAMPLES[c], i % 10)[:-1] + endings[i] for i, c in enumerate(msgs))
    rng = random.Random(seed)
    reader = Sip2Codec(tz=UTC)
    out = []
    pos = 0
    while pos < len(wire):
        step = rng.randint(1, 40)
        reader.receive_data(wire[pos : pos + step])
        pos += step
        while (msg := reader.next_message()) is not NEED_DATA:
            out.append(msg)
    assert out == [EXAMPLES[c] for c in msgs]


# -- cross-checks with pysip2 -------------------------------------------------


def _ours_as_wire(spec: m.FieldSpec, value) -> object:
    """Our typed value as the text pysip2 keeps (None / tuples as they are)."""
    kind = spec.kind
    if value is None:
        return None if not spec.fixed else value
    if kind == m.K_LIST:
        return tuple(value)
    if kind in (m.K_YN, m.K_BOOL):
        return "Y" if value else "N"
    if kind == m.K_OK:
        return "1" if value else "0"
    if kind == m.K_YNU:
        return "Y" if value else "N"
    if kind in (m.K_DATE, m.K_VDATE):
        return sip2_datetime(value, UTC)
    if kind in (m.K_INT, m.K_COUNT):
        return str(value).zfill(spec.width)
    if kind == m.K_VINT:
        return str(value).zfill(spec.width)
    if kind == m.K_STATUS:
        return value.to_wire()
    if kind == m.K_SUMMARY:
        return m.summary_to_wire(value)
    return value


# pysip2 happens to use the same field names as we do (both follow the standard's wording).
PYSIP2_NAMES: dict[str, str] = {}
#: Wise's SIP2+ messages, which pysip2 (SIP2 2.00) does not know.
PYSIP2_CODES = sorted(set(EXAMPLES) - {"41", "42"})


@pytest.mark.parametrize("code", PYSIP2_CODES)
def test_pysip2_reads_what_we_write(code):
    msg = EXAMPLES[code]
    frame = Sip2Codec(tz=UTC).encode(msg, 3)
    decoded = pysip2_decode(frame)
    theirs = decoded.message
    assert decoded.sequence_number == (None if code in ("96", "97") else 3)
    compared = 0
    for spec in msg.SPEC:
        name = PYSIP2_NAMES.get(spec.name, spec.name)
        if not hasattr(theirs, name):
            continue
        ours = _ours_as_wire(spec, getattr(msg, spec.name))
        assert getattr(theirs, name) == ours, spec.name
        compared += 1
    assert compared == len(msg.SPEC)  # every field has the same name and value in pysip2


@pytest.mark.parametrize("code", PYSIP2_CODES)
def test_we_read_what_pysip2_writes(code):
    msg = EXAMPLES[code]
    codec = Sip2Codec(tz=UTC)
    theirs = pysip2_decode(codec.encode(msg, 5)).message
    frame = pysip2_encode(theirs, sequence_number=5, checksum=True)
    assert codec.decode(frame) == msg
