"""One realistic instance of every message class, and hypothesis strategies
built from the classes' field specifications."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import strategies as st

from kiosk.sip2 import (
    MESSAGE_TYPES,
    AcsStatus,
    BlockPatron,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    EndPatronSessionRequest,
    EndSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    HOLD_MODES,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    ItemStatusUpdate,
    ItemStatusUpdateResponse,
    LoginRequest,
    LoginResponse,
    Message,
    PatronInformationRequest,
    PatronEnable,
    PatronEnableResponse,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusRequest,
    PatronStatusResponse,
    Registration,
    RegistrationsRequest,
    RegistrationsResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
    Summary,
    UnknownMessage,
)
from kiosk.sip2 import messages as m

UTC = timezone.utc
T = datetime(2024, 1, 15, 10, 45, 0, tzinfo=UTC)
DUE = datetime(2024, 2, 5, 23, 59, 0, tzinfo=UTC)

EXAMPLES: dict[str, Message] = {
    "93": LoginRequest(login_user_id="kiosk1", login_password="pw", location_code="KIOSK1"),
    "94": LoginResponse(ok=True),
    "99": ScStatus(status_code=0, max_print_width=40, protocol_version="2.00"),
    "98": AcsStatus(
        online_status=True, checkin_ok=True, checkout_ok=True, acs_renewal_policy=True, status_update_ok=False,
        offline_ok=False, timeout_period=30, retries_allowed=3, date_time_sync=T, institution_id="BIB",
        library_name="Bibliotheek", supported_messages="YYYYYYYYYYYYYYYY", terminal_location="KIOSK1",
        screen_message=("Welkom",),
    ),
    "97": RequestAcsResend(),
    "96": RequestScResend(),
    "23": PatronStatusRequest(language=5, transaction_date=T, institution_id="BIB", patron_identifier="2000123456",
                              terminal_password="tp", patron_password="1234"),
    "24": PatronStatusResponse(
        patron_status=PatronStatus(card_reported_lost=True), language=5, transaction_date=T, institution_id="BIB",
        patron_identifier="2000123456", personal_name="Jan Peeters", valid_patron=True, valid_patron_password=True,
        currency_type="EUR", fee_amount="1.50", screen_message=("Kaart verloren",),
    ),
    "63": PatronInformationRequest(
        language=5, transaction_date=T, summary=frozenset({Summary.CHARGED}), institution_id="BIB",
        patron_identifier="2000123456", terminal_password="tp", patron_password="1234", start_item=1, end_item=5,
    ),
    "64": PatronInformationResponse(
        patron_status=PatronStatus(), language=5, transaction_date=T, hold_items_count=1, overdue_items_count=0,
        charged_items_count=3, fine_items_count=0, recall_items_count=0, unavailable_holds_count=0,
        institution_id="BIB", patron_identifier="2000123456", personal_name="Jan Peeters", hold_items_limit=10,
        overdue_items_limit=5, charged_items_limit=20, valid_patron=True, valid_patron_password=True,
        currency_type="EUR", fee_amount="0.00", fee_limit="5.00", charged_items=("30001", "30002", "30003"),
        home_address="Kerkstraat 1", email_address="jan@example.org", home_phone_number="09 123 45 67",
        screen_message=("Welkom",),
    ),
    "11": CheckoutRequest(
        sc_renewal_policy=True, no_block=False, transaction_date=T, nb_due_date=DUE, institution_id="BIB",
        patron_identifier="2000123456", item_identifier="30001", terminal_password="tp", patron_password="1234",
        fee_acknowledged=False, cancel=False,
    ),
    "12": CheckoutResponse(
        ok=True, renewal_ok=False, magnetic_media=False, desensitize=True, transaction_date=T, institution_id="BIB",
        patron_identifier="2000123456", item_identifier="30001", title_identifier="De Avonden",
        due_date="20240205    235900", fee_type="01", security_inhibit=False, media_type="001",
        screen_message=("OK",),
    ),
    "09": CheckinRequest(no_block=False, transaction_date=T, return_date=T, current_location="KIOSK1",
                         institution_id="BIB", item_identifier="30001", terminal_password="tp", cancel=False),
    "10": CheckinResponse(
        ok=True, resensitize=True, magnetic_media=False, alert=False, transaction_date=T, institution_id="BIB",
        item_identifier="30001", permanent_location="MAIN", title_identifier="De Avonden", sort_bin="A1",
        patron_identifier="2000123456", media_type="001",
    ),
    "29": RenewRequest(third_party_allowed=False, no_block=False, transaction_date=T, nb_due_date=DUE,
                       institution_id="BIB", patron_identifier="2000123456", patron_password="1234",
                       item_identifier="30001", terminal_password="tp", fee_acknowledged=False),
    "30": RenewResponse(
        ok=True, renewal_ok=True, magnetic_media=False, desensitize=False, transaction_date=T, institution_id="BIB",
        patron_identifier="2000123456", item_identifier="30001", title_identifier="De Avonden",
        due_date="20240305    235900",
    ),
    "65": RenewAllRequest(transaction_date=T, institution_id="BIB", patron_identifier="2000123456",
                          patron_password="1234", terminal_password="tp", fee_acknowledged=False),
    "66": RenewAllResponse(ok=True, renewed_count=2, unrenewed_count=1, transaction_date=T, institution_id="BIB",
                           renewed_items=("30001", "30002"), unrenewed_items=("30003",)),
    "17": ItemInformationRequest(transaction_date=T, institution_id="BIB", item_identifier="30001",
                                 terminal_password="tp"),
    "18": ItemInformationResponse(
        circulation_status=4, security_marker=2, fee_type=1, transaction_date=T, hold_queue_length=2,
        due_date="20240205    235900", recall_date=DUE, hold_pickup_date=DUE, item_identifier="30001",
        title_identifier="De Avonden", owner="BIB", media_type="001", permanent_location="MAIN",
        current_location="MAIN",
    ),
    "37": FeePaidRequest(transaction_date=T, fee_type=1, payment_type=0, currency_type="EUR", fee_amount="2.50",
                         institution_id="BIB", patron_identifier="2000123456", terminal_password="tp",
                         patron_password="1234", fee_identifier="F1", transaction_id="T1"),
    "38": FeePaidResponse(payment_accepted=True, transaction_date=T, institution_id="BIB",
                          patron_identifier="2000123456", transaction_id="T1"),
    "35": EndPatronSessionRequest(transaction_date=T, institution_id="BIB", patron_identifier="2000123456",
                                  terminal_password="tp", patron_password="1234"),
    "36": EndSessionResponse(end_session=True, transaction_date=T, institution_id="BIB",
                             patron_identifier="2000123456"),
    "19": ItemStatusUpdate(transaction_date=T, institution_id="BIB", item_identifier="30001",
                           terminal_password="tp", item_properties="CD"),
    "20": ItemStatusUpdateResponse(item_properties_ok=True, transaction_date=T, item_identifier="30001",
                                   title_identifier="De Avonden", item_properties="CD"),
    "01": BlockPatron(card_retained=True, transaction_date=T, institution_id="BIB",
                      blocked_card_message="Kaart ingehouden", patron_identifier="2000123456", terminal_password="tp"),
    "25": PatronEnable(transaction_date=T, institution_id="BIB", patron_identifier="2000123456",
                       terminal_password="tp", patron_password="1234"),
    "26": PatronEnableResponse(patron_status=PatronStatus(), language=5, transaction_date=T, institution_id="BIB",
                               patron_identifier="2000123456", personal_name="Jan Peeters", valid_patron=True,
                               valid_patron_password=True, screen_message=("Kaart vrijgegeven",)),
    "15": HoldRequest(hold_mode="+", transaction_date=T, expiration_date=DUE, pickup_location="MAIN", hold_type=3,
                      institution_id="BIB", patron_identifier="2000123456", patron_password="1234",
                      item_identifier="30001", title_identifier="De Avonden", terminal_password="tp",
                      fee_acknowledged=False),
    "16": HoldResponse(ok=True, available=False, transaction_date=T, expiration_date=DUE, queue_position=2,
                       pickup_location="MAIN", institution_id="BIB", patron_identifier="2000123456",
                       item_identifier="30001", title_identifier="De Avonden",
                       screen_message=("Gereserveerd: plaats 2",), print_line=("De Avonden",)),
    "41": RegistrationsRequest.for_flag("FB", transaction_date=T, institution_id="BIB", patron_identifier="2000123456",
                                        terminal_password="tp", patron_password="1234"),
    "42": RegistrationsResponse.of(
        [
            Registration.build(created=T.date(), description="Boete", title="De Avonden", based_on=T.date(),
                               amount="1.50", adm_id="1234567", kind=2),
            Registration.build(created=T.date(), description="Contributie", title="Lidgeld volwassene",
                               amount="15.00", adm_id="1234568", kind=1),
        ],
        transaction_date=T, institution_id="BIB", patron_identifier="2000123456", screen_message=("2 registraties",),
    ),
}  # fmt: skip

assert set(EXAMPLES) == set(MESSAGE_TYPES), set(MESSAGE_TYPES) ^ set(EXAMPLES)

# Characters that cp850 and UTF-8 both carry; no '|', CR or LF.
ALPHABET = st.characters(
    codec="cp850", exclude_characters="|\r\n\x00", exclude_categories=("Cs",)
)
# Without Z, a frame without error detection can never end like an AZ trailer.
SAFE_ALPHABET = st.characters(codec="cp850", exclude_characters="|\r\n\x00Z", exclude_categories=("Cs",))

dates = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


def _text(alphabet, max_size=30):
    return st.text(alphabet=alphabet, max_size=max_size)


def _value(spec: m.FieldSpec, alphabet) -> st.SearchStrategy:
    kind = spec.kind
    if kind == m.K_CHAR:
        return st.text(alphabet=alphabet, min_size=spec.width, max_size=spec.width)
    if kind in (m.K_YN, m.K_OK):
        return st.booleans()
    if kind in (m.K_YNU, m.K_BOOL):
        return st.none() | st.booleans()
    if kind == m.K_DATE:
        return st.none() | dates
    if kind == m.K_VDATE:
        return st.none() | dates
    if kind == m.K_INT:
        return st.integers(0, 10**spec.width - 1)
    if kind == m.K_COUNT:
        return st.none() | st.integers(0, 10**spec.width - 1)
    if kind == m.K_VINT:
        return st.none() | st.integers(0, 10**spec.width - 1 if spec.width else 10**9)
    if kind == m.K_STATUS:
        return st.builds(PatronStatus, *[st.booleans()] * 14)
    if kind == m.K_SUMMARY:
        return st.frozensets(st.sampled_from(list(Summary)))
    if kind == m.K_STR:
        return _text(alphabet) if spec.required else st.none() | _text(alphabet)
    if kind == m.K_LIST:
        return st.lists(_text(alphabet), max_size=4).map(tuple)
    raise AssertionError(kind)


CODE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def extras_for(cls: type[Message], alphabet) -> st.SearchStrategy:
    known = set(cls.BY_CODE) | {"AY", "AZ"}
    codes = st.text(alphabet=CODE_CHARS, min_size=2, max_size=2).filter(lambda c: c not in known)
    return st.lists(st.tuples(codes, _text(alphabet)), max_size=3).map(tuple)


#: Fields whose values the class restricts further than their kind does.
RESTRICTED: dict[type[Message], dict[str, st.SearchStrategy]] = {
    HoldRequest: {"hold_mode": st.sampled_from(HOLD_MODES)},
}


def messages_of(cls: type[Message], alphabet=ALPHABET) -> st.SearchStrategy:
    fields = {spec.name: _value(spec, alphabet) for spec in cls.SPEC}
    fields.update(RESTRICTED.get(cls, {}))
    fields["extra_fields"] = extras_for(cls, alphabet)
    return st.builds(cls, **fields)


unknown_codes = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2).filter(
    lambda c: c not in MESSAGE_TYPES
)


def unknown_messages(alphabet=ALPHABET) -> st.SearchStrategy:
    return st.builds(UnknownMessage, code=unknown_codes, body=st.text(alphabet=alphabet, max_size=60))
