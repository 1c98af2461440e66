"""The kiosk and the library system's edge (issue 12, item 5): it logs in
and probes at start (a refused login: out of order at once, one staff line),
and keeps the offline queue while the library system's 98 says offline_ok N."""

from __future__ import annotations

import logging

from pydantic import SecretStr

from kiosk.adapter import Sip2LibrarySystem
from kiosk.config import OfflineMode
from kiosk.flows import FlowSettings, State, Ui
from kiosk.sip2.client import ClientSettings
from tests.adapter.wise_peer import ACCOUNT, WisePeer, wise_peer

from .fakelib import FakeLibrary
from .harness import close_harness, fixed_now, make_harness

NOW = fixed_now()


def system(port: int, password: str) -> Sip2LibrarySystem:
    return Sip2LibrarySystem(ClientSettings(port=port, user=ACCOUNT[0], password=SecretStr(password), institution="WISE",
                                            keepalive_seconds=None, timeout=3, retries=0), dialect="wise")  # fmt: skip


async def test_a_refused_login_is_out_of_order_at_start_with_a_staff_line(tmp_path, caplog):
    async with wise_peer() as (port, peer):
        lib = system(port, "wrong")
        caplog.set_level(logging.ERROR, logger="kiosk.flows")
        h = await make_harness(lib, tmp_path, settings=FlowSettings(offline=OfflineMode.RETURN_ONLY), now=NOW)
        try:
            assert peer.log[:1] == ["93"]  # logged in at start, before any patron
            assert h.state is State.OUT_OF_ORDER
            staff = [r.getMessage() for r in caplog.records if "STAFF" in r.getMessage()]
            assert len(staff) == 1 and "refused the kiosk's SIP2 login" in staff[0] and "wrong" not in staff[0]
            await h.tap("22000000000011")  # a card does not get past a wrong account
            assert h.state is State.OUT_OF_ORDER and "63" not in peer.log
        finally:
            await close_harness(h)
            await lib.close()


async def test_the_right_login_at_start_and_the_kiosk_is_ready(tmp_path):
    async with wise_peer() as (port, peer):
        lib = system(port, ACCOUNT[1])
        h = await make_harness(lib, tmp_path, now=NOW)
        try:
            assert peer.log[:2] == ["93", "99"] and h.state is State.IDLE
        finally:
            await close_harness(h)
            await lib.close()


class NoOffline(FakeLibrary):
    accepts_offline = True


async def test_offline_queue_kept_while_offline_ok_is_n(tmp_path, caplog):
    lib = NoOffline()
    h = await make_harness(lib, tmp_path, settings=FlowSettings(offline=OfflineMode.RETURN_ONLY), now=NOW)
    try:
        lib.down = True
        await h.tap("1001")
        await h.press(Ui.OK)
        await h.press(Ui.RETURN)
        await h.place(["H1"])
        assert h.journal.pending_count() == 1
        lib.down = False
        lib.accepts_offline = False
        caplog.set_level(logging.WARNING, logger="kiosk.flows")
        assert await h.flows.replay() is None
        assert h.journal.pending_count() == 1 and not [c for c in lib.calls if c[0] == "checkin"]
        assert any("offline queue kept: 1 transaction" in r.getMessage() for r in caplog.records)
        lib.accepts_offline = True
        report = await h.flows.replay()
        assert report.replayed == 1 and h.journal.pending_count() == 0
    finally:
        await close_harness(h)
