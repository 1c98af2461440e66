"""PC/SC patron reader on the real stack: pcscd + vsmartcard-vpcd + our card emulator."""

from __future__ import annotations

import asyncio
import logging

import pytest

from devices.base import CardPresented, DeviceEvent, IdentifierKind
from devices.errors import DeviceNotFound, DeviceTimeout, DeviceUrlError
from devices.pcsc import PcscPatronReader, list_readers
from devices.registry import open_device
from tests.devices.conftest_pcsc import item_slot, patron_slot, pcscd  # noqa: F401
from tests.devices.pcsc_emulator import (
    SW_OK,
    BelgianEidCard,
    ContactlessCard,
    GarbageCard,
    eid_identity_file,
)

pytestmark = pytest.mark.timeout(90)

READER = "pcsc://Virtual%20PCD%2000%2000"
UID = bytes.fromhex("04A1B2C3D4E5F6")


async def next_card(stream, timeout: float = 5.0) -> CardPresented:
    while True:
        event = await stream.get(timeout)
        if isinstance(event, CardPresented):
            return event


async def quiet(stream, seconds: float) -> list:
    """Every event that arrives within *seconds* (expected: none)."""
    seen = []
    try:
        while True:
            seen.append(await stream.get(seconds))
    except DeviceTimeout:
        return seen


async def test_reader_list_shows_both_virtual_readers(pcscd):
    names = await asyncio.to_thread(list_readers)
    assert "Virtual PCD 00 00" in names and "Virtual PCD 00 01" in names


async def test_contactless_uid(patron_slot):
    async with PcscPatronReader(READER + "?name=front") as dev:
        stream = dev.events()
        patron_slot.insert(ContactlessCard(UID), wait=0)
        event = await next_card(stream)
        assert event.identifier == "04A1B2C3D4E5F6"
        assert event.kind is IdentifierKind.UID
        assert event.reader == "front"
        assert "04A1" not in repr(event)  # never shows the identifier
        # Held on the reader: one event, not one per poll.
        assert await quiet(stream, 1.0) == []
        patron_slot.remove()
        await asyncio.sleep(0.6)
        patron_slot.insert(ContactlessCard(UID), wait=0)
        assert (await next_card(stream)).identifier == "04A1B2C3D4E5F6"
        assert dev.cards_read == 2


async def test_reader_option_is_the_path_form(patron_slot):
    """``pcsc://?reader=ACS`` (the documented grammar) names the reader as the path does."""
    async with PcscPatronReader("pcsc://?reader=PCD%2000%2000") as dev:
        stream = dev.events()
        patron_slot.insert(ContactlessCard(UID), wait=0)
        assert (await next_card(stream)).identifier == "04A1B2C3D4E5F6"
        assert dev.reader_name == "Virtual PCD 00 00"
    with pytest.raises(DeviceUrlError, match="not both"):
        PcscPatronReader("pcsc://ACS?reader=OMNIKEY")


async def test_uid_byte_order_option(patron_slot):
    async with PcscPatronReader(READER + "?uid_order=reversed") as dev:
        stream = dev.events()
        patron_slot.insert(ContactlessCard(UID), wait=0)
        assert (await next_card(stream)).identifier == "F6E5D4C3B2A104"


async def test_card_already_on_reader_at_open(patron_slot):
    patron_slot.insert(ContactlessCard(UID))
    async with open_device("pcsc://Virtual PCD 00 00", kind="patron") as dev:
        assert isinstance(dev, PcscPatronReader)
        assert (await next_card(dev.events())).kind is IdentifierKind.UID


async def test_belgian_eid_card_number_by_default(patron_slot):
    card = BelgianEidCard(eid_identity_file(card_number="592123456789", national_number="85073003328"))
    async with PcscPatronReader(READER) as dev:
        stream = dev.events()
        patron_slot.insert(card, wait=0)
        event = await next_card(stream)
        assert (event.identifier, event.kind) == ("592123456789", IdentifierKind.EID_CARD_NUMBER)
    # It selected the identity file by path and read it in 255-byte blocks.
    assert card.log[0] == bytes.fromhex("00A4080C063F00DF014031")
    assert card.log[1] == bytes.fromhex("00B00000FF")


