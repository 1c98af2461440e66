"""#11: a patron store that cannot be written (full or unwritable state_dir)
was only a CRITICAL log line at the kiosk.  It is raised as the door raises
it: a standing alarm the fleet reporter sends (``alarm`` event, raised and
cleared, and in the retained state), and a notice on every screen that PIN
actions are out of service; no PIN is checked meanwhile.  Real faults: a
600 KiB tmpfs filled to the last byte, and a store path that cannot be
opened at all."""

from __future__ import annotations

from kiosk.fleet.kiosk import KioskReporter
from kiosk.flows import DeviceHub, FlowSettings, KioskFlows, State, Ui, UiEvent
from kiosk.flows.alarms import RECHECK_SECONDS, STORE_ALARM
from kiosk.journal import Journal
from devices.base import CardPresented, IdentifierKind
from tests.door.fsfaults import fill, small_fs  # noqa: F401 - the fixture
from tests.kiosk.fakelib import FakeLibrary

KEY = b"store-alarm-key-0123456789abcdef"


class Link:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.state: dict | None = None

    def event(self, type_, **fields):
        self.events.append((type_, fields))

    def set_state(self, state):
        self.state = state


class Mono:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def notice_keys(flows) -> list[str]:
    return [n.key for n in flows.view.notices]


async def pin_attempt(flows, card="1001", pin="1234") -> None:
    await flows.handle(CardPresented(card, IdentifierKind.BARCODE, "patron_reader"))
    assert flows.state is State.PIN
    for d in pin:
        await flows.handle(UiEvent(Ui.PIN_DIGIT, d))
    await flows.handle(UiEvent(Ui.PIN_ENTER))


async def test_a_full_state_dir_raises_the_alarm_and_clears_it_when_there_is_room(small_fs):  # noqa: F811
    lib, mono, link = FakeLibrary(), Mono(), Link()
    journal = Journal(small_fs / "kiosk-journal.sqlite", pseudonym_key=KEY)
    flows = KioskFlows(lib, journal, DeviceHub({}), FlowSettings(), monotonic=mono)
    reporter = KioskReporter(flows, link=link)
    try:
        reporter.tick()
        assert flows.alarms == {} and link.state["alarms"] == [] and not notice_keys(flows)
        fill(small_fs)
        await pin_attempt(flows)
        assert flows.state is State.MESSAGE and flows.view.message.key == "kiosk.pin.out_of_service"
        assert [c for c in lib.calls if c[0] == "identify" and c[1]] == []  # the PIN was never sent
        assert STORE_ALARM in flows.alarms
        assert "kiosk.alarm.pin_out_of_service" in notice_keys(flows)  # every screen says so, the idle one too
        await flows.handle(UiEvent(Ui.OK))
        assert flows.state is State.IDLE and "kiosk.alarm.pin_out_of_service" in notice_keys(flows)
        reporter.tick()
        assert ("alarm", {"result": STORE_ALARM, "detail": "raised"}) in link.events
        assert link.state["alarms"] == [STORE_ALARM]
        # Still full: the recheck keeps it.
        mono.t += RECHECK_SECONDS + 1
        await flows.tick()
        assert STORE_ALARM in flows.alarms
        # Room again: cleared at the next recheck, and the fleet hears it.
        for f in small_fs.glob("filler*"):
            f.unlink()
        mono.t += RECHECK_SECONDS + 1
        await flows.tick()
        assert flows.alarms == {} and not notice_keys(flows)
        reporter.tick()
        assert ("alarm", {"result": STORE_ALARM, "detail": "cleared"}) in link.events and link.state["alarms"] == []
        await pin_attempt(flows)
        assert flows.state is not State.MESSAGE or flows.view.message.key != "kiosk.pin.out_of_service"
        assert [c for c in lib.calls if c[0] == "identify" and c[1]]  # PINs are checked again
    finally:
        await flows.close()
        journal.close()
        for f in small_fs.glob("filler*"):
            f.unlink()


async def test_a_store_that_cannot_be_opened_is_an_alarm_from_the_start(tmp_path):
    state = tmp_path / "state"
    (state / "patrons.sqlite").mkdir(parents=True)  # the store's path cannot be opened as a file
    lib, link = FakeLibrary(), Link()
    journal = Journal(state / "kiosk-journal.sqlite", pseudonym_key=KEY)
    flows = KioskFlows(lib, journal, DeviceHub({}), FlowSettings())
    try:
        flows._publish()
        assert STORE_ALARM in flows.alarms and "kiosk.alarm.pin_out_of_service" in notice_keys(flows)
        KioskReporter(flows, link=link).tick()
        assert ("alarm", {"result": STORE_ALARM, "detail": "raised"}) in link.events
        await pin_attempt(flows)
        assert flows.state is State.MESSAGE and flows.view.message.key == "kiosk.pin.out_of_service"
        assert [c for c in lib.calls if c[0] == "identify" and c[1]] == []
    finally:
        await flows.close()
        journal.close()


async def test_a_store_write_after_the_answer_that_fails_raises_the_alarm_too(tmp_path):
    """The attempt was held (durable), the settle after the answer fails (the
    disk filled up in between): the alarm is raised, not only logged."""
    from kiosk.identify import PatronStore, ScryptParams, StoreUnwritable

    class SettleFails(PatronStore):
        def settle(self, *args, **kwargs):
            raise StoreUnwritable("patron store: database or disk is full")

    store = SettleFails(tmp_path / "patrons.sqlite", KEY, scrypt=ScryptParams(n=2, r=1, p=1))
    journal = Journal(tmp_path / "kiosk-journal.sqlite", pseudonym_key=KEY)
    flows = KioskFlows(FakeLibrary(), journal, DeviceHub({}), FlowSettings(), store=store)
    try:
        await pin_attempt(flows)
        await flows.settle()
        assert STORE_ALARM in flows.alarms and "disk is full" in flows.alarms[STORE_ALARM]
        assert "kiosk.alarm.pin_out_of_service" in notice_keys(flows)
    finally:
        await flows.close()
        journal.close()
        store.close()
