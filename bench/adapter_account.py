"""Benchmark: PIN accepted -> what the menu and the account screen need,
with a patron holding 0, 20 and 500 list entries (issue 12, item 5).

Our adapter (``Sip2LibrarySystem``: identify = 63 + 41, account = three 63s
asking BP1/BQ50 and at most 20 item lookups) against a SIP2 peer on loopback
(our server core with Wise-style handlers, a second process is not needed:
the peer answers from memory) that lists N loans and N holds, and pads every
list to the BQ asked with empty fields as some real peers do.

Peer, measured in the same run: the same adapter configured as before the
fix (BQ 9999, one 17 per entry): the unbounded way.

Target: p95 <= 300 ms and flat in N.  Prints medians, p95 and the ratio, then
JSON metric lines: {"metric": "account_ms", "entries": N, "p50": .., "p95": .., "peer_p95": ..}.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr  # noqa: E402

from kiosk.adapter import Sip2LibrarySystem  # noqa: E402
from kiosk.sip2 import (  # noqa: E402
    ItemInformationResponse,
    LoginResponse,
    PatronInformationResponse,
    RegistrationsResponse,
    Sip2Handler,
    Sip2Server,
)
from kiosk.sip2.client import ClientSettings  # noqa: E402

CARD = "22000000000011"


class Peer(Sip2Handler):
    institution_id = "WISE"

    def __init__(self, entries: int) -> None:
        super().__init__()
        self.entries = entries
        self.lookups = 0

    def on_login(self, msg, session):
        return LoginResponse(ok=True)

    def on_patron_information(self, msg, session):
        start, end = msg.start_item or 1, min(msg.end_item or 0, 20000)
        real = [f"3{n:07d}" for n in range(self.entries)][start - 1 : end]
        padded = tuple(real) + ("",) * max(0, end - start + 1 - len(real))
        kinds = {k.name for k in msg.summary}
        return PatronInformationResponse(
            institution_id="WISE", patron_identifier=msg.patron_identifier, personal_name="Lener",
            valid_patron=True, valid_patron_password=True, fee_amount="0.00",
            charged_items_count=self.entries, hold_items_count=self.entries,
            charged_items=padded if "CHARGED" in kinds else (), hold_items=padded if "HOLD" in kinds else (),
            unavailable_hold_items=padded if "UNAVAILABLE" in kinds else (), extra_fields=(("GL", "OBOU"),),
        )  # fmt: skip

    def on_registrations(self, msg, session):
        return RegistrationsResponse(institution_id="WISE", patron_identifier=msg.patron_identifier)

    def on_item_information(self, msg, session):
        self.lookups += 1
        return ItemInformationResponse(circulation_status=4, item_identifier=msg.item_identifier,
                                       title_identifier="Titel", due_date="20261214    235959")


async def measure(entries: int, runs: int, **options) -> tuple[list[float], int]:
    peer = Peer(entries)
    server = Sip2Server(peer, encoding="utf-8")
    port = await server.start("127.0.0.1", 0)
    settings = ClientSettings(port=port, user="b", password=SecretStr("b"), institution="WISE", encoding="utf-8",
                              keepalive_seconds=None, timeout=30)  # fmt: skip
    system = Sip2LibrarySystem(settings, dialect="wise", **options)
    times = []
    try:
        await system.start()
        for _ in range(runs):
            started = time.perf_counter()
            await system.identify(CARD, "1234")
            await system.account(CARD, "1234")
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await system.close()
        await server.close()
    return times, peer.lookups // runs


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


async def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    print(f"PIN accepted -> identify + account, {runs} runs each (ms)")
    print(f"{'entries':>8} {'p50':>8} {'p95':>8} {'17s':>5} | {'peer p50':>9} {'peer p95':>9} {'17s':>6} | ratio p95")
    lines = []
    for entries in (0, 20, 500):
        ours, lookups = await measure(entries, runs)
        peer_runs = max(3, runs // 10) if entries >= 500 else runs
        theirs, peer_lookups = await measure(entries, peer_runs, account_window=9999, account_item_lookups=99999)
        ratio = p95(theirs) / p95(ours)
        print(f"{entries:>8} {statistics.median(ours):8.1f} {p95(ours):8.1f} {lookups:>5} | "
              f"{statistics.median(theirs):9.1f} {p95(theirs):9.1f} {peer_lookups:>6} | {ratio:6.1f}x")  # fmt: skip
        lines.append({"metric": "account_ms", "entries": entries, "p50": round(statistics.median(ours), 2),
                      "p95": round(p95(ours), 2), "lookups": lookups, "peer": "unbounded (BQ 9999, one 17 per entry)",
                      "peer_p50": round(statistics.median(theirs), 2), "peer_p95": round(p95(theirs), 2),
                      "peer_lookups": peer_lookups})  # fmt: skip
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    asyncio.run(main())
