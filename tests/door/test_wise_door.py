"""The door against a Wise-dialect peer (tests/adapter/wise_peer.py): a badge
holder gets in by the badge *code* Wise sends in GL, two codes in one GL
too; no badge stays out (B1); an open membership fee (a type-1
registration) is refused as R2, not R1."""

from __future__ import annotations


from pydantic import SecretStr

from devices import sim
from kiosk.adapter import Sip2LibrarySystem
from kiosk.config import parse_config
from kiosk.door.service import DoorService
from kiosk.sip2.client import ClientSettings
from tests.adapter.wise_peer import ACCOUNT, wise_peer

from .conftest import UNMANNED, Clock, door_config
from .test_service_sim import FAST


def make_config(tmp_path):
    data = door_config(tmp_path).model_dump(mode="json", exclude={"source"})
    data["policy"] = {"unmanned_badge": "OBOU", "default_max_charges": 10}
    return parse_config(data)


async def enter(svc, card, pin="1234"):
    sim.tap_card(card, name="door")
    await svc.pin_asked(15)  # an explicit settle (the attempt is held before the prompt), not a sleep
    sim.press_keys(pin + "#", name="door")
    return await svc.next_outcome(15)


async def test_the_door_admits_a_badge_holder_by_code(tmp_path):
    async with wise_peer() as (port, _peer):
        library = Sip2LibrarySystem(
            ClientSettings(port=port, user=ACCOUNT[0], password=SecretStr(ACCOUNT[1]), institution="WISE",
                           keepalive_seconds=None, timeout=3),
            dialect="wise", badges={"OBOU": "Onbemande openingsuren"},
        )  # fmt: skip
        svc = DoorService(make_config(tmp_path), library=library, clock=Clock(UNMANNED), tick_seconds=0.05, scrypt=FAST)
        await svc.start()
        try:
            holder = await enter(svc, "22000000000011")
            two_codes = await enter(svc, "22000000000037")
            no_badge = await enter(svc, "22000000000029")
            fee_open = await enter(svc, "22000000000052")
        finally:
            await svc.stop()
            await library.close()
    assert holder.granted and holder.source == "online"
    assert two_codes.granted
    assert not no_badge.granted and no_badge.rules == ("B1",)
    assert not fee_open.granted and fee_open.rules[0] == "R2" and "R1" not in fee_open.rules
