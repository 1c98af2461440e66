"""The console's store: devices, events, alarms, staff, the staff audit, commands.

Every event is kept once by its id (``ON CONFLICT DO NOTHING``): a redelivered
event, or the same event received by several console instances sharing one
PostgreSQL store, is stored once.  Card numbers are never stored: the audit
search hashes an entered card with the site's key and looks for the hash.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kiosk.console.db import Database, connect
from kiosk.console.errors import StoreError

#: One schema for both engines.  Times are epoch seconds in DOUBLE PRECISION
#: (PostgreSQL's REAL is single precision: a 2026 timestamp would be rounded to
#: 128 s); SQLite gives the name REAL affinity, the same as before.
SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    site TEXT NOT NULL, device TEXT NOT NULL, kind TEXT, online INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT '{}', updated DOUBLE PRECISION NOT NULL, PRIMARY KEY (site, device));
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, device TEXT NOT NULL, type TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    result TEXT, rules TEXT NOT NULL DEFAULT '', card_ref TEXT, reader TEXT, detail TEXT,
    body TEXT NOT NULL, received DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS events_site_at ON events (site, at);
CREATE INDEX IF NOT EXISTS events_card ON events (card_ref);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY AUTOINCREMENT, site TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL,
    raised DOUBLE PRECISION NOT NULL, cleared DOUBLE PRECISION, acked_by TEXT, acked DOUBLE PRECISION, event_id TEXT,
    detail TEXT);
CREATE INDEX IF NOT EXISTS alarms_open ON alarms (site, device, kind, cleared);
CREATE TABLE IF NOT EXISTS staff (
    username TEXT PRIMARY KEY, hash TEXT NOT NULL, role TEXT NOT NULL, language TEXT NOT NULL DEFAULT 'nl',
    totp TEXT, failed INTEGER NOT NULL DEFAULT 0, locked_until DOUBLE PRECISION NOT NULL DEFAULT 0, created DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS staff_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at DOUBLE PRECISION NOT NULL, staff TEXT NOT NULL, action TEXT NOT NULL,
    site TEXT, device TEXT, reason TEXT, ok INTEGER, detail TEXT);
CREATE INDEX IF NOT EXISTS staff_audit_at ON staff_audit (at);
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL, staff TEXT NOT NULL, site TEXT NOT NULL, device TEXT NOT NULL,
    action TEXT NOT NULL, args TEXT NOT NULL, reason TEXT NOT NULL, ok INTEGER, reply TEXT, answered DOUBLE PRECISION)
"""

ROLES = ("viewer", "operator", "admin")
#: An ``alarm`` event opens (``detail`` anything but ``cleared``) or closes an alarm of
#: the kind its ``result`` names, whatever the kind: the door's held_open, forced_open,
#: state_unwritable, audit_corrupt, patron_store_unwritable, the kiosk's
#: patron_store_unwritable, and any a newer device sends (shown generically).
#: The ``state`` event a device sends after it (same ``result``) says why: the alarm's detail.
ALARM_KIND = re.compile(r"[A-Za-z0-9_.-]{1,60}")
#: Alarms the console raises itself (link status, device/library/payment events), not a device's
#: standing ones: the retained state's ``alarms`` never clears these.
CONSOLE_KINDS = ("offline", "payment", "library_down")


def _ts(text: Any) -> float:
    try:
        value = datetime.fromisoformat(str(text))
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    except ValueError:
        return time.time()


@dataclass
class Staff:
    username: str
    hash: str
    role: str
    language: str
    totp: str | None
    failed: int
    locked_until: float


