"""Belgian eID identity file: TLV parser and identity fields (pure)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.eid import (
    SELECT_IDENTITY,
    EidDataError,
    encode_tlv,
    national_number_valid,
    parse_identity,
    parse_tlv,
    read_binary,
)
from devices.errors import DeviceProtocolError
from tests.devices.pcsc_emulator import eid_identity_file, eid_tlv


def test_apdus():
    assert SELECT_IDENTITY == bytes.fromhex("00A4080C063F00DF014031")
    assert read_binary(0) == bytes.fromhex("00B00000FF")
    assert read_binary(0x1FE, 0x10) == bytes.fromhex("00B001FE10")
    with pytest.raises(ValueError):
        read_binary(0x8000)


def test_identity_file_from_the_emulator():
    identity = parse_identity(eid_identity_file(card_number="592123456789", national_number="85073003328", pad_to=512))
    assert identity.card_number == "592123456789"
    assert identity.national_number == "85073003328"
    assert identity.chip_number == bytes(range(0x10, 0x20)).hex().upper()
    assert identity.valid_from == dt.date(2020, 2, 1) and identity.valid_until == dt.date(2030, 2, 1)
    # Names are never kept, and the numbers never printed.
    assert "Peeters" not in repr(identity) and "592123456789" not in repr(identity) and "85073" not in str(identity)
    assert not hasattr(identity, "surname")


def test_long_lengths_use_seven_bit_groups():
    value = bytes(range(256)) * 2
    raw = encode_tlv([(1, b"x"), (17, value)])
    assert raw[3:6] == bytes([17, 0x84, 0x00])  # 512 = 4 * 128 + 0
    assert parse_tlv(raw) == {1: b"x", 17: value}
    assert encode_tlv([(17, value)]) == eid_tlv([(17, value)])


def test_national_number_check():
    assert national_number_valid("85073003328")
    assert not national_number_valid("85073003329")
    assert national_number_valid("00010100105")  # born in 2000 or later: "2" prefix
    assert not national_number_valid("00010100100")
    assert not national_number_valid("8507300332")
    assert not national_number_valid("8507300332x")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (eid_tlv([(6, b"85073003328")]), "card number"),
        (eid_tlv([(1, b"592123456789")]), "national number"),
        (eid_tlv([(1, b"59212345678"), (6, b"85073003328")]), "12 digits"),
        (eid_tlv([(1, b"59212345678A"), (6, b"85073003328")]), "12 digits"),
        (eid_tlv([(1, b"592123456789"), (6, b"85073003329")]), "modulo-97"),
        (eid_tlv([(1, b"592123456789"), (6, b"85073003328"), (3, b"2020-01-01")]), "date"),
        (b"\x01\xff\x7f" + bytes(40), "announced"),
        (b"\x01", "length missing"),
        (b"\x01\x81\x82\x83\x84\x05", "too long"),
        (eid_tlv([(1, b"592123456789")]) + b"\x00\x00\x07", "padding"),
        (bytes(5000), "too long"),
        ("text", "bytes"),
    ],
)
def test_bad_files_are_typed_errors(raw, message):
    with pytest.raises(EidDataError, match=message) as info:
        parse_identity(raw)
    assert isinstance(info.value, DeviceProtocolError)
    # The message never carries the numbers themselves.
    assert "592123456789" not in str(info.value)


tlv_fields = st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=300)), max_size=12)


@settings(max_examples=3000)
@given(tlv_fields, st.integers(0, 64))
def test_tlv_round_trip(fields, padding):
    raw = encode_tlv(fields) + bytes(padding)
    expected: dict[int, bytes] = {}
    for tag, value in fields:
        expected.setdefault(tag, value)
    assert parse_tlv(raw) == expected


@settings(max_examples=10_000)
@given(st.binary(max_size=600))
def test_garbage_gives_a_typed_error_or_a_valid_identity(raw):
    try:
        identity = parse_identity(raw)
    except EidDataError:
        return
    assert len(identity.card_number) == 12 and identity.card_number.isdigit()
    assert national_number_valid(identity.national_number)


@settings(max_examples=3000)
@given(st.binary(max_size=300), st.integers(0, 299))
def test_truncated_real_file_is_a_typed_error(noise, cut):
    raw = eid_identity_file() + noise
    try:
        parse_identity(raw[:cut])
    except EidDataError:
        pass
