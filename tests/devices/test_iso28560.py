"""ISO 28560-3 (Danish data model) codec: reference values, round trips, garbage."""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.errors import DeviceError, DeviceProtocolError
from devices.iso28560 import (
    AFI_IN_LIBRARY,
    AFI_ON_LOAN,
    LibraryTagData,
    TagDataError,
    Usage,
    crc16,
    data_crc,
    decode,
    decode_auto,
    encode,
    is_blank,
    reverse_blocks,
)
from tests.devices.pcsc_emulator import danish_data


def test_crc_reference_value():
    # The data model's own check value.
    assert crc16(b"RFID tag data model") == 0x1AEE


def test_afi_values_of_the_danish_standard():
    assert (AFI_IN_LIBRARY, AFI_ON_LOAN) == (0x07, 0xC2)


def test_known_layout_byte_by_byte():
    raw = encode(LibraryTagData(item_id="1234567890", country="BE", isil="BE-123"))
    assert raw[0] == 0x11  # version 1, circulating
    assert raw[1:3] == b"\x01\x01"
    assert raw[3:19] == b"1234567890" + bytes(6)
    assert raw[21:23] == b"BE" and raw[23:32] == b"BE-123\x00\x00\x00"
    crc = binascii.crc_hqx(raw[:19] + raw[21:] + b"\x00\x00", 0xFFFF)
    assert raw[19:21] == bytes([crc & 0xFF, crc >> 8])  # least significant byte first
    assert data_crc(raw) == crc


def test_agrees_with_an_independent_encoder():
    for kwargs in ({}, {"set_parts": 3, "part_number": 2}, {"usage": 2, "isil": "DK-710100"}):
        ours = encode(LibraryTagData(item_id="ABC-42", country="BE", **{"isil": "BE-GNT01", **kwargs}))
        assert ours == danish_data("ABC-42", **kwargs)


def test_reversed_blocks():
    raw = danish_data("REVERSED-1", reversed_blocks=True)
    with pytest.raises(TagDataError):
        decode(raw)
    data = decode(raw, reversed_blocks=True)
    assert data.item_id == "REVERSED-1"
    assert decode_auto(raw) == (data, True)
    assert decode_auto(danish_data("PLAIN")) == (decode(danish_data("PLAIN")), False)
    assert reverse_blocks(b"\x01\x02\x03\x04\x05\x06\x07\x08") == b"\x04\x03\x02\x01\x08\x07\x06\x05"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (bytes(32), "blank"),
        (b"\xff" * 32, "blank"),
        (bytes(10), "need 32"),
        (danish_data("X", bad_crc=True), "CRC"),
        (b"\x21" + danish_data("X")[1:], "version"),
        (b"not bytes", "need 32"),
    ],
)
def test_bad_data_is_a_typed_error(raw, message):
    with pytest.raises(TagDataError, match=message) as info:
        decode(raw)
    assert isinstance(info.value, DeviceProtocolError) and isinstance(info.value, DeviceError)


def test_impossible_parts_and_text():
    raw = bytearray(danish_data("X", set_parts=2, part_number=2))
    raw[2] = 3  # part 3 of 2
    with pytest.raises(TagDataError, match="part"):
        decode(bytes(raw), check_crc=False)
    raw = bytearray(danish_data("X"))
    raw[5] = 0x41  # text after the NUL padding
    with pytest.raises(TagDataError, match="padding"):
        decode(bytes(raw), check_crc=False)
    with pytest.raises(TagDataError):
        encode(LibraryTagData(item_id="x" * 17))
    with pytest.raises(TagDataError):
        encode(LibraryTagData(item_id="caf\u00e9"))
    with pytest.raises(TagDataError):
        encode(LibraryTagData(item_id=""))
    with pytest.raises(TagDataError):
        encode(LibraryTagData(item_id="X", set_parts=1, part_number=2))
    with pytest.raises(TagDataError):
        encode(LibraryTagData(item_id="X", country="BEL"))
    with pytest.raises(TagDataError):
        encode(LibraryTagData(item_id="X", usage=16))


printable = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0)

tag_data = st.builds(
    lambda item_id, usage, parts, part, country, isil: LibraryTagData(
        item_id=item_id, usage=usage, set_parts=parts, part_number=min(part, parts), country=country, isil=isil
    ),
    item_id=printable.filter(bool).map(lambda s: s[:16]),
    usage=st.sampled_from(list(Usage)) | st.integers(0, 15),
    parts=st.integers(1, 255),
    part=st.integers(1, 255),
    country=st.sampled_from(["", "BE", "NL", "DK"]),
    isil=printable.map(lambda s: s[:9]),
)


@settings(max_examples=3000)
@given(tag_data, st.booleans())
def test_round_trip(data, flipped):
    raw = encode(data, reversed_blocks=flipped)
    assert len(raw) == 32
    assert decode(raw, reversed_blocks=flipped) == data
    assert decode_auto(raw)[0] == data
    # The CRC is what the data model says it is.
    plain = reverse_blocks(raw) if flipped else raw
    assert plain[19] | plain[20] << 8 == binascii.crc_hqx(plain[:19] + plain[21:32] + b"\x00\x00", 0xFFFF)


@settings(max_examples=3000)
@given(tag_data, st.integers(0, 31), st.integers(1, 255))
def test_any_single_byte_change_is_caught_or_harmless(data, pos, delta):
    raw = bytearray(encode(data))
    raw[pos] = (raw[pos] + delta) & 0xFF
    try:
        decoded = decode(bytes(raw))
    except TagDataError:
        return
    # CRC-16 catches every single-byte error in the covered bytes; only a
    # change that decodes to the same value could slip through.
    assert decoded == data


@settings(max_examples=10_000)
@given(st.binary(min_size=0, max_size=48))
def test_garbage_never_crashes(raw):
    try:
        decode(raw)
    except TagDataError:
        pass
    try:
        decode_auto(raw)
    except TagDataError:
        pass
    assert is_blank(raw) in (True, False)
