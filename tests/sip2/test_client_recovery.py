"""The client recovers as specified: a connection dropped mid-answer, a slow
answer, a bad checksum, a 96, an unreachable or restarting ACS; and it never
logs a PIN, password, card number or name."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from sip2_fixtures import ACCOUNT, CARD, PIN, FakeLibrary, Patron

from kiosk.sip2 import (
    ClientSettings,
    RemoteSip2Error,
    RequestAcsResend,
    Sip2Client,
    Sip2Codec,
    Sip2ConnectionError,
    Sip2Server,
    Sip2Session,
)


class ScriptedAcs:
    """A raw TCP ACS: answers like FakeLibrary, except where ``misbehave``
    (called with the connection number, the request and the encoded answer)
    returns a list of actions: bytes to send, ("sleep", s) or ("close",)."""

    def __init__(self, misbehave=None):
        self.library = FakeLibrary()
        self.misbehave = misbehave or (lambda conn, msg, answer: None)
        self.seen: list[tuple[int, str]] = []
        self.connections = 0
        self.server: asyncio.base_events.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in self.writers:
                writer.close()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader, writer):
        self.connections += 1
        conn = self.connections
        self.writers.append(writer)
        codec = Sip2Codec()
        session = Sip2Session(connection_id=conn)
        last = b""
        try:
            while data := await reader.read(4096):
                codec.receive_data(data)
                while (frame := codec.next_frame()) is not None:
                    msg = codec.decode(frame)
                    seq = codec.last_sequence
                    self.seen.append((conn, msg.command_code))
                    if isinstance(msg, RequestAcsResend):
                        answer = last
                    else:
                        answer = codec.encode(await self.library.handle(msg, session), seq)
                        last = answer
                    actions = self.misbehave(conn, msg, answer)
                    for action in actions if actions is not None else [answer]:
                        if isinstance(action, bytes):
                            writer.write(action)
                            await writer.drain()
                        elif action[0] == "sleep":
                            await asyncio.sleep(action[1])
                        elif action[0] == "close":
                            writer.close()
                            return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def settings_for(port: int, **overrides) -> ClientSettings:
    values = dict(port=port, user=ACCOUNT[0], password=ACCOUNT[1], institution="BIB", location="K1",
                  timeout=2.0, keepalive_seconds=None, backoff_initial=0.01, retries=3)  # fmt: skip
    values.update(overrides)
    return ClientSettings(**values)


@pytest.fixture
async def acs():
    made = []

    async def make(misbehave=None):
        server = ScriptedAcs(misbehave)
        port = await server.start()
        made.append(server)
        return server, port

    yield make
    for server in made:
        await server.close()


async def test_drop_mid_answer_reconnects_logs_in_and_resends(acs):
    def misbehave(conn, msg, answer):
        if conn == 1 and msg.command_code == "63":
            return [answer[: len(answer) // 2], ("sleep", 0.05), ("close",)]
        return None

    server, port = await acs(misbehave)
    async with Sip2Client(settings_for(port)) as client:
        info = await client.patron_information(CARD, PIN, summary="charged")
        assert info.valid_patron and info.charged_items == ("30001001", "30001002")
        assert client.reconnects == 1
    assert server.library.logins == 2
    assert server.seen == [(1, "93"), (1, "99"), (1, "63"), (2, "93"), (2, "99"), (2, "63")]


async def test_drop_mid_answer_to_a_checkout_is_an_unknown_outcome(acs):
    def misbehave(conn, msg, answer):
        if conn == 1 and msg.command_code == "11":
            return [answer[:10], ("close",)]
        return None

    server, port = await acs(misbehave)
    async with Sip2Client(settings_for(port)) as client:
        with pytest.raises(Sip2ConnectionError) as info:
            await client.checkout(CARD, "30001003", PIN)
        assert info.value.outcome_unknown
        # the caller checks, on a new connection
        item = await client.item_information("30001003")
        assert item.circulation_status == 4  # the checkout did happen
    assert [code for _, code in server.seen].count("11") == 1


async def test_retry_unsafe_resends_a_checkout(acs):
    def misbehave(conn, msg, answer):
        if conn == 1 and msg.command_code == "11":
            return [("close",)]
        return None

    server, port = await acs(misbehave)
    async with Sip2Client(settings_for(port, retry_unsafe=True)) as client:
        out = await client.checkout(CARD, "30001003", PIN)
        assert out.ok
    assert [code for _, code in server.seen].count("11") == 2


async def test_idle_drop_by_the_acs_is_noticed_before_sending(acs):
    def misbehave(conn, msg, answer):
        if conn == 1 and msg.command_code == "99":
            return [answer, ("close",)]  # the ACS hangs up right after the log-in
        return None

    server, port = await acs(misbehave)
    async with Sip2Client(settings_for(port)) as client:
        await asyncio.sleep(0.1)
        out = await client.checkout(CARD, "30001003", PIN)  # not an unknown outcome: never sent
        assert out.ok
        assert client.reconnects == 1


async def test_slow_answer_times_out_and_the_next_request_works(acs):
    def misbehave(conn, msg, answer):
        if conn == 1 and msg.command_code == "17":
            return [("sleep", 1.0), answer]
        return None

    server, port = await acs(misbehave)
    async with Sip2Client(settings_for(port, timeout=0.3)) as client:
        started = time.monotonic()
        with pytest.raises(Sip2ConnectionError) as info:
            await client.item_information("30001003")
        elapsed = time.monotonic() - started
        assert 0.25 <= elapsed < 0.9
        assert "no answer to a 17" in str(info.value) and not info.value.outcome_unknown
        item = await client.item_information("30001003")
        assert item.title_identifier == "Max Havelaar"


async def test_bad_checksum_asks_for_a_resend_97(acs):
    def misbehave(conn, msg, answer):
        if msg.command_code == "63":
            corrupt = answer[:-5] + (b"0000" if answer[-5:-1] != b"0000" else b"1111") + b"\r"
            return [corrupt]
        return None

    server, port = await acs(misbehave)
    async with Sip2Client(settings_for(port)) as client:
        info = await client.patron_information(CARD, PIN)
        assert info.valid_patron and info.personal_name == "Jan Peeters"
    assert [code for _, code in server.seen] == ["93", "99", "63", "97"]


async def test_96_from_the_acs_makes_us_send_again(acs):
    asked = {"n": 0}

    def misbehave(conn, msg, answer):
        if msg.command_code == "17":
            asked["n"] += 1
            if asked["n"] == 1:
                return [b"96AZFEF6\r"]
        return None

    server, port = await acs(misbehave)
    async with Sip2Client(settings_for(port)) as client:
        item = await client.item_information("30001003")
        assert item.title_identifier == "Max Havelaar"
    assert [code for _, code in server.seen] == ["93", "99", "17", "17"]


async def test_garbage_forever_is_a_remote_error_after_bounded_resends(acs):
    def misbehave(conn, msg, answer):
        if msg.command_code in ("17", "97"):
            return [b"18garbage|AY1AZ0000\r"]
        return None

    server, port = await acs(misbehave)
    async with Sip2Client(settings_for(port, retries=2)) as client:
        with pytest.raises(RemoteSip2Error):
            await client.item_information("30001003")
    assert [code for _, code in server.seen].count("97") == 2


async def test_unreachable_library_system_is_a_clear_error():
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    client = Sip2Client(settings_for(port))
    started = time.monotonic()
    with pytest.raises(Sip2ConnectionError) as info:
        await client.connect()
    assert "unreachable" in str(info.value) and f"127.0.0.1:{port}" in str(info.value)
    assert time.monotonic() - started < 2
    with pytest.raises(Sip2ConnectionError) as info:
        await client.item_information("1")  # reconnect attempts with backoff, then give up
    assert "cannot reconnect" in str(info.value)
    await client.close()


async def test_reconnects_with_backoff_when_the_acs_restarts():
    handler = FakeLibrary()
    server = Sip2Server(handler)
    port = await server.start()
    client = Sip2Client(settings_for(port, retries=6, backoff_initial=0.05, backoff_max=0.4))
    await client.connect()
    await server.close()

    async def restart_later():
        await asyncio.sleep(0.4)
        again = Sip2Server(handler)
        await again.start("127.0.0.1", port)
        return again

    restarting = asyncio.create_task(restart_later())
    started = time.monotonic()
    info = await client.patron_information(CARD, PIN)
    assert info.valid_patron
    assert time.monotonic() - started >= 0.35
    assert handler.logins == 2 and client.reconnects == 1
    await client.close()
    await (await restarting).close()


async def test_keepalive_sends_status_when_idle(acs):
    server, port = await acs()
    async with Sip2Client(settings_for(port, keepalive_seconds=0.15)) as client:
        await asyncio.sleep(0.5)
        assert client.connected
    statuses = [code for _, code in server.seen].count("99")
    assert statuses >= 3  # one at log-in, then keep-alives


async def test_no_pin_password_card_or_name_in_any_log_line(acs, caplog):
    caplog.set_level(logging.DEBUG)

    def misbehave(conn, msg, answer):
        if conn == 1 and msg.command_code == "63":
            return [answer[:20], ("close",)]
        return None

    server, port = await acs(misbehave)
    # An 8-digit PIN: a 4-digit one could turn up inside a port number.
    card, pin = "2000987654321", "97531864"
    server.library.patrons[card] = Patron(pin, "Zeger Geheimhouder")
    async with Sip2Client(settings_for(port, terminal_password="term-secret")) as client:
        assert (await client.patron_information(card, pin)).valid_patron_password
        await client.checkout(card, "30001003", pin)
        await client.patron_status(card, pin)
    lines = "\n".join(r.getMessage() for r in caplog.records)
    assert "send 63" in lines and "AD<8>" in lines  # frames are logged, redacted
    for secret in (pin, ACCOUNT[1], card, "Zeger Geheimhouder", "term-secret"):
        assert secret not in lines
