"""Render every kiosk screen in each language into a folder (``make screenshots``).

    SDL_VIDEODRIVER=offscreen python -m kiosk.ui.screenshots docs/screenshots

Drives the real flows against the embedded library system (demo data, its
"today") with sim:// devices, and saves ``<nn>-<screen>-<lang>.png`` at
1280x800; ``3x-large-*`` (200 % text) and ``4x-contrast-*`` (high contrast)
are a few key screens with the display switches on, ``5x-keys-*`` the focus
ring of keypad operation.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from datetime import datetime
from pathlib import Path

from kiosk.i18n import LANGUAGES

DEMO_NOW = datetime(2026, 11, 23, 12, 0).astimezone()
OK_CARD = "29999000000010"
R2_CARD = "29999000000030"
HOLD_PATRON = "29999000000180"


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _sim_roles() -> dict[str, list[str]]:
    return {
        "patron_reader": ["sim://patron"],
        "item_reader": ["sim://rfid"],
        "scanner": ["sim://scanner"],
        "pinpad": ["sim://pinpad"],
        "indicator": ["sim://indicator"],
        "printer": ["sim://printer"],
    }


async def _main(outdir: Path, languages: list[str], only: set[str] | None) -> list[Path]:
    from dataclasses import replace

    from devices import sim
    from kiosk.config import OfflineMode
    from devices.base import Tag
    from kiosk.adapter import EmbeddedLibrarySystem
    from kiosk.flows import DeviceHub, FlowSettings, KioskFlows, State, Ui
    from kiosk.flows.model import K
    from kiosk.journal import Journal
    from kiosk.library.server import site_rules
    from policy import DEFAULT_PIN_REQUIRED

    from .runner import run_ui, screenshot

    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="bibkiosk-shots-") as tmp:
        for lang in languages:
            library = EmbeddedLibrarySystem("demo", database=Path(tmp) / f"library-{lang}.sqlite", clock=lambda: DEMO_NOW)
            await library.start()
            journal = Journal(Path(tmp) / f"journal-{lang}.sqlite", pseudonym_key=b"screenshots-key")
            rules = site_rules(library.store, branch_id="9901", pin_required=DEFAULT_PIN_REQUIRED)
            clock = _Clock()
            flows = KioskFlows(
                library, journal, DeviceHub(_sim_roles()),
                FlowSettings(rules=rules, language=lang, branch="Demo Centrum",
                             branch_names={code: b.name for code, b in library.store.branches().items()},
                             # no library probe during the run: it would end the
                             # out-of-order screen before its screenshot
                             probe_seconds=24 * 3600),
                monotonic=clock, now=lambda: DEMO_NOW,
            )
            title = K("kiosk.app.name")

            async def settle() -> None:
                for _ in range(3):
                    for _ in range(10):
                        await asyncio.sleep(0)
                    await flows.settle()

            async def shot(n: int, name: str, expect: State | None = None) -> None:
                if only and name not in only:
                    return
                if flows.view.language != lang:
                    flows.set_language(lang)  # (a touch: it would hide the idle warning)
                await settle()
                await asyncio.sleep(0.3)  # let Kivy lay out the new texts (a few frames)
                path = outdir / f"{n:02d}-{name}-{lang}.png"
                await screenshot(str(path))
                if expect is not None and flows.state is not expect:
                    raise RuntimeError(f"{path.name}: the kiosk left {expect.value} before its screenshot")
                written.append(path)

            async def press(action: Ui, arg: str | None = None) -> None:
                flows.press(action, arg)
                await settle()

            async def login(card: str) -> None:
                sim.tap_card(card)
                await settle()
                for d in "1234":
                    flows.press(Ui.PIN_DIGIT, d)
                await press(Ui.PIN_ENTER)

            async def scenario(app) -> None:
                await settle()
                await shot(1, "idle")
                sim.tap_card(OK_CARD)
                await settle()
                for d in "12":
                    flows.press(Ui.PIN_DIGIT, d)
                await shot(2, "pin")
                for d in "34":
                    flows.press(Ui.PIN_DIGIT, d)
                await press(Ui.PIN_ENTER)
                await shot(3, "menu")
                await press(Ui.BORROW)
                tags = [sim.tag_for(i) for i in ("30000000000029", "30000000000036", "30000000000067")]
                tags.append(sim.tag_for("30000000000128"))  # refused: a hold for someone else
                tags.append(Tag(uid="E004015000000051", item_id="30000000000050", set_parts=3, part_number=1))
                sim.place_items(tags)
                await settle()
                await shot(4, "borrow")
                await press(Ui.RENEW)
                await press(Ui.TOGGLE_LOAN, "30000000000012")
                await shot(5, "renew-select")
                await press(Ui.RENEW_ALL)
                await shot(6, "renew-done")
                await press(Ui.ACCOUNT)
                await shot(7, "account")
                flows.view.busy = K("kiosk.busy.account")
                flows._publish()
                await asyncio.sleep(0.5)  # the overlay shows only when an answer takes a while
                await shot(8, "busy")
                flows.view.busy = None
                flows._publish()
                await press(Ui.FINISH)
                await shot(9, "receipt")
                await press(Ui.RECEIPT_YES)
                await shot(10, "summary")
                await press(Ui.OK)
                sim.remove_items()
                await settle()
                await login(R2_CARD)
                await shot(11, "menu-refused")
                await press(Ui.BORROW)
                await shot(12, "message-refused")
                await press(Ui.OK)
                await press(Ui.FINISH)
                await press(Ui.OK)
                await press(Ui.RETURN)
                sim.place_items([sim.tag_for("30000000000104", secured=False)])
                await settle()
                await shot(13, "return")
                clock.t += flows.settings.idle_timeout_seconds - 17
                await flows.tick()
                await shot(14, "idle-warning")
                clock.t += 30
                await flows.tick()
                await settle()
                await login(HOLD_PATRON)
                await press(Ui.ACCOUNT)
                await shot(15, "account-holds")
                await press(Ui.FINISH)
                await press(Ui.OK)
                sim.unplug(name="rfid")
                await settle()
                await shot(16, "idle-device-notice")
                sim.replug(name="rfid")
                flows.settings = replace(flows.settings, offline=OfflineMode.OFF)
                flows._library_down()
                flows._goto_idle()
                flows._publish()
                await shot(17, "out-of-order", expect=State.OUT_OF_ORDER)
                sim.tap_card("2X1986")
                await settle()
                await _pay_shots(flows, Path(tmp) / f"payments-{lang}.sqlite", shot, press, login, settle)
                await _display_shots(flows, shot, press, settle)
                await _keys_shots(flows, shot, settle)
                await _help_shots(flows, shot, press, settle)

            try:
                await run_ui(flows, title=title, sounds=False, scenario=scenario)
            finally:
                journal.close()
                await library.close()
    return written


R1_CARD = "29999000000020"


async def _pay_shots(flows, journal_path: Path, shot, press, login, settle) -> None:
    """The pay screens (issue 14): what is owed and the choice, the terminal, a decline, paid -> borrowing."""
    from devices import open_device, sim
    from kiosk.flows import State, Ui
    from kiosk.payments import PaymentJournal, PaymentService

    terminal = open_device("sim://payment?name=shots-pay")
    await terminal.open()
    journal = PaymentJournal(journal_path, pseudonym_key=b"screenshots-key")
    try:
        flows.payments = PaymentService(journal, terminal, flows.library)
        flows._library_back()
        flows._goto_idle()
        flows._publish()
        await settle()
        await login(R1_CARD)
        await press(Ui.BORROW)
        await shot(18, "pay", expect=State.PAY)
        flows.press(Ui.PAY_START)  # nothing scripted: the terminal waits for a card
        for _ in range(200):
            if sim.payment_waiting(name="shots-pay"):
                break
            await asyncio.sleep(0.01)
        real_settle = flows.settle

        async def no_settle() -> None:  # the payment task runs until the terminal answers
            await asyncio.sleep(0.05)

        flows.settle = no_settle
        try:
            await shot(19, "paying", expect=State.PAYING)
        finally:
            flows.settle = real_settle
        sim.answer_payment("decline", name="shots-pay")
        await settle()
        await shot(20, "pay-declined", expect=State.PAY)
        await press(Ui.PAY_NEEDED)
        sim.script_payments(["approve"], name="shots-pay")
        await press(Ui.PAY_START)
        await shot(21, "pay-done-borrow", expect=State.BORROW)
        await press(Ui.FINISH)
    finally:
        flows.payments = None
        await terminal.close()
        journal.close()


#: The display switches (issue 16): these screens at 200 % text and in high contrast.
DISPLAY_MODES = (("large", {"large_text": True}, 30), ("contrast", {"high_contrast": True}, 40))


async def _display_shots(flows, shot, press, settle) -> None:
    """Idle, PIN, menu, borrow and account with each display switch on,
    switched on at rest the way a patron does (it lasts for the session)."""
    from devices import sim
    from kiosk.flows import State, Ui

    async def back_to_rest() -> None:
        for _ in range(4):
            if flows.state is State.IDLE:
                return
            action = {State.RECEIPT: Ui.RECEIPT_NO, State.SUMMARY: Ui.OK, State.MESSAGE: Ui.OK}.get(flows.state, Ui.FINISH)
            await press(action)
        sim.remove_items()
        await settle()

    await back_to_rest()
    for mode, switch, n in DISPLAY_MODES:
        flows.set_display(**switch)
        await shot(n, f"{mode}-idle", expect=State.IDLE)
        sim.tap_card(OK_CARD)
        await settle()
        for d in "12":
            flows.press(Ui.PIN_DIGIT, d)
        await shot(n + 1, f"{mode}-pin", expect=State.PIN)
        for d in "34":
            flows.press(Ui.PIN_DIGIT, d)
        await press(Ui.PIN_ENTER)
        await shot(n + 2, f"{mode}-menu", expect=State.MENU)
        await press(Ui.BORROW)
        sim.place_items([sim.tag_for(i) for i in ("30000000000043", "30000000000098", "30000000000128")])
        await settle()
        await shot(n + 3, f"{mode}-borrow", expect=State.BORROW)
        await press(Ui.ACCOUNT)
        await shot(n + 4, f"{mode}-account", expect=State.ACCOUNT)
        await back_to_rest()


async def _keys_shots(flows, shot, settle) -> None:
    """The focus ring (issue 16): the menu and the renew screen operated
    with the PIN pad's keys alone (kiosk/ui/focus.py), from rest."""
    from devices import sim
    from kiosk.flows import State

    async def keys(pressed: str) -> None:
        for key in pressed:
            sim.press_keys(key)
            await settle()

    sim.tap_card(OK_CARD)
    await settle()
    await keys("1234#")  # the PIN, then: 8 down (Renew)
    await keys("8")
    await shot(50, "keys-menu", expect=State.MENU)
    await keys("#2")  # press Renew, then up onto the loans
    await shot(51, "keys-renew", expect=State.RENEW)
    await keys("*")  # back: the menu



