"""The server core: many connections, dispatch, defaults, 96/97, errors, TLS."""

from __future__ import annotations

import logging

import asyncio
import ssl

import pytest
from sip2_fixtures import ACCOUNT, CARD, PIN, FakeLibrary

from kiosk.sip2 import (
    AcsStatus,
    CheckinRequest,
    CheckoutRequest,
    CheckoutResponse,
    ClientSettings,
    EndPatronSessionRequest,
    EndSessionResponse,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    LoginRequest,
    LoginResponse,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RequestAcsResend,
    ScStatus,
    Sip2Client,
    Sip2Codec,
    Sip2Handler,
    Sip2Server,
    UnknownMessage,
    refusal_for,
)


class Peer:
    """A raw TCP peer speaking through our codec."""

    def __init__(self, reader, writer, codec=None):
        self.reader, self.writer = reader, writer
        self.codec = codec or Sip2Codec()

    @classmethod
    async def connect(cls, port, **kw):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, **kw)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def ask(self, msg, seq=None):
        await self.send(self.codec.encode(msg, seq))
        return await self.answer()

    async def answer(self, timeout=5.0):
        return self.codec.decode(await asyncio.wait_for(self.reader.readuntil(b"\r"), timeout))

    def close(self):
        self.writer.close()


@pytest.fixture
async def served():
    servers = []

    async def start(handler, **options):
        server = Sip2Server(handler, **options)
        port = await server.start()
        servers.append(server)
        return server, port

    yield start
    for server in servers:
        await server.close()


async def test_default_handler_answers_sensibly(served):
    _, port = await served(Sip2Handler(institution_id="BIB"))
    peer = await Peer.connect(port)
    assert await peer.ask(LoginRequest(login_user_id="a", login_password="b")) == LoginResponse(ok=False)
    status = await peer.ask(ScStatus())
    assert isinstance(status, AcsStatus)
    assert status.online_status and not status.checkout_ok and status.institution_id == "BIB"
    assert status.supported_messages == "NNNNYYNNYNNNNNNN"  # only 99, 97 and the default 35
    out = await peer.ask(CheckoutRequest(patron_identifier=CARD, item_identifier="1", institution_id="BIB"))
    assert isinstance(out, CheckoutResponse) and not out.ok and out.item_identifier == "1"
    assert out.screen_message == ("Not supported",)
    ps = await peer.ask(PatronStatusRequest(patron_identifier=CARD))
    assert isinstance(ps, PatronStatusResponse) and ps.valid_patron is False and ps.patron_status.charge_privileges_denied
    end = await peer.ask(EndPatronSessionRequest(patron_identifier=CARD))
    assert isinstance(end, EndSessionResponse) and end.end_session
    # unknown commands get no answer; the next request still does
    await peer.send(Sip2Codec().encode(UnknownMessage(code="81", body="xyz|"), 0))
    assert isinstance(await peer.ask(ScStatus()), AcsStatus)
    peer.close()


async def test_holds_are_refused_by_default_and_supported_when_handled(served):
    _, port = await served(Sip2Handler(institution_id="BIB"))
    peer = await Peer.connect(port)
    hold = HoldRequest(hold_mode="+", institution_id="BIB", patron_identifier=CARD, item_identifier="30001003")
    out = await peer.ask(hold)
    assert isinstance(out, HoldResponse) and not out.ok and not out.available and out.queue_position is None
    assert (out.institution_id, out.patron_identifier, out.item_identifier) == ("BIB", CARD, "30001003")
    assert out.screen_message == ("Not supported",)
    peer.close()

    _, port = await served(FakeLibrary())
    settings = ClientSettings(port=port, user=ACCOUNT[0], password=ACCOUNT[1], institution="BIB", keepalive_seconds=None)
    async with Sip2Client(settings) as client:
        assert client.acs_status.supports("15")
        assert client.acs_status.supported_messages[13] == "Y"  # the hold position of BX
        placed = await client.hold(CARD, "30001003", PIN, pickup_location="NOORD")
        assert placed.ok and placed.queue_position == 1 and placed.pickup_location == "NOORD"
        assert placed.title_identifier == "Max Havelaar"
        assert not (await client.hold(CARD, "30001003", "9999")).ok  # wrong PIN
        assert not (await client.hold(CARD, "30001003", mode="*")).ok
        cancelled = await client.hold(CARD, "30001003", PIN, mode="-")
        assert cancelled.ok and cancelled.queue_position is None
        assert not (await client.hold(CARD, "30001003", PIN, mode="-")).ok  # nothing left to cancel


