"""The SIP2 edge of the embedded library system against an attacker and
against its own clients (issue 12): roles, login and PIN throttling,
connection limits, private state files, --state, bounded reads, 25/26,
65 after a wrong PIN, the check-in's language."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk.i18n import translate
from kiosk.library.datafile import demo_path, load_data
from kiosk.library.server import LibraryServer
from kiosk.library.store import Store
from kiosk.sip2.client import Sip2Client
from kiosk.sip2.codec import Sip2Codec
from kiosk.sip2.messages import (
    BlockPatron,
    CheckinRequest,
    CheckoutRequest,
    FeePaidRequest,
    LoginRequest,
    PatronEnable,
    PatronEnableResponse,
    PatronInformationRequest,
    RenewAllRequest,
    Summary,
)

from .conftest import NOW, REPO, settings_for
from .demo_cards import PIN

OK = "29999000000010"  # Demo Klant OK: 3 loans, charges none, badge, born 1985
YOUNG = "29999000000170"
NO_BADGE = "29999000000150"
ENGLISH = "29999000000040"


class Raw:
    """A raw SIP2 peer: one frame out, one frame in (None: the server closed)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.codec = Sip2Codec("cp850")

    @classmethod
    async def open(cls, port: int, source: str | None = None) -> Raw:
        local = (source, 0) if source else None
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=local)
        return cls(reader, writer)

    async def ask(self, msg, timeout: float = 10.0):
        self.writer.write(self.codec.encode(msg, 0, error_detection=False))
        await self.writer.drain()
        try:
            line = await asyncio.wait_for(self.reader.readuntil(b"\r"), timeout)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return self.codec.decode(line)

    async def closed(self, timeout: float = 5.0) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(1), timeout) == b""
        except ConnectionError:
            return True

    def close(self) -> None:
        self.writer.close()


def _login(user: str, password: str) -> LoginRequest:
    return LoginRequest(login_user_id=user, login_password=password, location_code="9901")


async def _logged_in(port: int, user: str = "kiosk1", password: str | None = None, source: str | None = None) -> Raw:
    raw = await Raw.open(port, source)
    answer = await raw.ask(_login(user, password or user))
    assert answer.ok
    return raw


