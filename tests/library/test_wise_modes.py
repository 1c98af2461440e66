"""Every demo card through the embedded library in both dialects, read by the
adapter in its Wise dialect (issue 13 item 5, docs/sip2-fields.md "Card by
card"): extended, the decision names the rule by its id; pure Wise, the rule
the evidence allows — or LS, the library system refused — never a guess."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kiosk.adapter import Sip2LibrarySystem
from kiosk.library.datafile import load_data
from kiosk.library.server import LibraryServer, site_rules
from kiosk.library.store import Store
from policy import DEFAULT_PIN_REQUIRED, Action, PeriodKind, decide

from .conftest import NOW, settings_for
from .demo_cards import CHECKOUT, ENTRY, PIN

#: card -> (checkout, entry) under pure Wise, where they differ from extended.
#: The first rule is the one the evidence names; "LS" may follow it (the
#: flags deny as well).  Why each differs: docs/sip2-fields.md.
PURE_WISE = {
    "29999000000100": (["R6"], ["R6"]),  # ended: Wise status 9 is "expired / cancelled" -> R6, not X1
    "29999000000110": (["LS"], ["LS"]),  # replaced card: Wise has no field for it, only "Pas niet geldig!"
    "29999000000120": (["LS"], None),  # blocked card: the same
    "29999000000170": ([], []),  # under-age: no birth date at Wise; A1 cannot be told
}


def wise_site_rules(store: Store):
    """The [policy] a Wise site configures: its maximum and charge age
    (Wise sends no patron type or home branch to find them per type or
    branch), the badge by code, and no entry age (Wise sends no birth date:
    a minimum age would refuse everyone; the badge is what staff give)."""
    return site_rules(store, branch_id="9901").model_copy(
        update={
            "pin_required": DEFAULT_PIN_REQUIRED,
            "default_max_charges": Decimal("10.00"),
            "default_charge_age_days": 60,
            "min_entry_age": None,
            "unmanned_badge": "OBOU",
        }
    )


@pytest.fixture(scope="module", params=["extended", "wise"])
def mode(request):
    return request.param


@pytest.fixture
async def reader(mode, tmp_path):
    store = Store.create(tmp_path / "library.sqlite", load_data("demo"))
    server = LibraryServer(store, clock=lambda: NOW, dialect=mode)
    await server.start("127.0.0.1", 0)
    library = Sip2LibrarySystem(settings_for(server.port), dialect="wise", badges=store.badge_map())
    async with library:
        yield mode, store, library
    await server.close()
    store.close()


def _rules(mode, store, patron):
    if mode == "wise":
        return wise_site_rules(store)
    return site_rules(store, branch_id=patron.branch).model_copy(update={"pin_required": DEFAULT_PIN_REQUIRED})


def _expected(mode: str, card: str, which: int, table: dict) -> list[str] | None:
    if mode == "wise" and card in PURE_WISE:
        return PURE_WISE[card][which]
    return table.get(card)


def _check(ids: list[str], expected: list[str], mode: str) -> None:
    if mode == "extended":
        assert ids == expected
        return
    if not expected:
        assert ids == []
        return
    assert ids[0] == expected[0]  # the rule the evidence names comes first
    assert set(ids) - {"LS"} == set(expected) - {"LS"}  # nothing guessed beside it


async def test_every_demo_card_in_both_dialects(reader):
    mode, store, library = reader
    for card in sorted(set(CHECKOUT) | set(ENTRY)):
        patron = await library.identify(card, PIN)
        rules = _rules(mode, store, patron)
        expected = _expected(mode, card, 0, CHECKOUT)
        if expected is not None:
            _check(decide(Action.CHECKOUT, patron, rules, NOW).rule_ids(), expected, mode)
        expected = _expected(mode, card, 1, ENTRY)
        if expected is not None:
            decision = decide(Action.ENTRY, patron, rules, NOW, period=PeriodKind.UNMANNED)
            _check(decision.rule_ids(), expected, mode)


async def test_pure_wise_evidence_says_where_each_rule_came_from(tmp_path):
    store = Store.create(tmp_path / "library.sqlite", load_data("demo"))
    server = LibraryServer(store, clock=lambda: NOW, dialect="wise")
    await server.start("127.0.0.1", 0)
    try:
        async with Sip2LibrarySystem(settings_for(server.port), dialect="wise", badges=store.badge_map()) as library:
            sources = {}
            for card, rule in (("29999000000020", "R1"), ("29999000000030", "R2"), ("29999000000040", "R3"),
                               ("29999000000050", "R4"), ("29999000000060", "R5"), ("2X1986", "C1")):  # fmt: skip
                patron = await library.identify(card, PIN)
                sources[rule] = {e.source for e in patron.evidence if e.rule == rule}
            assert "42 YZ" in sources["R1"] and "42 YZ" in sources["R2"] and "42 YZ" in sources["R3"]
            assert "42 YZ" in sources["R4"]
            assert sources["R5"] == {"XS"} and sources["C1"] == {"XS"}  # the Wise status digit
            holder = await library.identify("29999000000010", PIN)
            assert [(b.code, b.name) for b in holder.badges] == [("OBOU", "Onbemande openingsuren")]
            assert holder.flags is not None and not holder.flags_only
            r1 = await library.identify("29999000000020", PIN)
            assert r1.flags.charge_privileges_denied  # the flags stay: Wise's own word
    finally:
        await server.close()
        store.close()


async def test_no_pure_wise_card_is_allowed_where_the_library_refuses(reader):
    """Whatever the evidence, a patron the library refuses is refused at the
    kiosk too (R-rule or LS): the pure dialect never lets a block through."""
    mode, store, library = reader
    for card, rules_fired in sorted(CHECKOUT.items()):
        if not rules_fired:
            continue
        patron = await library.identify(card, PIN)
        assert not decide(Action.CHECKOUT, patron, _rules(mode, store, patron), NOW).allowed, card
