"""A library system that drops a connection at its idle timeout, just as a
request arrives on it (the request is lost with the connection): the client
checks an idle link with a 99 before a request that changes state, so the
checkout goes out on a fresh link once and its outcome is known."""

from __future__ import annotations

import asyncio
import time

from kiosk.sip2 import (
    AcsStatus,
    CheckoutRequest,
    CheckoutResponse,
    ClientSettings,
    LoginRequest,
    LoginResponse,
    ScStatus,
    Sip2Client,
    Sip2Codec,
)

IDLE = 0.3


class IdleDropper:
    """Answers 93, 99 and 11; a frame arriving after IDLE s of silence on a
    connection closes it unanswered (the idle timer won the race)."""

    def __init__(self) -> None:
        self.checkouts = 0
        self.dropped = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        codec = Sip2Codec()
        last = time.monotonic()
        try:
            while data := await reader.read(4096):
                codec.receive_data(data)
                for msg in codec:
                    if time.monotonic() - last > IDLE:
                        self.dropped += 1
                        writer.close()
                        return
                    last = time.monotonic()
                    if isinstance(msg, LoginRequest):
                        answer = LoginResponse(ok=True)
                    elif isinstance(msg, ScStatus):
                        answer = AcsStatus(online_status=True, checkin_ok=True, checkout_ok=True, acs_renewal_policy=True,
                                           status_update_ok=False, offline_ok=False)  # fmt: skip
                    elif isinstance(msg, CheckoutRequest):
                        self.checkouts += 1
                        answer = CheckoutResponse(ok=True, patron_identifier=msg.patron_identifier,
                                                  item_identifier=msg.item_identifier)  # fmt: skip
                    else:
                        continue
                    writer.write(codec.encode(answer, codec.last_sequence))
                    await writer.drain()
        finally:
            writer.close()


async def run(probe_idle_seconds):
    peer = IdleDropper()
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = ClientSettings(port=port, user="k", password="p", keepalive_seconds=None, timeout=2, retries=1,
                              probe_idle_seconds=probe_idle_seconds, backoff_initial=0)  # fmt: skip
    try:
        async with Sip2Client(settings) as client:
            await asyncio.sleep(IDLE + 0.2)  # idle past the peer's timeout
            try:
                answer = await client.checkout("2000123456", "30001")
            except Exception as exc:  # noqa: BLE001
                return peer, exc
            return peer, answer
    finally:
        server.close()
        await server.wait_closed()


async def test_idle_link_is_checked_before_a_checkout():
    peer, answer = await run(probe_idle_seconds=0.1)
    assert isinstance(answer, CheckoutResponse) and answer.ok
    assert peer.checkouts == 1 and peer.dropped == 1  # the 99 probe was lost, not the checkout


async def test_without_the_probe_the_checkout_would_be_lost():
    from kiosk.sip2 import Sip2ConnectionError

    peer, answer = await run(probe_idle_seconds=None)
    assert isinstance(answer, Sip2ConnectionError) and answer.outcome_unknown
    assert peer.checkouts == 0
