"""PC/SC RFID item reader on the real stack: pcscd + vpcd + an emulated ISO 15693 field."""

from __future__ import annotations

import asyncio
import logging

import pytest

from devices.base import AFI_IN_LIBRARY, AFI_ON_LOAN, DeviceEvent, TagsChanged, missing_parts
from devices.errors import DeviceNotFound, DeviceProtocolError, DeviceTimeout, DeviceUrlError
from devices.iso28560 import LibraryTagData
from devices.registry import open_device
from devices.rfid import PcscRfidReader, parse_data_objects, parse_system_info
from tests.devices.conftest_pcsc import item_slot, patron_slot, pcscd  # noqa: F401
from tests.devices.pcsc_emulator import (
    EmulatedTag,
    GarbageCard,
    TagField,
    danish_data,
    library_tag,
)

pytestmark = pytest.mark.timeout(90)

READER = "pcsc-rfid://Virtual%20PCD%2000%2001"
STYLES = ["transparent", "omnikey"]


def ten_tags() -> list[EmulatedTag]:
    return [library_tag(f"3000000{n:03d}", n, country="BE", isil="BE-GNT01") for n in range(10)]


async def next_change(stream, timeout: float = 5.0) -> TagsChanged:
    while True:
        event = await stream.get(timeout)
        if isinstance(event, TagsChanged):
            return event


@pytest.mark.parametrize("style", STYLES)
async def test_ten_tags_inventory_decoded(item_slot, style):
    field = TagField(ten_tags())
    item_slot.insert(field)
    async with PcscRfidReader(f"{READER}?style={style}") as dev:
        tags = await dev.inventory(refresh=True)
    assert len(tags) == 10
    assert [t.item_id for t in tags] == [f"3000000{n:03d}" for n in range(10)]
    first = tags[0]
    assert first.uid == "E004010000000000"
    assert (first.country, first.isil, first.set_parts, first.part_number, first.usage) == ("BE", "BE-GNT01", 1, 1, 1)
    assert first.afi == AFI_IN_LIBRARY and first.secured and not first.error
    assert len(first.raw) == 32
    # The driver spoke only the style the URL asked for.
    assert field.styles_seen() == {style}


@pytest.mark.parametrize("style", STYLES)
async def test_afi_write_sets_and_clears_security(item_slot, style):
    field = TagField(ten_tags())
    item_slot.insert(field)
    async with PcscRfidReader(f"{READER}?style={style}") as dev:
        tags = await dev.inventory()
        target = tags[3]
        await dev.set_security(target.uid, False)
        assert field.tag(bytes.fromhex(target.uid)).afi == AFI_ON_LOAN
        after = {t.uid: t for t in await dev.inventory(refresh=True)}
        assert after[target.uid].afi == AFI_ON_LOAN and not after[target.uid].secured
        assert all(t.secured for uid, t in after.items() if uid != target.uid)
        await dev.set_security(target.uid.lower(), True)
        assert field.tag(bytes.fromhex(target.uid)).afi == AFI_IN_LIBRARY
        # A tag that is not in the field is "not found", not a crash.
        with pytest.raises(DeviceNotFound):
            await dev.set_security("E0040100DEADBEEF", False)
        with pytest.raises(DeviceNotFound):
            await dev.set_security("not-a-uid", False)
    assert field.styles_seen() == {style}


async def test_custom_afi_values(item_slot):
    field = TagField([library_tag("X1", 1, afi=0x9A)])
    item_slot.insert(field)
    async with PcscRfidReader(f"{READER}?afi_secured=0x9A&afi_unsecured=0x9B") as dev:
        (tag,) = await dev.inventory()
        assert tag.secured
        await dev.set_security(tag.uid, False)
        assert field.tags[0].afi == 0x9B


@pytest.mark.parametrize("style", STYLES)
async def test_reversed_block_vendor(item_slot, style):
    field = TagField(
        [
            library_tag("REV-1", 1, reversed_blocks=True),
            library_tag("NORMAL-2", 2),
        ]
    )
    item_slot.insert(field)
    async with PcscRfidReader(f"{READER}?style={style}&blocks=auto") as dev:
        by_id = {t.item_id: t for t in await dev.inventory()}
        assert set(by_id) == {"REV-1", "NORMAL-2"}
    async with PcscRfidReader(f"{READER}?style={style}&blocks=reversed") as dev:
        tags = {t.uid: t for t in await dev.inventory()}
        assert tags["E004010000000001"].item_id == "REV-1"
        assert tags["E004010000000002"].error and not tags["E004010000000002"].item_id  # normal tag read reversed
    async with PcscRfidReader(f"{READER}?style={style}&blocks=normal") as dev:
        tags = {t.uid: t for t in await dev.inventory()}
        assert tags["E004010000000001"].error and not tags["E004010000000001"].item_id


async def test_set_with_a_part_missing_is_reported(item_slot, caplog):
    caplog.set_level(logging.INFO, logger="devices.rfid")
    field = TagField(
        [
            library_tag("SET-7", 1, set_parts=3, part_number=1),
            library_tag("SET-7", 3, set_parts=3, part_number=3),
            library_tag("SINGLE", 4),
        ]
    )
    async with PcscRfidReader(READER) as dev:
        stream = dev.events()
        item_slot.insert(field, wait=0)
        change = await next_change(stream)
        assert missing_parts(change.tags) == {"SET-7": [2]}
        assert "1 incomplete set(s)" in caplog.text
        # The missing part arrives: the set is complete.
        field.place(library_tag("SET-7", 2, set_parts=3, part_number=2))
        change = await next_change(stream)
        assert change.added == ("E004010000000002",)
        assert missing_parts(change.tags) == {}


