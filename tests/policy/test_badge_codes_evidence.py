"""Badges by code or by name (Wise sends codes in GL), and the evidence a
snapshot carries for the rules of a decision."""

from __future__ import annotations

from datetime import datetime

from policy import Action, Badge, Evidence, PatronSnapshot, PeriodKind, PinCheck, SiteRules, decide, evidence_for

NOW = datetime(2026, 11, 23, 21, 0)


def entry(badges, wanted):
    patron = PatronSnapshot(badges=tuple(badges), pin=PinCheck.RIGHT)
    return decide(Action.ENTRY, patron, SiteRules(unmanned_badge=wanted), NOW, period=PeriodKind.UNMANNED)


def test_unmanned_badge_by_code_or_by_name():
    wise = Badge(name="Onbemande openingsuren", code="OBOU")
    assert entry([wise], "OBOU").allowed
    assert entry([wise], " obou").allowed
    assert entry([wise], "Onbemande openingsuren").allowed
    assert entry([Badge(name="OBOU", code="OBOU")], "OBOU").allowed  # a code without a configured name
    assert entry([Badge(name="Leesclub", code="LEES")], "OBOU").rule_ids() == ["B1"]
    assert entry([Badge(name="Onbemande openingsuren", code="OBOU", active=False)], "OBOU").rule_ids() == ["B1"]


def test_evidence_for_lists_only_the_rules_that_fired_in_their_order():
    patron = PatronSnapshot(
        pin=PinCheck.RIGHT, replacement_invoice=True,
        evidence=(Evidence(rule="B1", source="GL", detail="badges sent: OBOU"),
                  Evidence(rule="R4", source="42 YZ", detail="registration 7005"),
                  Evidence(rule="R1", source="64 BV", detail="amount owed 0.00")),
    )  # fmt: skip
    decision = decide(Action.CHECKOUT, patron, SiteRules(), NOW)
    assert decision.rule_ids() == ["R4"]
    assert [e.source for e in evidence_for(decision, patron)] == ["42 YZ"]
    assert evidence_for(decide(Action.RETURN, patron, SiteRules(), NOW), patron) == ()
