"""library_system_from_config, the embedded adapter, and the extension field
codes and value formats shared by server and adapter."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.adapter import EmbeddedLibrarySystem, FieldCodes, Sip2LibrarySystem, library_system_from_config
from kiosk.adapter.fields import (
    format_badge,
    format_charge,
    format_date,
    format_money,
    parse_badge,
    parse_charge,
    parse_date,
    parse_money,
)
from kiosk.config import Sip2Fields, parse_config


def test_defaults_agree_with_the_config():
    shared = Sip2Fields().model_dump()
    assert {k: v for k, v in FieldCodes().model_dump().items() if k in shared} == shared
    codes = list(FieldCodes().model_dump().values())
    assert len(codes) == len(set(codes))


def test_codes_from_config_settings():
    custom = FieldCodes.from_settings(Sip2Fields(badges="ZB", birth_date="PB"))
    assert custom.badges == "ZB" and custom.charges == "XG"
    assert FieldCodes.from_settings({"charges": "ZC"}).charges == "ZC"
    assert FieldCodes.from_settings(None) == FieldCodes()


def test_sip2_config(monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_SIP2_PW", "secret")
    config = parse_config(
        {
            "library": {"kind": "sip2", "host": "wise.example", "user": "kiosk-1", "institution": "9401",
                        "fields": {"badges": "ZB"}},
            "secrets": {"sip2_password": {"env": "TEST_SIP2_PW"}},
        }
    )  # fmt: skip
    system = library_system_from_config(config)
    assert isinstance(system, Sip2LibrarySystem)
    assert system.settings.host == "wise.example" and system.settings.password.get_secret_value() == "secret"
    assert system.fields.badges == "ZB"


async def test_embedded_config_end_to_end(tmp_path):
    config = parse_config({"state_dir": str(tmp_path), "library": {"kind": "embedded", "data": "demo"}})
    system = library_system_from_config(config)
    assert isinstance(system, EmbeddedLibrarySystem)
    async with system:
        patron = await system.identify("29999000000030", "1234")
        assert patron.subscription.status.value == "invoiced"
        assert (await system.checkout("29999000000150", "30000000000043", pin="1234")).ok
    assert (tmp_path / "library.sqlite").exists()
    # The state persists across restarts of the embedded system.
    async with library_system_from_config(config) as again:
        info = await again.item_information("30000000000043")
        assert info.status.value == "on_loan"


def test_value_formats_round_trip():
    assert format_date(date(2026, 9, 1)) == "20260901" and parse_date("20260901") == date(2026, 9, 1)
    assert parse_date("2026-09-01") == date(2026, 9, 1)
    assert format_money(250) == "2.50" and parse_money("2,50") == Decimal("2.50")
    assert parse_badge(format_badge("Onbemande openingsuren", False)) == ("Onbemande openingsuren", False)
    assert parse_charge(format_charge(date(2026, 9, 1), 1250)) == (date(2026, 9, 1), Decimal("12.50"))
    for garbage in ("", "2026", "20261301", "abcdefgh"):
        assert parse_date(garbage) is None
    for garbage in ("", "-1", "x", "NaN", "Infinity"):
        assert parse_money(garbage) is None
    assert parse_charge("20260901") is None and parse_charge("x 1.00") is None


@settings(max_examples=2000)
@given(st.text(max_size=40))
def test_parsers_never_raise(text):
    parse_date(text)
    parse_money(text)
    parse_charge(text)
    parse_badge(text)