async def test_tags_changed_events_follow_the_field(item_slot):
    tags = ten_tags()
    field = TagField(tags[:3])
    async with PcscRfidReader(READER + "?style=omnikey&poll=0.1") as dev:
        stream = dev.events()
        item_slot.insert(field, wait=0)
        change = await next_change(stream)
        assert len(change.tags) == 3 and len(change.added) == 3 and change.removed == ()
        field.place(tags[3])
        change = await next_change(stream)
        assert change.added == (tags[3].uid.hex().upper(),)
        field.take(tags[0].uid)
        change = await next_change(stream)
        assert change.removed == (tags[0].uid.hex().upper(),) and len(change.tags) == 3
        item_slot.remove()  # the field is empty: no "card" in the reader
        change = await next_change(stream)
        assert change.tags == () and len(change.removed) == 3
        assert await dev.inventory() == []
        assert dev.status.ok


async def test_blank_and_corrupt_tags_do_not_hide_the_others(item_slot):
    blank = EmulatedTag(uid=bytes.fromhex("E004010000000B00"), memory=bytearray(112))
    corrupt = library_tag("BROKEN", 0xC0, bad_crc=True)
    field = TagField([blank, corrupt, library_tag("GOOD", 1)])
    item_slot.insert(field)
    async with PcscRfidReader(READER) as dev:
        tags = {t.uid: t for t in await dev.inventory()}
    assert "blank" in tags["E004010000000B00"].error
    assert "CRC" in tags["E0040100000000C0"].error
    assert tags["E004010000000001"].item_id == "GOOD" and not tags["E004010000000001"].error


@pytest.mark.parametrize("style", STYLES)
async def test_program_a_blank_tag(item_slot, style):
    blank = EmulatedTag(uid=bytes.fromhex("E004010000000B01"), memory=bytearray(112))
    field = TagField([blank])
    item_slot.insert(field)
    async with PcscRfidReader(f"{READER}?style={style}") as dev:
        data = LibraryTagData(item_id="39000123", set_parts=2, part_number=1, country="BE", isil="BE-GNT01")
        tag = await dev.program("E004010000000B01", data)
        assert (tag.item_id, tag.set_parts, tag.part_number) == ("39000123", 2, 1)
    # Byte for byte what the emulator's own (independent) encoder makes.
    assert bytes(blank.memory[:32]) == danish_data("39000123", set_parts=2, part_number=1)


async def test_garbage_answers_are_typed_errors(item_slot, caplog):
    caplog.set_level(logging.INFO, logger="devices.rfid")
    item_slot.insert(GarbageCard())
    async with PcscRfidReader(READER + "?poll=0.1") as dev:
        for _ in range(5):
            try:
                tags = await dev.inventory()
            except DeviceProtocolError:
                continue
            assert all(t.error for t in tags)
        await asyncio.sleep(0.5)
        assert dev.status.ok
    assert "reading the field failed" in caplog.text


async def test_reader_lost_and_back(pcscd, item_slot):
    item_slot.insert(TagField(ten_tags()[:2]))
    async with open_device(READER + "?retry_initial=0.1&retry_max=0.5", kind="rfid") as dev:
        assert isinstance(dev, PcscRfidReader)
        stream = dev.events(DeviceEvent)
        await asyncio.to_thread(pcscd.restart, 0.8)
        assert (await stream.get(10)).kind == "lost"
        assert (await stream.get(10)).kind == "back"
        with pytest.raises(DeviceTimeout):
            await stream.get(0.5)
        assert len(await dev.inventory()) == 2


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (READER + "?style=feig", "transparent"),
        (READER + "?blocks=sideways", "reversed"),
        (READER + "?afi_secured=0x100", "AFI"),
        (READER + "?afi_secured=7&afi_unsecured=7", "differ"),
        (READER + "?security=1", "afi_secured"),
    ],
)
def test_bad_url_options(url, message):
    with pytest.raises(DeviceUrlError, match=message):
        PcscRfidReader(url)


def test_response_parsers_reject_garbage():
    assert parse_data_objects(bytes.fromhex("C003009000970100")) == [(0xC0, b"\x00\x90\x00"), (0x97, b"\x00")]
    assert parse_data_objects(b"\x97\x81\x02ab") == [(0x97, b"ab")]
    for bad in (b"\x97", b"\x97\x05ab", b"\x97\x83\x00\x00\x01a", b"\x97\x82\x01"):
        with pytest.raises(DeviceProtocolError):
            parse_data_objects(bad)
    info = parse_system_info(bytes.fromhex("0F") + bytes(range(8)) + bytes.fromhex("00071B0301"))
    assert (info.afi, info.blocks, info.block_size, info.ic_reference) == (7, 28, 4, 1)
    with pytest.raises(DeviceProtocolError):
        parse_system_info(bytes.fromhex("0F") + bytes(range(8)) + b"\x00")
