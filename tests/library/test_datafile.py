"""The JSON data file: the contract example loads, bad files name the field,
the published JSON Schema is the generated one."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from kiosk.library import DataFileError
from kiosk.library.datafile import (
    CardStatus,
    SubscriptionStatus,
    demo_path,
    dump_data,
    load_data,
    parse_data,
    schema_text,
)

from .helpers import ISSUE_EXAMPLE, example, text

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_issue_example_loads_and_round_trips():
    data = parse_data(text(ISSUE_EXAMPLE))
    patron = data.patrons[0]
    assert patron.patron_id == "413700"
    assert patron.cards[0].status is CardStatus.ACTIVE
    assert patron.subscription.status is SubscriptionStatus.INVOICED
    assert patron.charges[0].amount == 2.5
    again = parse_data(dump_data(data))
    assert dump_data(again) == dump_data(data)
    # The contract's names survive a save.
    saved = json.loads(dump_data(data))
    assert saved["patrons"][0]["id"] == "413700"
    assert saved["patrons"][0]["subscription"]["type"] == "53"
    assert saved["items"][0]["type"] == "book"
    for key in ISSUE_EXAMPLE["patrons"][0]:
        assert key in saved["patrons"][0]


def _problems(data) -> list[tuple[str, str]]:
    with pytest.raises(DataFileError) as info:
        parse_data(text(data) if not isinstance(data, str) else data, "f.json")
    err = info.value
    assert str(err).startswith("f.json: ")
    return err.problems


def _bad(path: list, value, *, delete: bool = False) -> dict:
    data = copy.deepcopy(ISSUE_EXAMPLE)
    node = data
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    "path, value, where, words",
    [
        (["patrons", 0, "cards", 0, "status"], "gone", "patrons[0].cards[0].status", "'active'"),
        (["patrons", 0, "subscription", "status"], "paid", "patrons[0].subscription.status", "'not_paid'"),
        (["patrons", 0, "subscription", "fee_paid"], "no", "patrons[0].subscription.fee_paid", "boolean"),
        (["patrons", 0, "birth_date"], "01-01-1985", "patrons[0].birth_date", "date"),
        (["patrons", 0, "pin"], "12a4", "patrons[0].pin", "pattern"),
        (["patrons", 0, "language"], "de", "patrons[0].language", "'nl'"),
        (["patrons", 0, "charges", 0, "amount"], 2.505, "patrons[0].charges[0].amount", "two decimals"),
        (["patrons", 0, "charges", 0, "amount"], "2.50", "patrons[0].charges[0].amount", "number"),
        (["patrons", 0, "nickname"], "x", "patrons[0].nickname", "Extra inputs"),
        (["subscription_types", 0, "fee"], -1, "subscription_types[0].fee", "greater than or equal"),
        (["branches", 0, "charge_age_days"], "60", "branches[0].charge_age_days", "integer"),
        (["items", 0, "parts"], 0, "items[0].parts", "greater than or equal"),
        (["loans", 0, "due"], "2026-02-30", "loans[0].due", "date"),
        (["institution"], 9401, "institution", "string"),
        (["patrons", 0, "subscription", "start"], "2028-01-01", "patrons[0].subscription", "end lies before start"),
        (["items", 0, "id"], "3000|12", "items[0].id", "pattern"),
    ],
)
def test_bad_field_is_named(path, value, where, words):
    problems = _problems(_bad(path, value))
    assert any(p == where and words in m for p, m in problems), problems


def test_missing_required_field_is_named():
    problems = _problems(_bad(["patrons", 0, "name"], None, delete=True))
    assert ("patrons[0].name", "Field required") in problems


@pytest.mark.parametrize(
    "mutate, where, words",
    [
        (lambda d: d["patrons"][0].update(branch="1234"), "patrons[0].branch", "unknown branch"),
        (lambda d: d["patrons"][0]["subscription"].update(type="99"), "patrons[0].subscription.type", "unknown subscription type"),
        (lambda d: d["patrons"][0].update(badges=["Makerspace"]), "patrons[0].badges[0]", "unknown badge"),
        (lambda d: d["loans"][0].update(item="999"), "loans[0].item", "unknown item"),
        (lambda d: d["loans"][0].update(patron="1"), "loans[0].patron", "unknown patron"),
        (lambda d: d["loans"].append(dict(d["loans"][0])), "loans[1].item", "already on loan"),
        (lambda d: d["items"][0].update(type="vinyl"), "items[0].type", "unknown item type"),
        (lambda d: d["patrons"].append(copy.deepcopy(d["patrons"][0])), "patrons[1].id", "duplicate id"),
        (
            lambda d: d["patrons"][0]["cards"].append({"number": "29401000075868", "status": "replaced"}),
            "patrons[0].cards[1].number",
            "already used",
        ),
        (lambda d: d["patrons"][0].update(temporary_number="29401000075868"), "patrons[0].temporary_number", "already used"),
        (lambda d: d["items"].append({"id": "2", "rfid": "30000000000012", "title": "x"}), "items[1].rfid", "already used"),
        (lambda d: d.update(holds=[{"patron": "413700", "item": "nope", "created": "2026-01-01"}]), "holds[0].item", "unknown item"),
        (lambda d: d["branches"][0].update(unmanned_badge="Nope"), "branches[0].unmanned_badge", "unknown badge"),
    ],
)
def test_bad_reference_is_named(mutate, where, words):
    data = copy.deepcopy(ISSUE_EXAMPLE)
    mutate(data)
    problems = _problems(data)
    assert any(p == where and words in m for p, m in problems), problems


def test_not_json_names_line_and_column():
    problems = _problems('{"institution": "1",\n "branches": [}')
    assert problems[0][0] == "line 2 column 15"
    assert "not valid JSON" in problems[0][1]


def test_not_an_object():
    assert _problems("[1, 2]") == [("(top level)", "expected a JSON object")]


def test_every_problem_is_reported_at_once():
    data = _bad(["patrons", 0, "cards", 0, "status"], "gone")
    data["loans"][0]["due"] = "tomorrow"
    problems = _problems(data)
    assert {p for p, _ in problems} >= {"patrons[0].cards[0].status", "loans[0].due"}


def test_unreadable_file(tmp_path):
    with pytest.raises(DataFileError) as info:
        load_data(tmp_path / "missing.json")
    assert "cannot read" in str(info.value)


def test_defaults_fill_optional_fields():
    data = parse_data(text({"institution": "1", "branches": [{"id": "1", "name": "B"}]}))
    assert {t.code for t in data.item_types} >= {"book", "dvd"}
    assert data.patron_run.not_paid_after_months == 3
    assert data.server.accounts == []


def test_demo_data_is_valid_and_covers_what_it_promises():
    data = load_data("demo")
    assert load_data(demo_path()) == data
    statuses = {p.subscription.status for p in data.patrons if p.subscription}
    assert statuses == set(SubscriptionStatus)
    cards = {c.status for p in data.patrons for c in p.cards}
    assert cards == set(CardStatus)
    assert any(p.temporary_number and not p.cards for p in data.patrons)
    assert any(c.replacement_invoice for p in data.patrons for c in p.charges)
    assert all(b.code for b in data.badges)  # Wise badge codes in GL
    assert any(p.notifications for p in data.patrons) and any(i.questions for i in data.items)
    fees = [p.subscription.fee_adm_id for p in data.patrons if p.subscription and not p.subscription.fee_paid]
    assert "5000301" in fees  # Demo Klant R2: the open fee is a type-1 registration
    assert any(i.rfid for i in data.items) and any(not i.rfid for i in data.items)
    assert any(i.parts == 3 for i in data.items)
    assert any(not b.active for b in data.badges) and any(b.active for b in data.badges)
    assert data.holds and data.server.accounts
    assert all(p.name.startswith("Demo Klant") for p in data.patrons)


def test_published_schema_is_up_to_date():
    published = (DOCS / "library-data.schema.json").read_text(encoding="utf-8")
    assert published == schema_text(), "regenerate: python -m kiosk.library.datafile schema > docs/library-data.schema.json"


def test_schema_describes_the_contract_names():
    schema = json.loads(schema_text())
    patron = schema["$defs"]["Patron"]
    assert patron["additionalProperties"] is False
    assert {"id", "name", "birth_date", "pin", "cards", "subscription", "charges", "badges"} <= set(patron["properties"])
    assert set(schema["$defs"]["CardStatus"]["enum"]) == {"active", "replaced", "blocked", "lost"}


def test_example_helper():
    assert example(institution="1")["institution"] == "1"
