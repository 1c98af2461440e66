"""The console's web application without a browser: accounts, sessions, CSRF,
lockout, TOTP, roles, the pages, audit search by card (Starlette's TestClient)."""

from __future__ import annotations

import os
import re
import time

import pyotp
import pytest
from starlette.testclient import TestClient

from kiosk.config import ConfigError
from kiosk.console.app import create_app
from kiosk.console.auth import add_staff
from kiosk.console.config import parse_console_config
from kiosk.console.store import ConsoleStore
from kiosk.privacy import pseudonym

KEY = "console-site-key-0123456789abcdef"
PW = "correct horse battery"


class FakeLink:
    connected = True

    def __init__(self):
        self.sent = []

    async def start(self):
        pass

    async def stop(self):
        pass

    async def command(self, site, device, action, *, staff, reason, args=None, timeout=15, command_id=None):
        self.sent.append((site, device, action, staff, reason, dict(args or {})))
        if action == "check":
            return {"id": command_id, "ok": True, "result": {"allowed": False, "rules": ["B1"], "evidence": ["B1: no badge"],
                    "message": "Geen badge", "language": "nl", "card_ref": "card:x", "period": "unmanned", "pin_checked": False}}
        if reason == "disk full at the site":
            return {"id": command_id, "ok": True, "result": {"lock": "locked", "lockdown": True}, "recorded": False,
                    "warning": "state not writable: carried out, but not recorded on the door (database or disk is full)"}
        return {"id": command_id, "ok": True, "result": {}}


def console_config(tmp_path, store=None, **console):
    data = {
        "console": {"store": store or str(tmp_path / "console.sqlite"), "secure_cookies": False, "lockout_attempts": 3, **console},
        "broker": {"host": "127.0.0.1", "port": 1, "username": "console", "tls": False},
        "secrets": {"session_key": {"value": "s" * 32}, "broker_password": {"value": "x"}},
        "sites": {"b1": {"name": "Centrum", "pseudonym_key": {"value": KEY}}, "b2": {"name": "Noord"}},
    }
    return parse_console_config(data)


@pytest.fixture
def env(tmp_path, store_url):
    cfg = console_config(tmp_path, store_url)
    store = ConsoleStore(cfg.store_url())
    assert store.db.kind == ("postgresql" if store_url.startswith("postgresql:") else "sqlite")
    add_staff(store, "vera", PW, "viewer", "en")
    add_staff(store, "otto", PW, "operator", "nl")
    link = FakeLink()
    app = create_app(cfg, store=store, link=link)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, store, link


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(client, user, password=PW, code=None):
    page = client.get("/login")
    data = {"csrf": csrf_of(page.text), "username": user, "password": password, "next": "/"}
    if code:
        data["code"] = code
    return client.post("/login", data=data, follow_redirects=False)


def test_login_sessions_csrf_and_lockout(env):
    client, store, _ = env
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/login")
    page = client.get("/login")
    assert "content-security-policy" in page.headers and page.headers["x-frame-options"] == "DENY"
    # Without the CSRF token: refused.
    r = client.post("/login", data={"username": "vera", "password": PW}, follow_redirects=False)
    assert r.status_code == 400
    r = login(client, "vera")
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "Centrum" in client.get("/").text
    client.post("/logout", data={"csrf": csrf_of(client.get("/").text)})
    assert client.get("/", follow_redirects=False).status_code == 303
    # Three wrong passwords lock the account, even against the right one then.
    for _ in range(3):
        assert login(client, "otto", "wrong password!").status_code == 401
    r = login(client, "otto")
    assert r.status_code == 401 and "geblokkeerd" in r.text
    audit = store.staff_audit()
    assert [a["ok"] for a in audit if a["staff"] == "otto"].count(False) == 4


def test_secure_cookie_flag_and_plain_http_only_on_loopback(tmp_path):
    with pytest.raises(ConfigError, match="secure_cookies"):
        console_config(tmp_path, listen="0.0.0.0")
    cfg = console_config(tmp_path, secure_cookies=True)
    store = ConsoleStore(cfg.store_url())
    add_staff(store, "vera", PW, "viewer")
    with TestClient(create_app(cfg, store=store, link=FakeLink()), base_url="https://console.example") as client:
        r = login(client, "vera")
        assert "secure" in r.headers["set-cookie"].lower()