async def test_answers_mirror_the_request_error_detection(served):
    _, port = await served(FakeLibrary())
    peer = await Peer.connect(port)
    await peer.send(b"9300CNkiosk1|COs3cret-pw|\r")
    assert await peer.reader.readuntil(b"\r") == b"941\r"
    await peer.send(Sip2Codec().encode(LoginRequest(login_user_id=ACCOUNT[0], login_password=ACCOUNT[1]), 6))
    assert await peer.reader.readuntil(b"\r") == b"941AY6AZFDF7\r"
    peer.close()


async def test_always_and_never_error_detection(served):
    _, port_always = await served(FakeLibrary(), error_detection=True)
    _, port_never = await served(FakeLibrary(), error_detection=False)
    peer = await Peer.connect(port_always)
    await peer.send(b"9300CNkiosk1|COs3cret-pw|\r")
    assert await peer.reader.readuntil(b"\r") == b"941AY0AZFDFD\r"
    peer.close()
    peer = await Peer.connect(port_never)
    await peer.send(Sip2Codec().encode(LoginRequest(login_user_id=ACCOUNT[0], login_password=ACCOUNT[1]), 6))
    assert await peer.reader.readuntil(b"\r") == b"941\r"
    peer.close()


async def test_96_for_unreadable_frames_and_97_resends_the_last_answer(served):
    _, port = await served(FakeLibrary())
    peer = await Peer.connect(port)
    assert await peer.ask(RequestAcsResend()) == peer.codec.decode(b"96AZFEF6\r")  # nothing to resend yet
    await peer.send(b"941AY3AZFDFE\r")  # bad checksum
    assert await peer.reader.readuntil(b"\r") == b"96AZFEF6\r"
    await peer.send(b"6300020240115    104500\r")  # cut short
    assert await peer.reader.readuntil(b"\r") == b"96AZFEF6\r"
    await peer.send(b"\xff\xfe\xfd\r\n")
    assert await peer.reader.readuntil(b"\r") == b"96AZFEF6\r"
    first = await peer.ask(ItemInformationRequest(item_identifier="30001003", institution_id="BIB"), 4)
    assert first.title_identifier == "Max Havelaar"
    await peer.send(b"97AZFEF5\r")
    assert await peer.answer() == first
    assert peer.codec.last_sequence == 4
    peer.close()


async def test_login_required_and_session_state(served):
    handler = FakeLibrary(login_required=True)
    server, port = await served(handler)
    peer = await Peer.connect(port)
    refused = await peer.ask(CheckinRequest(item_identifier="30001001"))
    assert not refused.ok and refused.screen_message == ("Not logged in",)
    assert isinstance(await peer.ask(ScStatus()), AcsStatus)  # allowed before login
    assert (await peer.ask(LoginRequest(login_user_id=ACCOUNT[0], login_password=ACCOUNT[1]))).ok
    (session,) = server.sessions.values()
    assert session.logged_in and session.login_user_id == ACCOUNT[0] and session.account == ACCOUNT[0]
    assert (await peer.ask(CheckinRequest(item_identifier="30001001"))).ok
    peer.close()


class Faulty(Sip2Handler):
    async def on_checkout(self, msg, session):
        # Built at run time, as personal data in a message would be: the
        # stack in the debug log shows source lines, never the message.
        raise RuntimeError(" ".join(("database", "is", "on", "fire")))

    def on_checkin(self, msg, session):
        return "not a message"

    def on_item_information(self, msg, session):
        return PatronInformationResponse(patron_identifier="x" * 300)  # cannot be built: LocalSip2Error

    def on_patron_status(self, msg, session):
        return PatronStatusResponse(patron_identifier=msg.patron_identifier, personal_name="Łukasz")  # not cp850