class _StaffTold:
    """A staff call that always goes out (the screenshots' stand-in for the console link)."""

    async def call(self, info) -> bool:  # noqa: ANN001
        return True

    async def close(self) -> None:
        return None


async def _help_shots(flows, shot, press, settle) -> None:
    """The help (issue 16): over the menu with a staff call sent; in unmanned
    hours with the emergency and contact details; the PIN screen's reset hint."""
    from dataclasses import replace

    from devices import sim
    from kiosk.flows import State, Ui
    from kiosk.flows.help import HelpSettings
    from policy import Schedule

    flows.staff_caller = _StaffTold()
    flows.open_help()
    await shot(60, "help-menu", expect=State.MENU)
    flows.call_staff()
    await settle()
    await shot(61, "help-sent", expect=State.MENU)
    flows.close_help()
    day = DEMO_NOW.strftime("%A").lower()
    unmanned = Schedule.model_validate({"branches": {"default": {day: [{"kind": "unmanned", "from": "08:00", "until": "22:00"}]}}})
    flows.settings = replace(flows.settings, pin_reset_url="bibliotheek.example/pincode", help=HelpSettings(
        phone="09 123 45 67", schedule=unmanned,
        contact={"nl": "Balie open ma-vr 10-17 u. Mail: bibliotheek@example.be",
                 "fr": "Accueil ouvert lu-ve 10-17 h. Courriel : bibliotheek@example.be",
                 "en": "Desk open Mon-Fri 10-17. Mail: bibliotheek@example.be"}))
    flows.open_help()
    await shot(62, "help-unmanned", expect=State.MENU)
    flows.close_help()
    await press(Ui.FINISH)
    if flows.state is State.RECEIPT:
        await press(Ui.RECEIPT_NO)
    if flows.state is State.SUMMARY:
        await press(Ui.OK)
    sim.tap_card(OK_CARD)
    await settle()
    for digit in "9999":
        flows.press(Ui.PIN_DIGIT, digit)
    await press(Ui.PIN_ENTER)
    await shot(63, "pin-wrong-hint", expect=State.PIN)
    await press(Ui.CANCEL)
    flows.staff_caller = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiosk.ui.screenshots", description=__doc__.split("\n")[0])
    parser.add_argument("outdir", nargs="?", default="docs/screenshots")
    parser.add_argument("--lang", action="append", choices=LANGUAGES, help="only these languages (repeatable)")
    parser.add_argument("--only", action="append", help="only these screens (repeatable)")
    args = parser.parse_args(argv)
    os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    languages = args.lang or list(LANGUAGES)
    if len(languages) > 1:
        # Kivy runs one App per process: one process per language.
        import subprocess
        import sys

        for lang in languages:
            cmd = [sys.executable, "-m", "kiosk.ui.screenshots", args.outdir, "--lang", lang]
            for name in args.only or ():
                cmd += ["--only", name]
            if subprocess.run(cmd, check=False).returncode != 0:
                return 1
        return 0
    from .runner import configure_kivy

    configure_kivy(width=1280, height=800)
    written = asyncio.run(_main(Path(args.outdir), languages, set(args.only or ()) or None))
    print(f"{len(written)} screenshots ({languages[0]}) in {args.outdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
