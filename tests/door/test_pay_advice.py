"""The door tells a patron refused for a block that payment lifts where and how
to pay (the kiosk inside in staffed hours, the library's portal), never "at
the desk" in unmanned hours.  Fails on the old code: the refusal was the
policy's own text ("Pay it at the desk")."""

from __future__ import annotations

import pytest

from kiosk.config import parse_config
from kiosk.door.pay_advice import payment_advice
from kiosk.door.service import DoorService
from kiosk.i18n import translate
from policy import Subscription, SubscriptionStatus

from .conftest import UNMANNED, Clock, door_config
from .test_service_sim import CARD, FAST, PIN, StaticLibrary, enter, patron

DESK = ("desk", "balie", "guichet", "accueil")


def with_portal(cfg, url):
    data = cfg.model_dump(mode="json", exclude={"source"})
    data["payments"] = {"portal_url": url}
    return parse_config(data)


@pytest.mark.parametrize(("portal", "key"), [(None, "door.pay.kiosk"), ("https://bib.example/betalen", "door.pay.portal")])
@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
async def test_r2_at_the_door_is_told_where_to_pay(tmp_path, portal, key, lang):
    blocked = patron(subscription=Subscription(type_code="A", status=SubscriptionStatus.INVOICED, fee_paid=False),
                     language=lang)
    library = StaticLibrary({CARD: (PIN, blocked)})
    cfg = door_config(tmp_path)
    if portal:
        cfg = with_portal(cfg, portal)
    messages = []
    svc = DoorService(cfg, library=library, clock=Clock(UNMANNED), tick_seconds=0.05, scrypt=FAST,
                      on_message=messages.append)
    await svc.start()
    try:
        out = await enter(svc)
    finally:
        await svc.stop()
    assert not out.granted and "R2" in out.rules and out.message_key == key
    text = messages[-1].text
    assert translate("door", "door.pay.reason.fee", lang) in text
    assert (portal in text) if portal else ("{portal}" not in text)
    assert not any(word in text.lower() for word in DESK), text
    assert text != translate("policy", "policy.R2", lang)


def test_only_blocks_that_payment_lifts():
    assert payment_advice(("R1",), "en", None)[0] == "door.pay.kiosk"
    assert payment_advice(("R4",), "nl", "https://x")[1]["reason"] == translate("door", "door.pay.reason.invoice", "nl")
    assert payment_advice(("R6",), "nl", None) is None  # deregistered: paying does not let them in
    assert payment_advice(("R2", "B1"), "nl", None) is None  # no badge either: paying is not enough
    assert payment_advice((), "nl", None) is None