class ConsoleStore:
    def __init__(self, url: str | Path, base: Path | None = None) -> None:
        self.db: Database = connect(str(url), base)
        self.db.script(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Columns added since a store was made (both engines accept ``ALTER TABLE ... ADD COLUMN``)."""
        try:
            self.db.execute("SELECT detail FROM alarms LIMIT 0")
        except StoreError:
            self.db.execute("ALTER TABLE alarms ADD COLUMN detail TEXT")

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ link sink

    def status(self, site: str, device: str, online: bool) -> None:
        now = time.time()
        self.db.execute(
            "INSERT INTO devices (site, device, online, updated) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (site, device) DO UPDATE SET online = excluded.online, updated = excluded.updated",
            (site, device, int(online), now),
        )
        if online:
            self._clear(site, device, "offline", now)
        else:
            self._raise(site, device, "offline", now, None)

    def state(self, site: str, device: str, state: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO devices (site, device, kind, state, updated) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (site, device) DO UPDATE SET kind = excluded.kind, state = excluded.state, updated = excluded.updated",
            (site, device, str(state.get("kind") or ""), json.dumps(state), time.time()),
        )
        self._alarms_from_state(site, device, state)

    def _alarms_from_state(self, site: str, device: str, state: dict[str, Any]) -> None:
        """The retained state's ``alarms`` are the device's standing alarms now: open the ones
        not open yet (an ``alarm`` event it could not queue: a full state_dir), close the ones
        it no longer has; ``alarm_detail`` (kind -> why) is their detail."""
        kinds = state.get("alarms")
        if not isinstance(kinds, list):
            return
        standing = {k for k in kinds if isinstance(k, str) and ALARM_KIND.fullmatch(k)}
        details = state.get("alarm_detail") if isinstance(state.get("alarm_detail"), dict) else {}
        at = _ts(state["at"]) if "at" in state else time.time()
        rows = self.db.execute("SELECT kind, detail FROM alarms WHERE site = ? AND device = ? AND cleared IS NULL", (site, device))
        now_open = {r[0]: r[1] for r in rows}
        for kind in sorted(standing - set(now_open)):
            self._raise(site, device, kind, at, None)
        for kind in sorted(standing):
            why = details.get(kind)
            if isinstance(why, str) and why and why[:200] != now_open.get(kind):
                self._set_detail(site, device, kind, why)
        for kind in sorted(set(now_open) - standing):
            if kind not in CONSOLE_KINDS and not kind.startswith("device_lost:"):
                self._clear(site, device, kind, at)

    def add_events(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store *batch*; returns the events that were new (in order)."""
        if not batch:
            return []
        ids = [ev["id"] for ev in batch]
        known = set()
        for chunk in range(0, len(ids), 500):
            part = ids[chunk:chunk + 500]
            known |= {r[0] for r in self.db.execute(f"SELECT id FROM events WHERE id IN ({','.join('?' * len(part))})", part)}
        now = time.time()
        new, rows, seen = [], [], set()
        for ev in batch:
            if ev["id"] in known or ev["id"] in seen:
                continue
            seen.add(ev["id"])
            new.append(ev)
            rules = ev.get("rules") or []
            rows.append((
                ev["id"], ev["site"], ev["device"], str(ev["type"])[:32], _ts(ev.get("at")),
                _str(ev.get("result")), ",".join(str(r) for r in rules if isinstance(r, str))[:200],
                _str(ev.get("card_ref")), _str(ev.get("reader")), _str(ev.get("detail")), json.dumps(ev), now,
            ))
        # The alarms first, then the events: a console that dies in between stored no event, so the broker
        # delivers the batch again (it was not acknowledged) and the alarms are done again, which changes
        # nothing (raise: only when none is open; clear, detail: the same).  The other way round, the
        # redelivered event would be known already and its alarm never raised.
        for ev in new:
            self._alarm_from(ev)
        if rows:
            self.db.executemany(
                "INSERT INTO events (id, site, device, type, at, result, rules, card_ref, reader, detail, body, received)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                rows,
            )
        return new

    def _alarm_from(self, ev: dict[str, Any]) -> None:
        at = _ts(ev.get("at"))
        typ, result, detail = ev.get("type"), ev.get("result"), ev.get("detail")
        kind = result if isinstance(result, str) and ALARM_KIND.fullmatch(result) else None
        if typ == "alarm" and kind is not None:
            if detail == "cleared":
                self._clear(ev["site"], ev["device"], kind, at)
            else:
                self._raise(ev["site"], ev["device"], kind, at, ev["id"])
        elif typ == "state" and kind is not None and detail:
            # Why an alarm was raised: onto the open alarm of that kind (none: a state note, no alarm).
            self._set_detail(ev["site"], ev["device"], kind, str(detail))
        elif typ == "device" and result in ("lost", "back"):
            name = f"device_lost:{str(detail or '?')[:60]}"
            if result == "lost":
                self._raise(ev["site"], ev["device"], name, at, ev["id"])
            else:
                self._clear(ev["site"], ev["device"], name, at)
        elif typ == "payment" and result in ("problem", "failed", "unbooked"):
            self._raise(ev["site"], ev["device"], "payment", at, ev["id"])
        elif typ == "help" and result == "call_staff":
            # A patron at a kiosk calls staff: the alarm stands until a staff member acknowledges
            # it (that clears it too: the next call raises a new one).
            self._raise(ev["site"], ev["device"], "help", at, ev["id"])
        elif typ == "library":
            if result == "offline":
                self._raise(ev["site"], ev["device"], "library_down", at, ev["id"])
            elif result == "online":
                self._clear(ev["site"], ev["device"], "library_down", at)

    def _raise(self, site: str, device: str, kind: str, at: float, event_id: str | None) -> None:
        if self.db.execute("SELECT 1 FROM alarms WHERE site = ? AND device = ? AND kind = ? AND cleared IS NULL",
                           (site, device, kind)):
            return
        self.db.execute("INSERT INTO alarms (site, device, kind, raised, event_id) VALUES (?, ?, ?, ?, ?)",
                        (site, device, kind, at, event_id))

    def _set_detail(self, site: str, device: str, kind: str, why: str) -> None:
        self.db.execute("UPDATE alarms SET detail = ? WHERE site = ? AND device = ? AND kind = ? AND cleared IS NULL",
                        (why[:200], site, device, kind))

    def _clear(self, site: str, device: str, kind: str, at: float) -> None:
        self.db.execute("UPDATE alarms SET cleared = ? WHERE site = ? AND device = ? AND kind = ? AND cleared IS NULL",
                        (at, site, device, kind))

    # ------------------------------------------------------------------ reading

    def devices(self, site: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT site, device, kind, online, state, updated FROM devices"
        rows = self.db.execute(sql + (" WHERE site = ? ORDER BY device" if site else " ORDER BY site, device"), (site,) if site else ())
        return [{"site": r[0], "device": r[1], "kind": r[2] or "", "online": bool(r[3]), "state": json.loads(r[4] or "{}"),
                 "updated": r[5]} for r in rows]

    def device_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT online, COUNT(*) FROM devices GROUP BY online")
        return {("online" if r[0] else "offline"): int(r[1]) for r in rows}

    def site_online(self) -> dict[str, bool]:
        return {r[0]: bool(r[1]) for r in self.db.execute("SELECT site, MIN(online) FROM devices GROUP BY site")}

    def alarms(self, site: str | None = None, *, open_only: bool = True, limit: int = 200) -> list[dict[str, Any]]:
        where, args = [], []
        if open_only:
            where.append("(cleared IS NULL OR acked IS NULL)")
        if site:
            where.append("site = ?")
            args.append(site)
        sql = "SELECT id, site, device, kind, raised, cleared, acked_by, acked, detail FROM alarms"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.execute(sql + " ORDER BY raised DESC LIMIT ?", (*args, limit))
        return [{"id": r[0], "site": r[1], "device": r[2], "kind": r[3], "raised": r[4], "cleared": r[5],
                 "acked_by": r[6], "acked": r[7], "detail": r[8]} for r in rows]

    def open_alarm_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM alarms WHERE cleared IS NULL")[0][0])

    def acknowledge(self, alarm_id: int, staff: str) -> dict[str, Any] | None:
        rows = self.db.execute("SELECT site, device, kind FROM alarms WHERE id = ?", (alarm_id,))
        if not rows:
            return None
        now = time.time()
        self.db.execute("UPDATE alarms SET acked_by = ?, acked = ? WHERE id = ? AND acked IS NULL", (staff, now, alarm_id))
        if rows[0][2] == "help":  # a patron's call for help is answered once acknowledged
            self.db.execute("UPDATE alarms SET cleared = ? WHERE id = ? AND cleared IS NULL", (now, alarm_id))
        return {"site": rows[0][0], "device": rows[0][1], "kind": rows[0][2]}

    def events(
        self, *, site: str | None = None, since: float | None = None, until: float | None = None,
        result: str | None = None, rule: str | None = None, card_refs: Iterable[str] | None = None,
        types: Iterable[str] | None = None, limit: int = 200,
    ) -> list[dict[str, Any]]:
        where, args = _site_and_time(site, since, until)
        if result:
            where.append("result = ?")
            args.append(result)
        if rule:
            where.append("(',' || rules || ',') LIKE ?")
            args.append(f"%,{rule},%")
        if card_refs is not None:
            refs = list(card_refs)
            if not refs:
                return []
            where.append(f"card_ref IN ({','.join('?' * len(refs))})")
            args += refs
        if types is not None:
            kinds = list(types)
            where.append(f"type IN ({','.join('?' * len(kinds))})")
            args += kinds
        sql = "SELECT id, site, device, type, at, result, rules, card_ref, reader, detail FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.execute(sql + " ORDER BY at DESC LIMIT ?", (*args, limit))
        return [{"id": r[0], "site": r[1], "device": r[2], "type": r[3], "at": r[4], "result": r[5],
                 "rules": [x for x in (r[6] or "").split(",") if x], "card_ref": r[7], "reader": r[8], "detail": r[9]}
                for r in rows]

    def event_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM events")[0][0])

    def occupancy(self, site: str, since: float) -> dict[str, int]:
        """Entries granted and exits at *site* since *since* (local midnight, or the last reset)."""
        reset = self.db.execute("SELECT MAX(at) FROM events WHERE site = ? AND type = 'occupancy' AND at >= ?", (site, since))
        if reset and reset[0][0] is not None:
            since = float(reset[0][0])
        row = self.db.execute(
            "SELECT SUM(CASE WHEN type = 'entry' AND result = 'granted' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN type = 'exit' THEN 1 ELSE 0 END) FROM events WHERE site = ? AND at >= ?",
            (site, since),
        )[0]
        entries, exits = int(row[0] or 0), int(row[1] or 0)
        return {"entries": entries, "exits": exits, "estimate": max(0, entries - exits)}

    # ------------------------------------------------------------------ staff

    def staff(self, username: str) -> Staff | None:
        rows = self.db.execute("SELECT username, hash, role, language, totp, failed, locked_until FROM staff WHERE username = ?", (username,))
        return Staff(*rows[0]) if rows else None

    def staff_list(self) -> list[Staff]:
        return [Staff(*r) for r in self.db.execute("SELECT username, hash, role, language, totp, failed, locked_until FROM staff ORDER BY username")]

    def put_staff(self, username: str, hash_: str, role: str, language: str = "nl", totp: str | None = None) -> None:
        assert role in ROLES
        self.db.execute(
            "INSERT INTO staff (username, hash, role, language, totp, created) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (username) DO UPDATE SET hash = excluded.hash, role = excluded.role,"
            " language = excluded.language, totp = excluded.totp, failed = 0, locked_until = 0",
            (username, hash_, role, language, totp, time.time()),
        )

    def login_failed(self, username: str, attempts: int, lock_seconds: float) -> bool:
        """Count a failure; True when the account is now locked."""
        self.db.execute("UPDATE staff SET failed = failed + 1 WHERE username = ?", (username,))
        row = self.db.execute("SELECT failed FROM staff WHERE username = ?", (username,))
        if row and int(row[0][0]) >= attempts:
            self.db.execute("UPDATE staff SET locked_until = ?, failed = 0 WHERE username = ?", (time.time() + lock_seconds, username))
            return True
        return False

    def login_ok(self, username: str, new_hash: str | None = None) -> None:
        self.db.execute("UPDATE staff SET failed = 0, locked_until = 0 WHERE username = ?", (username,))
        if new_hash:
            self.db.execute("UPDATE staff SET hash = ? WHERE username = ?", (new_hash, username))

    def set_language(self, username: str, language: str) -> None:
        self.db.execute("UPDATE staff SET language = ? WHERE username = ?", (language, username))

    # ------------------------------------------------------------------ staff audit, commands

    def audit(self, staff: str, action: str, *, site: str | None = None, device: str | None = None,
              reason: str | None = None, ok: bool | None = None, detail: str | None = None) -> None:
        self.db.execute(
            "INSERT INTO staff_audit (at, staff, action, site, device, reason, ok, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), staff, action, site, device, reason, None if ok is None else int(ok), detail),
        )

    def staff_audit(self, *, site: str | None = None, since: float | None = None, until: float | None = None,
                    limit: int = 200) -> list[dict[str, Any]]:
        where, args = _site_and_time(site, since, until)
        sql = "SELECT seq, at, staff, action, site, device, reason, ok, detail FROM staff_audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.execute(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit))
        return [{"seq": r[0], "at": r[1], "staff": r[2], "action": r[3], "site": r[4], "device": r[5], "reason": r[6],
                 "ok": None if r[7] is None else bool(r[7]), "detail": r[8]} for r in rows]

    def command_sent(self, cid: str, staff: str, site: str, device: str, action: str, args: dict[str, Any], reason: str) -> None:
        self.db.execute(
            "INSERT INTO commands (id, at, staff, site, device, action, args, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, time.time(), staff, site, device, action, json.dumps(args), reason),
        )

    def command_answered(self, cid: str, ok: bool, reply: dict[str, Any]) -> None:
        self.db.execute("UPDATE commands SET ok = ?, reply = ?, answered = ? WHERE id = ?",
                        (int(ok), json.dumps(reply, default=str), time.time(), cid))


def _str(value: Any) -> str | None:
    return None if value is None else str(value)[:500]


def _site_and_time(site: str | None, since: float | None, until: float | None) -> tuple[list[str], list[Any]]:
    """The WHERE terms and arguments for the site and time filters every listing shares."""
    where: list[str] = []
    args: list[Any] = []
    if site:
        where.append("site = ?")
        args.append(site)
    if since is not None:
        where.append("at >= ?")
        args.append(since)
    if until is not None:
        where.append("at < ?")
        args.append(until)
    return where, args
