"""The embedded library system over real SIP2 on 127.0.0.1, with door test patrons.

One patron ("Door Testpatroon") in many variants, each with its own card and
PIN: the badge holder, without the badge, each block, replaced / blocked /
lost card, too young, expired.  The server runs in the test's loop; closing
it is "the library system is down".
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

from kiosk.adapter import Sip2LibrarySystem
from kiosk.library.datafile import demo_path, parse_data
from kiosk.library.server import LibraryServer
from kiosk.library.store import Store
from kiosk.sip2.client import ClientSettings

from .conftest import register_secrets

NAME = "Door Testpatroon"


@dataclass(frozen=True)
class Variant:
    key: str
    card: str
    pin: str
    rule: str | None  # the rule that refuses, None: enters


def _variants() -> list[tuple[Variant, dict]]:
    """(variant, changes to the template patron)."""
    rows = [
        ("ok", None, {}),
        ("no_badge", "B1", {"badges": []}),
        ("r1", "R1", {"charges": [{"amount": 12.5, "created": "2026-11-10", "paid": False, "description": "Te laat"}]}),
        ("r2", "R2", {"subscription": {"status": "invoiced", "fee_paid": False}}),
        ("r3", "R3", {"charges": [{"amount": 1.0, "created": "2026-01-05", "paid": False, "description": "Te laat"}]}),
        ("r4", "R4", {"replacement_invoice": True}),
        ("r5", "R5", {"subscription": {"status": "not_paid", "fee_paid": False}}),
        ("r6", "R6", {"subscription": {"status": "deregistered"}}),
        ("blacklist", "BL", {"subscription": {"status": "blacklist"}}),
        ("expired", "X1", {"subscription": {"end": "2026-10-31"}}),
        ("replaced", "C2", {"cards": "replaced"}),
        ("blocked", "C3", {"cards": "blocked"}),
        ("lost", "C4", {"cards": "lost"}),
        ("young", "A1", {"birth_date": "2014-05-01"}),
    ]
    out = []
    for i, (key, rule, changes) in enumerate(rows):
        card = f"2999911{i:07d}"
        pin = f"{(i * 7919 + 52817) % 900000 + 100000}"
        out.append((Variant(key, card, pin, rule), changes))
    return out


VARIANTS: dict[str, Variant] = {v.key: v for v, _ in _variants()}
NEW_CARD = {"replaced": "29999119999991"}


def door_data(*, badge_active: bool = True) -> str:
    demo = json.loads(Path(demo_path()).read_text(encoding="utf-8"))
    template = next(p for p in demo["patrons"] if p["id"] == "900001")
    patrons = []
    for n, (variant, changes) in enumerate(_variants()):
        p = copy.deepcopy(template)
        p.update(
            id=f"7700{n:02d}", name=NAME, pin=variant.pin, branch="9902",
            cards=[{"number": variant.card, "status": "active"}], charges=[],
        )
        for field, value in changes.items():
            if field == "subscription":
                p["subscription"].update(value)
            elif field == "cards":
                p["cards"] = [{"number": variant.card, "status": value}]
                if value == "replaced":
                    p["cards"].append({"number": NEW_CARD["replaced"], "status": "active"})
            else:
                p[field] = value
        patrons.append(p)
        register_secrets(variant.card, variant.pin)
    register_secrets(NAME, *NEW_CARD.values(), *(p["name"] for p in demo["patrons"]))
    demo["patrons"] = patrons
    demo["loans"] = []
    demo["holds"] = []
    for b in demo["badges"]:
        if b["name"] == "Onbemande openingsuren":
            b["active"] = badge_active
    text = json.dumps(demo)
    parse_data(text)  # valid
    return text


class EmbeddedLibrary:
    """A running embedded library system and a door's SIP2 adapter to it."""

    def __init__(self, tmp_path: Path, *, badge_active: bool = True) -> None:
        self.tmp_path = tmp_path
        self.data = parse_data(door_data(badge_active=badge_active))
        self.server: LibraryServer | None = None
        self.port: int | None = None
        self.adapter: Sip2LibrarySystem | None = None

    async def start(self) -> EmbeddedLibrary:
        self.store = Store.create(self.tmp_path / "library.sqlite", self.data)
        self.server = LibraryServer(self.store)
        self.port = await self.server.start("127.0.0.1", 0)
        settings = ClientSettings(
            host="127.0.0.1", port=self.port, user="door1", password="door1", location="9901",
            institution="9999", timeout=3, connect_timeout=1, retries=1, backoff_initial=0.05, keepalive_seconds=None,
        )
        self.adapter = Sip2LibrarySystem(settings)
        return self

    async def down(self) -> None:
        """The library system goes away (its SIP2 port closes)."""
        if self.server is not None:
            await self.server.close()
            self.server = None

    async def close(self) -> None:
        if self.adapter is not None:
            await self.adapter.close()
        await self.down()
        self.store.close()
