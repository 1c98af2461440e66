"""Messages validate when built: LocalSip2Error naming the field."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from kiosk.sip2 import (
    PATRON_STATUS_FLAGS,
    AcsStatus,
    HOLD_MODES,
    CheckoutRequest,
    HoldRequest,
    HoldResponse,
    LocalSip2Error,
    LoginRequest,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatus,
    ScStatus,
    Sip2Codec,
    Sip2Error,
    Summary,
    UnknownMessage,
    redact_frame,
    supported_messages_field,
)

UTC = timezone.utc


def error_for(factory, **kwargs) -> LocalSip2Error:
    with pytest.raises(LocalSip2Error) as info:
        factory(**kwargs)
    assert isinstance(info.value, Sip2Error)
    return info.value


def test_missing_required_field_is_named():
    assert error_for(CheckoutRequest, item_identifier="1").field == "patron_identifier"
    assert error_for(LoginRequest, login_user_id="u").field == "login_password"


def test_too_long_field_is_named():
    exc = error_for(CheckoutRequest, patron_identifier="1" * 256, item_identifier="2")
    assert exc.field == "patron_identifier" and "256" in str(exc)


def test_delimiters_inside_values_are_refused():
    assert error_for(CheckoutRequest, patron_identifier="12|AD", item_identifier="2").field == "patron_identifier"
    assert error_for(CheckoutRequest, patron_identifier="1", item_identifier="2\r").field == "item_identifier"
    assert error_for(PatronInformationResponse, patron_identifier="1", screen_message=("a|b",)).field == "screen_message"


def test_bad_types_and_widths_are_named():
    assert error_for(ScStatus, protocol_version="2.0").field == "protocol_version"
    assert error_for(ScStatus, max_print_width=1000).field == "max_print_width"
    assert error_for(ScStatus, status_code=-1).field == "status_code"
    assert error_for(CheckoutRequest, patron_identifier="1", item_identifier="2", nb_due_date="20240101").field == "nb_due_date"
    assert error_for(CheckoutRequest, patron_identifier="1", item_identifier="2", no_block="N").field == "no_block"
    assert error_for(PatronInformationResponse, patron_identifier="1", charged_items_limit=10000).field == "charged_items_limit"
    assert error_for(PatronInformationResponse, patron_identifier="1", patron_status="Y").field == "patron_status"
    assert error_for(PatronInformationRequest, patron_identifier="1", summary="everything").field == "summary"
    assert error_for(AcsStatus, online_status=True, checkin_ok=True, checkout_ok=True, acs_renewal_policy=True,
                     status_update_ok=True, offline_ok=True, date_time_sync="now").field == "date_time_sync"  # fmt: skip


def test_hold_fields_are_checked():
    assert HOLD_MODES == ("+", "-", "*")
    for mode in HOLD_MODES:
        assert HoldRequest(hold_mode=mode, patron_identifier="1").hold_mode == mode
    assert error_for(HoldRequest, patron_identifier="1").field == "hold_mode"  # no default: say what you want
    exc = error_for(HoldRequest, hold_mode="x", patron_identifier="1")
    assert exc.field == "hold_mode" and "'+'" in str(exc)
    assert error_for(HoldRequest, hold_mode="++", patron_identifier="1").field == "hold_mode"
    assert error_for(HoldRequest, hold_mode="+").field == "patron_identifier"
    assert error_for(HoldRequest, hold_mode="+", patron_identifier="1", hold_type=10).field == "hold_type"
    assert error_for(HoldRequest, hold_mode="+", patron_identifier="1", expiration_date="2024").field == "expiration_date"
    assert error_for(HoldRequest, hold_mode="+", patron_identifier="1", fee_acknowledged="Y").field == "fee_acknowledged"
    hold = HoldRequest(hold_mode="+", patron_identifier="1", item_identifier="2")
    assert hold.replace(hold_mode="-").hold_mode == "-"
    with pytest.raises(LocalSip2Error):
        hold.replace(hold_mode="?")
    assert error_for(HoldResponse, available=True, patron_identifier="1").field == "ok"
    assert error_for(HoldResponse, ok=True, patron_identifier="1", queue_position=-1).field == "queue_position"
    assert HoldResponse(ok=False, patron_identifier="1").available is False


def test_extra_fields_are_checked():
    assert error_for(LoginRequest, login_user_id="u", login_password="p", extra_fields=(("XYZ", "1"),)).field == "extra_fields"
    assert error_for(LoginRequest, login_user_id="u", login_password="p", extra_fields=(("XI", "a|b"),)).field == "extra_fields[XI]"
    ok = LoginRequest(login_user_id="u", login_password="p", extra_fields=[("XI", "1"), ("XI", "2")])
    assert ok.extras("XI") == ("1", "2") and ok.extra("XI") == "1" and ok.extra("ZZ") is None


def test_messages_are_frozen_and_normalised():
    msg = CheckoutRequest(patron_identifier="1", item_identifier="2",
                          transaction_date=datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC))  # fmt: skip
    assert msg.transaction_date.microsecond == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.patron_identifier = "3"  # type: ignore[misc]
    changed = msg.replace(item_identifier="9")
    assert changed.item_identifier == "9" and msg.item_identifier == "2"
    with pytest.raises(LocalSip2Error):
        msg.replace(item_identifier="9|")
    assert hash(msg) == hash(CheckoutRequest(patron_identifier="1", item_identifier="2",
                                             transaction_date=datetime(2024, 1, 1, 12, tzinfo=UTC)))  # fmt: skip


def test_repr_never_shows_secrets_or_personal_data():
    msg = LoginRequest(login_user_id="kiosk", login_password="hunter2", location_code="K1")
    assert "hunter2" not in repr(msg)
    info = PatronInformationResponse(patron_identifier="2000123456", personal_name="Jan Peeters",
                                     email_address="jan@example.org", extra_fields=(("PB", "19800101"),))  # fmt: skip
    text = repr(info)
    for secret in ("2000123456", "Jan Peeters", "jan@example.org", "19800101"):
        assert secret not in text
    req = CheckoutRequest(patron_identifier="2000123456", item_identifier="3000", patron_password="4321")
    assert "4321" not in repr(req) and "3000" in repr(req)
    hold = HoldRequest(hold_mode="+", patron_identifier="2000123456", patron_password="4321", terminal_password="tp9",
                       item_identifier="3000")  # fmt: skip
    for secret in ("2000123456", "4321", "tp9"):
        assert secret not in repr(hold)
    frame = redact_frame(Sip2Codec().encode(hold, 0))
    assert "AA<10>|" in frame and "AD<4>|" in frame and "AB3000|" in frame
    assert not any(secret in frame for secret in ("2000123456", "4321", "tp9"))


def test_patron_status_flags_have_the_policy_names_in_wire_order():
    from policy.models import PatronStatusFlags

    assert tuple(PatronStatusFlags.model_fields) == PATRON_STATUS_FLAGS
    assert tuple(f.name for f in dataclasses.fields(PatronStatus) if f.init) == PATRON_STATUS_FLAGS
    for position, name in enumerate(PATRON_STATUS_FLAGS):
        wire = " " * position + "Y" + " " * (13 - position)
        status = PatronStatus.from_wire(wire)
        assert status.set_flags() == (name,)
        assert status.to_wire() == wire
        assert PatronStatusFlags.from_sip2(wire).model_dump()[name] is True
    assert not PatronStatus() and PatronStatus(recall_overdue=True)
    assert PatronStatus.from_wire("NNNNYNNNNNNNNN").card_reported_lost  # 'N' for not set is read too
    with pytest.raises(LocalSip2Error):
        PatronStatus(card_reported_lost="Y")  # type: ignore[arg-type]


def test_summary_kinds():
    assert Summary.parse("charged") is Summary.CHARGED
    assert Summary.parse("holds") is Summary.HOLD and Summary.parse("fines") is Summary.FINE
    msg = PatronInformationRequest(patron_identifier="1", summary="overdue")
    assert msg.summary == frozenset({Summary.OVERDUE})
    frame = Sip2Codec().encode(msg, 0)
    assert b" Y        AO" in frame


def test_supported_messages_field():
    bx = supported_messages_field({"63", "11", "09", "99", "97", "93"})
    assert len(bx) == 16
    status = AcsStatus(online_status=True, checkin_ok=True, checkout_ok=True, acs_renewal_policy=False,
                       status_update_ok=False, offline_ok=False, supported_messages=bx)  # fmt: skip
    assert status.supports("63") and status.supports("11") and not status.supports("29")
    assert status.supports("41")  # outside the 16 positions: assume yes


def test_unknown_message_checks():
    assert error_for(UnknownMessage, code="4", body="").field == "code"
    assert error_for(UnknownMessage, code="41", body="a\rb").field == "body"
    assert UnknownMessage(code="41", body="x").command_code == "41"


def test_encoding_that_cannot_carry_a_character_names_the_field():
    msg = PatronInformationResponse(patron_identifier="1", personal_name="Łukasz €uro")
    with pytest.raises(LocalSip2Error) as info:
        Sip2Codec("cp850").encode(msg)
    assert info.value.field == "personal_name"
    assert Sip2Codec("utf-8").encode(msg)


def test_codec_options_are_checked():
    with pytest.raises(LocalSip2Error):
        Sip2Codec("no-such-encoding")
    with pytest.raises(LocalSip2Error):
        Sip2Codec(terminator=b"|")
    with pytest.raises(LocalSip2Error):
        Sip2Codec().encode(LoginRequest(login_user_id="u", login_password="p"), seq=10)