def _serve(*args: str, nofile: int | None = None) -> tuple[subprocess.Popen, int]:
    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "library", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env=dict(os.environ, PYTHONUNBUFFERED="1"), preexec_fn=limit,
    )  # fmt: skip
    line = proc.stdout.readline()
    match = re.search(r"serving SIP2 on [\d.]+:(\d+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"library serve did not start: {line!r} {proc.stderr.read()!r}")
    return proc, int(match.group(1))


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        _out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
    return err


# ------------------------------------------------------------------ throttling, against `library serve`


def test_login_guessing_is_slow_and_dropped_and_logged_once_per_burst():
    proc, port = _serve("--demo")

    async def go() -> tuple[int, float]:
        # One connection: dropped after the third failure.
        raw = await Raw.open(port)
        for n in range(3):
            answer = await raw.ask(_login("kiosk1", f"guess{n}"))
            assert answer is not None and not answer.ok
        assert await raw.closed()
        raw.close()
        # Many connections at once buy no more guesses: slots per address.
        tries = 0
        stop = time.monotonic() + 3.0

        async def guesser(k: int) -> None:
            nonlocal tries
            while time.monotonic() < stop:
                raw = await Raw.open(port)
                for n in range(3):
                    answer = await raw.ask(_login("kiosk1", f"g{k}-{n}"), timeout=max(0.1, stop - time.monotonic()))
                    if answer is None:
                        break
                    assert not answer.ok
                    tries += 1
                raw.close()

        started = time.monotonic()
        await asyncio.gather(*(guesser(k) for k in range(10)), return_exceptions=True)
        elapsed = time.monotonic() - started
        # A kiosk elsewhere logs in at once and is served.
        t0 = time.monotonic()
        good = await _logged_in(port, source="127.0.0.2")
        info = await good.ask(PatronInformationRequest(patron_identifier=OK, patron_password=PIN))
        assert info.valid_patron and time.monotonic() - t0 < 2.0
        good.close()
        return tries, elapsed

    try:
        tries, elapsed = asyncio.run(go())
    finally:
        err = _stop(proc)
    assert tries / elapsed <= 10, f"{tries} guesses in {elapsed:.1f} s"
    refused = [line for line in err.splitlines() if "logins refused" in line]
    assert 1 <= len(refused) <= 4, refused  # one line per burst, not one per failure


def test_pin_guessing_locks_the_patron_whatever_the_client():
    proc, port = _serve("--demo")

    async def go() -> None:
        raw = await _logged_in(port)
        t0 = time.monotonic()
        for n in range(10):
            answer = await raw.ask(PatronInformationRequest(patron_identifier=OK, patron_password=f"{n:04d}9"))
            assert answer.valid_patron_password is False
        assert time.monotonic() - t0 < 5  # a known card is not slowed down …
        # … but its PIN is locked now: the right PIN is refused, from any client.
        again = await raw.ask(PatronInformationRequest(patron_identifier=OK, patron_password=PIN))
        assert again.valid_patron_password is False
        assert again.screen_message == (translate("library", "library.pin_locked", "nl"),)
        assert again.personal_name == "" and not again.charged_items
        other = await _logged_in(port, "kiosk2")
        elsewhere = await other.ask(PatronInformationRequest(patron_identifier=OK, patron_password=PIN))
        assert elsewhere.valid_patron_password is False
        # Another patron is not affected.
        fine = await other.ask(PatronInformationRequest(patron_identifier=NO_BADGE, patron_password=PIN))
        assert fine.valid_patron_password is True
        raw.close()
        other.close()

    try:
        asyncio.run(go())
    finally:
        _stop(proc)


async def test_unknown_card_probes_slow_down(demo_server):
    handler = demo_server.handler
    handler.probe_throttle.free = 3
    handler.probe_throttle.base = 0.05
    raw = await _logged_in(demo_server.port)
    t0 = time.monotonic()
    for n in range(10):
        answer = await raw.ask(PatronInformationRequest(patron_identifier=f"2999900000{n:04d}9"))
        assert answer.valid_patron is False
    # 3 free, then each one waits its slot: 0.05 + 0.1 + 0.2 + 0.4 + 0.8 s
    assert time.monotonic() - t0 >= 1.4
    raw.close()


# ------------------------------------------------------------------ roles


async def test_door_gets_the_verdicts_and_no_personal_details(demo_server):
    raw = await _logged_in(demo_server.port, "door1")
    info = await raw.ask(PatronInformationRequest(
        patron_identifier=OK, patron_password=PIN, summary=frozenset({Summary.CHARGED})))  # fmt: skip
    assert info.valid_patron and info.valid_patron_password is True
    codes = dict(info.extra_fields)
    assert info.personal_name == "" and info.charged_items == () and info.fee_amount is None
    assert "PB" not in codes and codes["XA"]  # age verdicts instead of the birth date
    assert ("XA", "16:Y") in info.extra_fields and ("XA", "18:Y") in info.extra_fields
    assert "XB" in codes and "XC" in codes  # badges, card state
    young = await raw.ask(PatronInformationRequest(patron_identifier=YOUNG, patron_password=PIN))
    assert ("XA", "16:N") in young.extra_fields and ("XA", "12:Y") in young.extra_fields
    charged = await raw.ask(PatronInformationRequest(patron_identifier="29999000000020", patron_password=PIN))
    assert [v for c, v in charged.extra_fields if c == "XG"] == ["20261101 12.50"]  # one summary, no list
    # 37, 01, 11 and 09 are not a door's business.
    paid = await raw.ask(FeePaidRequest(patron_identifier="29999000000020", fee_amount="12.50", fee_type=1))
    assert not paid.payment_accepted
    assert paid.screen_message == (translate("library", "library.not_allowed", None),)
    blocked = await raw.ask(BlockPatron(patron_identifier=OK, blocked_card_message="x"))
    assert blocked.valid_patron is False
    assert demo_server.store.identify(OK).card_status.value == "active"
    out = await raw.ask(CheckoutRequest(patron_identifier=OK, item_identifier="30000000000043", patron_password=PIN))
    assert not out.ok
    assert demo_server.store.item("30000000000043").loan is None
    raw.close()


async def test_kiosk_gets_personal_details_only_after_the_right_pin(demo_server):
    raw = await _logged_in(demo_server.port)
    every = frozenset({Summary.CHARGED, Summary.FINE, Summary.UNAVAILABLE})
    for pin in (None, "9999"):
        info = await raw.ask(PatronInformationRequest(patron_identifier=OK, patron_password=pin, summary=every))
        assert info.valid_patron and info.personal_name == ""
        assert info.charged_items == () and info.unavailable_hold_items == () and info.charged_items_count is None
        assert "PB" not in dict(info.extra_fields)
    right = await raw.ask(PatronInformationRequest(patron_identifier=OK, patron_password=PIN, summary=every))
    assert right.personal_name == "Demo Klant OK" and len(right.charged_items) == 3
    assert dict(right.extra_fields)["PB"] == "19850101"
    raw.close()


async def test_sorter_checks_in_and_sees_no_patron(demo_server):
    raw = await _logged_in(demo_server.port, "sorter1")
    info = await raw.ask(PatronInformationRequest(patron_identifier=OK, patron_password=PIN))
    assert info.valid_patron is False and info.personal_name == ""
    back = await raw.ask(CheckinRequest(item_identifier="30000000000012"))
    assert back.ok
    raw.close()


async def test_no_block_checkout_never_takes_an_item_from_its_borrower(demo_server):
    raw = await _logged_in(demo_server.port)
    answer = await raw.ask(CheckoutRequest(
        patron_identifier=NO_BADGE, item_identifier="30000000000012", no_block=True, sc_renewal_policy=True,
        nb_due_date=NOW.replace(year=2099)))  # fmt: skip
    assert not answer.ok
    loan = demo_server.store.item("30000000000012").loan
    assert loan.patron == "900001"  # still lent to its borrower
    incidents = demo_server.store.incidents()
    assert [i["kind"] for i in incidents] == ["no_block_checkout_of_charged_item"]
    assert incidents[0]["item"] == "30000000000012" and incidents[0]["account"] == "kiosk1"
    raw.close()


# ------------------------------------------------------------------ protocol


async def test_patron_enable_for_staff_and_a_typed_refusal_for_others(demo_server):
    staff = await _logged_in(demo_server.port, "staff1")
    await staff.ask(BlockPatron(patron_identifier=OK, blocked_card_message="kept"))
    assert demo_server.store.identify(OK).card_status.value == "blocked"
    kiosk = await _logged_in(demo_server.port)
    refused = await kiosk.ask(PatronEnable(patron_identifier=OK))
    assert isinstance(refused, PatronEnableResponse) and refused.valid_patron is False
    assert demo_server.store.identify(OK).card_status.value == "blocked"
    enabled = await staff.ask(PatronEnable(patron_identifier=OK))
    assert isinstance(enabled, PatronEnableResponse) and enabled.valid_patron
    assert enabled.screen_message == (translate("library", "library.patron_enabled", "nl"),)
    assert demo_server.store.identify(OK).card_status.value == "active"
    staff.close()
    kiosk.close()


async def test_renew_all_after_a_wrong_pin_lists_no_loans(demo_server):
    raw = await _logged_in(demo_server.port)
    answer = await raw.ask(RenewAllRequest(patron_identifier=OK, patron_password="9999"))
    assert not answer.ok and answer.renewed_items == () and answer.unrenewed_items == ()
    assert not answer.renewed_count and not answer.unrenewed_count
    raw.close()


async def test_checkin_answers_in_the_terminals_language_not_the_borrowers(demo_server):
    async with Sip2Client(settings_for(demo_server.port)) as client:
        lent = await client.checkout(ENGLISH, "30000000000043", no_block=True)
        assert lent.ok
    async with Sip2Client(settings_for(demo_server.port, user="kiosk2", password="kiosk2")) as client:
        back = await client.checkin("30000000000043")
    assert back.screen_message == (translate("library", "library.checkin_ok", "nl"),)


# ------------------------------------------------------------------ connection limits


def test_a_client_is_served_while_idle_connections_flood_a_low_fd_limit():
    proc, port = _serve("--demo", nofile=128)

    async def go() -> float:
        idle = []
        for _ in range(300):  # more than the server may have files open
            try:
                idle.append(await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2))
            except (OSError, TimeoutError):
                pass
        await asyncio.sleep(0.3)
        t0 = time.monotonic()
        good = await _logged_in(port, source="127.0.0.2")
        info = await good.ask(PatronInformationRequest(patron_identifier=OK, patron_password=PIN), timeout=5)
        assert info is not None and info.valid_patron
        took = time.monotonic() - t0
        good.close()
        for _reader, writer in idle:
            writer.close()
        return took

    try:
        took = asyncio.run(go())
    finally:
        err = _stop(proc)
    assert took < 3.0
    assert "Traceback" not in err
    assert len(err.splitlines()) < 20, err[-2000:]