def test_totp_required_when_set(env):
    client, store, _ = env
    secret = add_staff(store, "tina", PW, "admin", totp=True)
    assert login(client, "tina").status_code == 401
    assert login(client, "tina", code="000000").status_code in (401,)
    r = login(client, "tina", code=pyotp.TOTP(secret).now())
    assert r.status_code == 303
    assert "Personeel" in client.get("/staff").text or "Staff" in client.get("/staff").text


def test_roles_viewer_cannot_act_operator_can(env):
    client, store, link = env
    store.status("b1", "door", True)
    store.state("b1", "door", {"kind": "door", "mode": "unmanned", "lock": "locked"})
    login(client, "vera")
    assert client.get("/site/b1/door/release").status_code == 403
    r = client.post("/site/b1/door/release", data={"csrf": csrf_of(client.get("/").text), "reason": "x", "confirm": "yes"})
    assert r.status_code == 403 and not link.sent
    assert client.get("/why").status_code == 403
    client.post("/logout", data={"csrf": csrf_of(client.get("/").text)})
    login(client, "otto")
    page = client.get("/site/b1/door/release")
    token = csrf_of(page.text)
    # No reason, no confirmation: nothing sent.
    assert client.post("/site/b1/door/release", data={"csrf": token, "seconds": "5", "confirm": "yes"}).status_code == 400
    assert client.post("/site/b1/door/release", data={"csrf": token, "seconds": "5", "reason": "patron"}).status_code == 400
    assert not link.sent
    r = client.post("/site/b1/door/release", data={"csrf": token, "seconds": "5", "reason": "patron waiting", "confirm": "yes"})
    assert r.status_code == 200 and 'id="action-result"' in r.text
    assert link.sent == [("b1", "door", "release", "otto", "patron waiting", {"seconds": 5.0})]
    acts = store.staff_audit()
    assert acts[0]["action"] == "release" and acts[0]["staff"] == "otto" and acts[0]["reason"] == "patron waiting"


def test_a_lockdown_done_but_not_recorded_at_the_site_is_shown_to_staff(env):
    client, store, link = env
    store.status("b1", "door", True)
    store.state("b1", "door", {"kind": "door", "mode": "unmanned", "lock": "locked"})
    login(client, "otto")
    token = csrf_of(client.get("/site/b1/door/lockdown").text)
    r = client.post("/site/b1/door/lockdown", data={"csrf": token, "reason": "disk full at the site", "confirm": "yes"})
    assert r.status_code == 200 and 'id="action-result"' in r.text
    assert 'id="action-not-recorded"' in r.text and "database or disk is full" in r.text
    assert '"recorded": false' in store.staff_audit()[0]["detail"]
    r = client.post("/site/b1/door/lockdown", data={"csrf": token, "reason": "incident", "confirm": "yes"})
    assert 'id="action-result"' in r.text and 'id="action-not-recorded"' not in r.text


