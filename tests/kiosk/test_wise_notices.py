"""#13 item 6 at the kiosk: what Wise tells the patron beside the transaction.

The embedded library system (demo data, real SIP2 on loopback) sends the
Wise fields: the patron's notifications in AF, FV questions on a checkout,
CL 03 / 02 on a check-in whose item goes to a hold.  The flows carry them to
the menu, the borrow and return lines and the receipt, in the kiosk's own
words (one language per screen) or marked as the library's message.
"""

from __future__ import annotations

from datetime import datetime

from devices import sim
from kiosk.flows import LineStatus, State, Ui
from kiosk.flows.receipt import receipt_lines
from kiosk.i18n import translate

from .test_e2e import HOLD_ITEM, NOW, OK_CARD, h, library, login  # noqa: F401 - fixtures

HOLD_CARD = "29999000000180"  # Demo Klant Hold: English, two notifications
DAMAGED = "30000000000067"  # FV "damaged"
ATTACHMENTS = "30000000000074"  # FV "attachments"


def kio(key, lang, **params):
    return translate("kiosk", key, lang, **params)


def says(text, lang):
    return kio("kiosk.outcome.library_says", lang, text=text)


async def test_menu_shows_the_patrons_notifications_marked_as_the_librarys(h):
    await login(h, OK_CARD)
    assert h.state is State.MENU
    assert [t.render("nl") for t in h.view.notifications] == [
        says("Vanaf 1 december zijn we op maandag gesloten.", "nl")]
    await h.press(Ui.FINISH)
    await h.press(Ui.OK)
    assert h.view.notifications == []  # nothing of the patron stays
    await login(h, HOLD_CARD)
    assert h.state is State.MENU and h.view.language == "en"
    assert [t.render("en") for t in h.view.notifications] == [
        says("Your hold is ready at Demo Centrum.", "en"), says("Remember to renew your subscription.", "en")]


async def test_fv_questions_are_shown_as_information_not_answered(h):
    await login(h, OK_CARD)
    await h.press(Ui.BORROW)
    await h.scan(DAMAGED)
    await h.scan(ATTACHMENTS)
    lines = {ln.item_id: ln for ln in h.view.lines}
    assert lines[DAMAGED].status is LineStatus.OK and lines[ATTACHMENTS].status is LineStatus.OK
    # the kiosk's own text (the language the patron sees), not the library's sentence
    assert [t.key for t in lines[DAMAGED].notes] == ["kiosk.question.damaged"]
    assert [t.key for t in lines[ATTACHMENTS].notes] == ["kiosk.question.attachments"]
    h.flows.set_language("fr")
    await h.settle()
    assert kio("kiosk.question.damaged", "fr") in h.texts()
    # information only: the borrow is done, nothing waits for an answer
    assert h.state is State.BORROW and all(ln.done for ln in h.view.lines)


async def test_return_to_the_hold_shelf_on_screen_and_receipt(h):
    await h.press(Ui.RETURN)
    await h.place([sim.tag_for(HOLD_ITEM, secured=False)])
    line = next(ln for ln in h.view.lines if ln.item_id == HOLD_ITEM)
    assert line.status is LineStatus.OK and line.hold_bin == "hold_shelf"
    assert line.text.key == "kiosk.return.hold_shelf"
    for lang in ("nl", "fr", "en"):
        receipt = receipt_lines(h.view.lines, lang, now=NOW)
        assert "  " + kio("kiosk.receipt.hold_shelf", lang) in receipt, receipt


async def test_return_of_a_hold_for_another_branch_is_in_transport(h, library):
    with library.store.transaction() as c:  # the hold is picked up at the other demo branch
        c.execute("UPDATE holds SET pickup_branch = '9902' WHERE item_id = ?", (HOLD_ITEM,))
    await h.press(Ui.RETURN)
    await h.place([sim.tag_for(HOLD_ITEM, secured=False)])
    line = next(ln for ln in h.view.lines if ln.item_id == HOLD_ITEM)
    assert line.status is LineStatus.OK and line.hold_bin == "in_transport"
    assert line.text.key == "kiosk.return.hold_transport"
    receipt = receipt_lines(h.view.lines, "fr", now=NOW)
    assert "  " + kio("kiosk.receipt.hold_transport", "fr") in receipt
    assert kio("kiosk.receipt.hold_shelf", "fr").strip() not in "\n".join(receipt)