async def test_handler_errors_become_refusals(served, caplog):
    caplog.set_level(logging.DEBUG)  # even the debug detail withholds exception messages
    _, port = await served(Faulty())
    peer = await Peer.connect(port)
    out = await peer.ask(CheckoutRequest(patron_identifier=CARD, item_identifier="1"))
    assert not out.ok and out.screen_message == ("System error",)
    back = await peer.ask(CheckinRequest(item_identifier="1"))
    assert not back.ok and back.screen_message == ("System error",)
    info = await peer.ask(ItemInformationRequest(item_identifier="1"))
    assert info.screen_message == ("System error",)
    ps = await peer.ask(PatronStatusRequest(patron_identifier=CARD))
    assert ps.valid_patron is False and ps.screen_message == ("System error",)
    peer.close()
    assert "database is on fire" not in caplog.text


async def test_many_connections_at_once(served):
    handler = FakeLibrary()
    server, port = await served(handler)

    async def one_kiosk(n: int) -> int:
        settings = ClientSettings(port=port, user=ACCOUNT[0], password=ACCOUNT[1], institution="BIB",
                                  keepalive_seconds=None, timeout=10)  # fmt: skip
        async with Sip2Client(settings) as client:
            done = 0
            for _ in range(5):
                info = await client.patron_information(CARD, PIN)
                assert info.valid_patron and info.personal_name == "Jan Peeters"
                item = await client.item_information("30001003")
                assert item.title_identifier == "Max Havelaar"
                done += 2
            return done

    results = await asyncio.gather(*(one_kiosk(n) for n in range(40)))
    assert sum(results) == 400
    assert handler.logins == 40
    await asyncio.sleep(0.05)
    assert server.connections == 0


async def test_refusal_for_echoes_identifiers():
    out = refusal_for(CheckoutRequest(patron_identifier="p", item_identifier="i", institution_id="B"), "Nee")
    assert (out.ok, out.patron_identifier, out.item_identifier, out.institution_id) == (False, "p", "i", "B")
    assert out.screen_message == ("Nee",)
    assert refusal_for(UnknownMessage(code="41", body="")) is None
    hold = refusal_for(HoldRequest(hold_mode="-", patron_identifier="p", item_identifier="i", title_identifier="t",
                                   institution_id="B"), "Nee")  # fmt: skip
    assert isinstance(hold, HoldResponse) and not hold.ok and not hold.available
    assert (hold.patron_identifier, hold.item_identifier, hold.title_identifier, hold.institution_id) == ("p", "i", "t", "B")
    assert hold.screen_message == ("Nee",)


async def test_idle_connections_are_closed(served):
    _, port = await served(FakeLibrary(), idle_timeout=0.2)
    peer = await Peer.connect(port)
    assert await asyncio.wait_for(peer.reader.read(), 5) == b""
    peer.close()


async def test_tls(served, tls_files):
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tls_files["server_pem"], tls_files["server_key"])
    server_ctx.load_verify_locations(tls_files["ca_pem"])
    server_ctx.verify_mode = ssl.CERT_REQUIRED  # the kiosk must show its client certificate
    server = Sip2Server(FakeLibrary())
    port = await server.start("127.0.0.1", 0, ssl=server_ctx)
    try:
        settings = ClientSettings(port=port, tls=True, ca_file=tls_files["ca_pem"], cert_file=tls_files["client_pem"],
                                  key_file=tls_files["client_key"], user=ACCOUNT[0], password=ACCOUNT[1],
                                  keepalive_seconds=None, institution="BIB")  # fmt: skip
        async with Sip2Client(settings) as client:
            assert (await client.patron_information(CARD, PIN)).valid_patron
        from kiosk.sip2 import Sip2ConnectionError

        untrusted = settings.model_copy(update={"ca_file": None})
        with pytest.raises(Sip2ConnectionError) as info:
            await Sip2Client(untrusted).connect()
        assert "TLS" in str(info.value)
    finally:
        await server.close()