# ------------------------------------------------------------------ files


def test_state_files_are_created_private(tmp_path):
    from kiosk.door.audit import AuditJournal
    from kiosk.journal import Journal

    old = os.umask(0o022)
    try:
        store = Store.create(tmp_path / "library.sqlite", load_data("demo"))
        store.record_incident("test", at="2026-11-23T12:00:00", account=None, item_id=None, detail="x")
        journal = Journal(tmp_path / "kiosk-journal.sqlite", pseudonym_key=b"k" * 32)
        audit = AuditJournal(tmp_path / "door-audit.sqlite")
    finally:
        os.umask(old)
    try:
        for path in tmp_path.iterdir():
            if path.is_file():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    finally:
        store.close()
        journal.close()
        audit.close()


def _cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, cwd=REPO, timeout=timeout,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )  # fmt: skip


def test_state_refuses_a_file_that_is_not_a_library_state(tmp_path):
    data = tmp_path / "library.json"
    shutil.copy(demo_path(), data)
    before = data.read_bytes()
    done = _cli("library", "serve", "--data", str(data), "--state", str(data), "--port", "0")
    assert done.returncode == 2
    assert "not a bibkiosk library state file" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert data.read_bytes() == before


@pytest.mark.parametrize(
    "args, says",
    [
        (("library", "serve", "--data", "/dev/zero"), "larger than"),
        (("library", "serve", "--demo", "--encoding", "rot13"), "--encoding"),
        (("library", "serve", "--demo", "--encoding", "utf-16"), "--encoding"),
        (("library", "check-data", "/dev/zero"), "larger than"),
        (("sip2", "--password-file", "/dev/zero", "status"), "larger than"),
    ],
)
def test_bounded_reads_and_checked_encoding_give_one_line(args, says):
    done = _cli(*args)
    assert done.returncode in (1, 2)
    assert "Traceback" not in done.stderr
    assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_config_from_dev_zero_is_a_one_line_error():
    from kiosk.config import ConfigError, load_config

    with pytest.raises(ConfigError) as caught:
        load_config("/dev/zero")
    assert "larger than" in str(caught.value) and "\n" not in str(caught.value)