async def test_belgian_eid_national_number_setting(patron_slot):
    card = BelgianEidCard(eid_identity_file(card_number="592123456789", national_number="85073003328", pad_to=600))
    async with PcscPatronReader(READER + "?identify=national_number") as dev:
        stream = dev.events()
        patron_slot.insert(card, wait=0)
        event = await next_card(stream)
        assert (event.identifier, event.kind) == ("85073003328", IdentifierKind.EID_NATIONAL_NUMBER)
    # A 600-byte file: three READ BINARY, the last one corrected by 6Cxx.
    reads = [apdu for apdu in card.log if apdu[1] == 0xB0]
    assert [apdu[2:4].hex() for apdu in reads][:3] == ["0000", "00ff", "01fe"]


async def test_accept_only_eid_ignores_plain_contactless_cards(patron_slot, caplog):
    caplog.set_level(logging.INFO, logger="devices.pcsc")
    async with PcscPatronReader(READER + "?accept=eid") as dev:
        stream = dev.events()
        patron_slot.insert(ContactlessCard(UID), wait=0)
        assert await quiet(stream, 1.2) == []
        assert dev.cards_refused == 1
    assert "04A1B2C3D4E5F6" not in caplog.text


@pytest.mark.parametrize(
    "responses",
    [
        None,  # the default mix
        [b"\x90"],  # one byte: no status word
        [SW_OK, b"\x01\xff\x7f" + bytes(40) + SW_OK],  # "eID" whose TLV announces more than there is
        [SW_OK] + [bytes(255) + SW_OK] * 40,  # an endless file
        [SW_OK, b"\x01\x0c" + b"ABCDEFGHIJKL" + b"\x06\x0b" + b"85073003328" + SW_OK],  # letters as card number
        [b"\x6a\x82", bytes(40) + SW_OK],  # not an eID; a 40-byte "UID"
        [b"\x6a\x82", b"\x6a\x81"],  # not an eID; refuses GET UID
    ],
    ids=["mix", "one-byte", "truncated-tlv", "endless-file", "bad-digits", "long-uid", "no-uid"],
)
async def test_garbage_answers_are_logged_not_fatal(patron_slot, caplog, responses):
    caplog.set_level(logging.INFO, logger="devices.pcsc")
    async with PcscPatronReader(READER) as dev:
        stream = dev.events()
        patron_slot.insert(GarbageCard(responses), wait=0)
        assert await quiet(stream, 1.0) == []
        assert dev.cards_refused == 1
        assert dev.status.ok
        assert "unreadable card ignored" in caplog.text
        patron_slot.remove()
        await asyncio.sleep(0.6)
        # The driver is still alive and reads the next good card.
        patron_slot.insert(ContactlessCard(UID), wait=0)
        assert (await next_card(stream)).identifier == "04A1B2C3D4E5F6"


async def test_card_taken_away_is_not_a_lost_reader(patron_slot):
    async with PcscPatronReader(READER) as dev:
        stream = dev.events()
        patron_slot.insert(ContactlessCard(UID), wait=0)
        await next_card(stream)
        patron_slot.remove()  # "stop the emulator": the card leaves the reader
        assert await quiet(stream, 1.0) == []
        assert dev.status.ok


async def test_reader_unplugged_and_replugged(pcscd, patron_slot):
    async with PcscPatronReader(READER + "?retry_initial=0.1&retry_max=0.5") as dev:
        stream = dev.events()
        patron_slot.insert(ContactlessCard(UID), wait=0)
        await next_card(stream)
        # Every reader vanishes (pcscd stops), then returns.
        await asyncio.to_thread(pcscd.stop)
        lost = await stream.get(5)
        assert isinstance(lost, DeviceEvent) and lost.kind == "lost"
        assert not dev.status.ok
        await asyncio.sleep(1.0)  # several failed reconnects: still only one "lost"
        assert stream.get_nowait() is None
        await asyncio.to_thread(pcscd.start)
        back = await stream.get(10)
        assert isinstance(back, DeviceEvent) and back.kind == "back"
        assert dev.status.ok
        # The emulator reconnected by itself: the card is read again after the replug.
        event = await next_card(stream, 10)
        assert event.identifier == "04A1B2C3D4E5F6"
        assert [e for e in await quiet(stream, 0.5) if isinstance(e, DeviceEvent)] == []


async def test_unknown_reader_is_not_found(pcscd):
    dev = PcscPatronReader("pcsc://No Such Reader")
    with pytest.raises(DeviceNotFound, match="Virtual PCD 00 00"):
        await dev.open()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("pcsc://?accept=uid,magstripe", "accept"),
        ("pcsc://?identify=name", "card_number"),
        ("pcsc://?colour=red", "identify"),
        ("pcsc://?poll=0", "poll"),
    ],
)
def test_bad_url_options_list_the_valid_ones(url, message):
    with pytest.raises(DeviceUrlError, match=message):
        PcscPatronReader(url)