def test_audit_search_by_card_hashes_with_the_site_key(env):
    client, store, _ = env
    card = "29999000000150"
    ref = pseudonym(card, KEY.encode())
    now = time.time()
    store.add_events([
        {"id": "e1", "site": "b1", "device": "door", "type": "entry", "at": "2026-12-01T10:00:00+00:00", "result": "refused",
         "rules": ["B1"], "card_ref": ref},
        {"id": "e2", "site": "b1", "device": "door", "type": "entry", "at": "2026-12-01T10:01:00+00:00", "result": "granted",
         "card_ref": "card:other"},
        {"id": "e1", "site": "b1", "device": "door", "type": "entry", "at": "2026-12-01T10:00:00+00:00", "result": "refused"},
    ])
    assert store.event_count() == 2
    login(client, "vera")
    r = client.get("/audit", params={"card": card, "go": "1"})
    assert ref in r.text and "card:other" not in r.text
    r = client.get("/audit", params={"rule": "B1", "site": "b1", "go": "1"})
    assert ref in r.text
    r = client.get("/audit", params={"result": "granted", "go": "1"})
    assert "card:other" in r.text and ref not in r.text
    # b2 has no key: searching by card there is refused with a message.
    assert "b2" in client.get("/audit", params={"card": card, "site": "b2", "go": "1"}).text
    # The card number is stored nowhere in the console's store.
    if store.db.kind == "postgresql":
        tables = [r[0] for r in store.db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert "events" in tables
        assert card not in repr([store.db.execute(f"SELECT * FROM {t}") for t in tables])
        return
    store.close()
    raw = open(store.db.path, "rb").read() + (open(str(store.db.path) + "-wal", "rb").read() if os.path.exists(str(store.db.path) + "-wal") else b"")
    assert card.encode() not in raw


def test_alarms_from_events_and_acknowledge(env):
    client, store, _ = env
    store.add_events([{"id": "a1", "site": "b1", "device": "door", "type": "alarm", "result": "held_open", "detail": "raised",
                       "at": "2026-12-01T10:00:00+00:00"}])
    store.status("b2", "door", False)
    login(client, "otto")
    page = client.get("/").text
    # Alarms first: b1 (held open) and b2 (offline) both before any quiet site.
    assert page.index("Centrum") < page.index("Noord")
    alarm = store.alarms("b1")[0]
    r = client.post(f"/alarm/{alarm['id']}/ack", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303
    assert store.alarms("b1")[0]["acked_by"] == "otto"
    store.add_events([{"id": "a2", "site": "b1", "device": "door", "type": "alarm", "result": "held_open", "detail": "cleared",
                       "at": "2026-12-01T10:05:00+00:00"}])
    assert store.alarms("b1") == []  # cleared and acknowledged: off the list


def test_every_alarm_kind_a_device_reports_opens_and_closes(env):
    """The console opened alarms for held_open and forced_open only: a door's
    patron_store_unwritable, state_unwritable, audit_corrupt (and any kind a newer device
    sends) never showed.  Known kinds in the staff's language with the device's reason,
    unknown ones as they came; "cleared" closes them."""
    client, store, _ = env

    def ev(i, result, detail, type_="alarm"):
        return {"id": f"k{i}", "site": "b1", "device": "door", "type": type_, "result": result, "detail": detail,
                "at": f"2026-12-01T10:0{i}:00+00:00"}

    store.add_events([ev(0, "patron_store_unwritable", "raised"),
                      ev(1, "patron_store_unwritable", "patron store: database or disk is full", "state"),
                      ev(2, "fan_failure", "raised"), ev(3, "audit_corrupt", "raised")])
    assert {a["kind"] for a in store.alarms("b1") if a["cleared"] is None} == {"patron_store_unwritable", "fan_failure", "audit_corrupt"}
    login(client, "otto")  # Dutch
    page = client.get("/site/b1?part=alarms").text
    assert "PIN-handelingen buiten dienst" in page and "door: <span class=\"alarm-detail\">patron store: database or disk is full" in page
    assert "Alarm: fan_failure" in page and "Auditlog was beschadigd" in page and "alarm.fan_failure" not in page
    client.post("/language", data={"csrf": csrf_of(client.get("/").text), "lang": "fr", "back": "/"})
    assert "Actions avec code PIN hors service" in client.get("/site/b1?part=alarms").text
    assert "Alarme : fan_failure" in client.get("/").text
    store.add_events([ev(4, "patron_store_unwritable", "cleared"), ev(5, "fan_failure", "cleared")])
    assert {a["kind"] for a in store.alarms("b1") if a["cleared"] is None} == {"audit_corrupt"}
    # The retained state is the device's standing alarms now: opens what an event missed, closes what is gone.
    store.state("b1", "kiosk", {"kind": "kiosk", "alarms": ["patron_store_unwritable"],
                                "alarm_detail": {"patron_store_unwritable": "state dir not writable"}})
    (kiosk,) = [a for a in store.alarms("b1") if a["device"] == "kiosk" and a["cleared"] is None]
    assert kiosk["kind"] == "patron_store_unwritable" and kiosk["detail"] == "state dir not writable"
    store.status("b1", "kiosk", False)
    store.state("b1", "kiosk", {"kind": "kiosk", "alarms": []})
    assert {a["kind"] for a in store.alarms("b1") if a["device"] == "kiosk" and a["cleared"] is None} == {"offline"}


def test_a_store_made_before_alarm_details_gets_the_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE alarms (id INTEGER PRIMARY KEY AUTOINCREMENT, site TEXT NOT NULL, device TEXT NOT NULL,"
               " kind TEXT NOT NULL, raised DOUBLE PRECISION NOT NULL, cleared DOUBLE PRECISION, acked_by TEXT,"
               " acked DOUBLE PRECISION, event_id TEXT)")
    db.execute("INSERT INTO alarms (site, device, kind, raised) VALUES ('b1', 'door', 'held_open', 1)")
    db.commit()
    db.close()
    store = ConsoleStore(path)
    try:
        assert store.alarms("b1")[0]["kind"] == "held_open" and store.alarms("b1")[0]["detail"] is None
    finally:
        store.close()


def test_languages(env):
    client, _, _ = env
    login(client, "otto")  # Dutch
    assert "Alle vestigingen" in client.get("/").text
    client.post("/language", data={"csrf": csrf_of(client.get("/").text), "lang": "fr", "back": "/"})
    page = client.get("/").text
    assert 'lang="fr"' in page and "Tous les sites" in page


def test_why_refused_from_the_site(env):
    client, store, link = env
    store.status("b1", "door", True)
    login(client, "otto")
    token = csrf_of(client.get("/why").text)
    r = client.post("/why", data={"csrf": token, "target": "b1/door", "card": "29999000000150", "check_action": "entry",
                                  "reason": "phone call"})
    assert "B1" in r.text and "Geen badge voor onbemande uren" in r.text
    site, device, action, staff, reason, args = link.sent[-1]
    assert action == "check" and args["card"] == "29999000000150"
    # The console keeps the card's hash, never the number, with the command.
    rows = store.db.execute("SELECT args FROM commands")
    assert "29999000000150" not in rows[0][0] and pseudonym("29999000000150", KEY.encode()) in rows[0][0]


def test_metrics_and_bad_config(env, tmp_path):
    client, store, _ = env
    store.status("b1", "door", True)
    text = client.get("/metrics").text
    assert "bibkiosk_console_devices" in text and "bibkiosk_console_sites 2.0" in text
    with pytest.raises(ConfigError, match="sites.b1.nmae"):
        parse_console_config({"broker": {"host": "h", "username": "c"}, "secrets": {"session_key": {"value": "s" * 20}},
                              "sites": {"b1": {"nmae": "x"}}})


def test_metrics_bearer_token(tmp_path, monkeypatch):
    """[console] metrics_token (here from the environment): /metrics answers 401 without the token, also to a
    logged-in staff member's cookie; the token is read at start-up and must be long enough."""
    token = "metrics-token-0123456789abcdef"
    monkeypatch.setenv("BIBKIOSK_TEST_METRICS_TOKEN", token)
    cfg = console_config(tmp_path, metrics_token={"env": "BIBKIOSK_TEST_METRICS_TOKEN"})
    store = ConsoleStore(cfg.store_url())
    add_staff(store, "vera", PW, "viewer", "en")
    with TestClient(create_app(cfg, store=store, link=FakeLink()), base_url="http://127.0.0.1") as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"},
                        {"Authorization": f"Bearer {token}x"}, {"Authorization": token}):
            r = client.get("/metrics", headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer"), headers
            assert "bibkiosk_console" not in r.text
        assert login(client, "vera").status_code == 303
        assert client.get("/metrics").status_code == 401  # a staff session is not the scraper's token
        r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and "bibkiosk_console_sites 2.0" in r.text
        assert client.get("/health").status_code == 200  # the load balancer's check stays open
    store.close()
    # From a file (chmod 600) too; a short token and an unset variable are start-up errors.
    secret = tmp_path / "metrics.secret"
    secret.write_text(token + "\n")
    secret.chmod(0o600)
    assert console_config(tmp_path, metrics_token={"file": str(secret)}).metrics_token() == token
    with pytest.raises(ConfigError, match="console.metrics_token: at least 16"):
        console_config(tmp_path, metrics_token={"value": "short"})
    monkeypatch.delenv("BIBKIOSK_TEST_METRICS_TOKEN")
    with pytest.raises(ConfigError, match="BIBKIOSK_TEST_METRICS_TOKEN is not set"):
        console_config(tmp_path, metrics_token={"env": "BIBKIOSK_TEST_METRICS_TOKEN"})
    with pytest.raises(ConfigError, match="metrics_tokn"):
        console_config(tmp_path, metrics_tokn={"value": token})


def test_a_lockdown_that_could_not_be_confirmed_is_shown_in_staff_words(env):
    """A door whose audit was unreadable at a start raises lockdown_unconfirmed (docs/door.md,
    "Lockdown across a restart"); the console showed it as "Alarm: lockdown_unconfirmed"."""
    client, store, _ = env
    store.add_events([{"id": "lu0", "site": "b1", "device": "door", "type": "alarm", "result": "lockdown_unconfirmed",
                       "detail": "raised", "at": "2026-12-01T10:00:00+00:00"}])
    login(client, "otto")  # Dutch
    page = client.get("/site/b1?part=alarms").text
    assert "Vergrendeling niet te bevestigen" in page and "lockdown_unconfirmed" not in page
