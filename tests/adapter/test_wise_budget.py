"""#11: one wrong-PIN budget per patron under pure Wise, which sends no patron
number (XI).  The budget is then keyed by the patron identifier of the
library system's answer (AA, the patron barcode as returned): a card the
library system answers for with its patron's barcode (an old card, a
temporary number) shares that barcode's budget, at the door as at the kiosk
(one core, one store)."""

from __future__ import annotations

from datetime import datetime

from kiosk.adapter.sip2 import budget_identity, snapshot_from_sip2
from kiosk.identify import CoreSettings, Front, Identification, IdentifyDriver, PatronStore, ScryptParams
from kiosk.identify.core import AskPin, Grant, Refuse
from kiosk.sip2 import PatronInformationResponse
from policy import Action, PeriodKind

from .test_wise_peer import RULES, wise_system
from .wise_peer import WisePatron, WisePeer, wise_peer

NOW = datetime(2026, 11, 23, 21, 0).astimezone()
OLD, NEW, OTHER = "22000000000128", "22000000000136", "22000000000144"
WRONG = "0000"
FAST = ScryptParams(n=2, r=1, p=1)


def test_the_budget_identity_is_xi_else_the_answers_aa():
    assert budget_identity("413700", "2200") == "413700"
    assert budget_identity(None, " 22000000000136 ") == "AA:22000000000136"
    assert budget_identity(None, "") is None and budget_identity("", None) is None
    answer = PatronInformationResponse(patron_identifier=NEW, valid_patron=True)
    assert snapshot_from_sip2(answer, pin_given=False, dialect="wise").patron_id == "AA:" + NEW
    with_xi = answer.replace(extra_fields=(("XI", "413700"),))
    assert snapshot_from_sip2(with_xi, pin_given=False, dialect="wise").patron_id == "413700"


async def _attempts(tmp_path, peer: WisePeer):
    store = PatronStore(tmp_path / "patrons.sqlite", b"k" * 32, scrypt=FAST)
    async with wise_peer(peer) as (port, _):
        system = wise_system(port)
        driver = IdentifyDriver(Identification(CoreSettings(rules=RULES, front=Front.DOOR)), store, system,
                                clock=lambda: NOW)

        async def attempt(card: str, pin: str | None) -> Refuse | Grant:
            out = await driver.present(card, action=Action.ENTRY, period=PeriodKind.UNMANNED)
            if any(isinstance(e, AskPin) for e in out):
                assert pin is not None
                out = await driver.submit(pin)
            await driver.settle_background()
            return next(e for e in out if isinstance(e, (Grant, Refuse)))

        try:
            yield attempt
        finally:
            await driver.close()
            await system.close()
            store.close()


async def test_an_old_card_answered_with_its_patrons_barcode_shares_the_budget(tmp_path):
    """Three wrong PINs on the old card and two on the new one are the
    patron's five: locked out on both cards (before: 3 + 2 in two budgets)."""
    patron = WisePatron(gl=["OBOU"], barcode=NEW)
    peer = WisePeer({OLD: patron, NEW: patron, OTHER: WisePatron(gl=["OBOU"])})
    gen = _attempts(tmp_path, peer)
    attempt = await gen.__anext__()
    try:
        for _ in range(3):
            assert (await attempt(OLD, WRONG)).rules == ("P1",)
        assert (await attempt(NEW, WRONG)).rules == ("P1",)
        assert (await attempt(NEW, WRONG)).rules[0] == "L1"  # the patron's fifth
        assert (await attempt(OLD, None)).rules == ("L1",)  # locked before the PIN is asked
        assert (await attempt(NEW, None)).rules == ("L1",)
        assert isinstance(await attempt(OTHER, "1234"), Grant)  # another patron: another budget
    finally:
        await gen.aclose()
