"""The printed receipt reads dates as the screens do (issue 16 "right texts"):
day first in every language, so that a due date of 3 December 2026 is
03/12/2026 on the screen, in speech and on paper, for an English patron too."""

from __future__ import annotations

from datetime import datetime

import pytest

from kiosk.flows.model import ItemLine, LineKind, LineStatus, fmt_date, fmt_moment
from kiosk.flows.receipt import payment_lines, receipt_lines
from kiosk.i18n import translate

AT = datetime(2026, 12, 3, 9, 5).astimezone()  # 3 December: the day and month read both ways


def kio(key: str, lang: str, **params) -> str:
    return translate("kiosk", key, lang, **params)


@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
def test_receipt_dates_are_day_first_like_the_screen(lang):
    lines = [
        ItemLine(LineKind.BORROW, "30000000000012", LineStatus.OK, title="De avonden", due="2026-12-03"),
        ItemLine(LineKind.RENEW, "30000000000029", LineStatus.OK, title="Max Havelaar", due="2026-12-11"),
    ]
    receipt = receipt_lines(lines, lang, now=AT)
    assert "03/12/2026 09:05" in receipt, receipt  # the header's moment
    assert "  " + kio("kiosk.receipt.due", lang, date="03/12/2026") in receipt, receipt
    assert "  " + kio("kiosk.receipt.due", lang, date="11/12/2026") in receipt, receipt
    assert "12/03/2026" not in "\n".join(receipt)
    # the one function the screens and speech use
    assert fmt_date("2026-12-03", lang) == "03/12/2026" and fmt_moment(AT, lang) == "03/12/2026 09:05"


@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
def test_payment_receipt_moment_is_day_first(lang):
    receipt = payment_lines([], lang, now=AT, branch="Demo Centrum")
    assert receipt[:3] == [kio("kiosk.receipt.title", lang), "Demo Centrum", "03/12/2026 09:05"]