# ------------------------------------------------------------------ the in-process server keeps working


async def test_embedded_internal_account_still_sees_everything(tmp_path):
    """The kiosk's in-process library (extra account, role kiosk) gets the
    personal details after the right PIN, as before."""
    from kiosk.library.datafile import Account

    store = Store.create(tmp_path / "s.sqlite", load_data("demo"))
    account = Account(login="internal", password="pw", location="9901")
    async with LibraryServer(store, clock=lambda: NOW, extra_accounts=(account,)) as server:
        await server.start("127.0.0.1", 0)
        async with Sip2Client(settings_for(server.port, user="internal", password="pw")) as client:
            info = await client.patron_information(OK, PIN, "charged")
    store.close()
    assert info.personal_name == "Demo Klant OK" and len(info.charged_items) == 3


def test_an_in_memory_store_leaves_no_file_named_memory(tmp_path, monkeypatch):
    """`bibkiosk check` opens its patron store as SQLite's ``:memory:``; making
    that name private once created a literal ``:memory:`` file in the working
    directory (one was committed by accident)."""
    import secrets

    from kiosk.files import private_file
    from kiosk.identify import ScryptParams
    from kiosk.identify.store import PatronStore

    monkeypatch.chdir(tmp_path)
    private_file(":memory:")
    store = PatronStore(":memory:", secrets.token_bytes(32), scrypt=ScryptParams(n=2, r=1, p=1))
    store.close()
    assert list(tmp_path.iterdir()) == []


def test_pin_lock_counts_from_the_first_wrong_pin_and_loads_limits_only_then():
    """``limits`` (~100 modules, ~4 MB with every storage backend) is loaded at
    the first wrong PIN, not by an embedded library that never saw one (the
    kiosk's memory, issue 16); the count is the same either way."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from kiosk.library.server import Sip2Server\n"
        "from kiosk.library.throttle import PinLock\n"
        "lock = PinLock(3, 15)\n"
        "assert not lock.locked('p1')\n"
        "assert 'limits' not in sys.modules, 'limits loaded before any wrong PIN'\n"
        "assert not lock.wrong('p1') and not lock.wrong('p1')\n"
        "assert 'limits' in sys.modules\n"
        "assert lock.wrong('p1') and lock.locked('p1') and not lock.locked('p2')\n"
        "lock.clear('p1')\n"
        "assert not lock.locked('p1')\n"
        "PinLock(3, 15).clear('p3')  # a clear with nothing counted\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
