"""Receipt text: what the patron did in this session, in their language.

No card number, no name: titles (or item numbers), due dates, and the
branch.  Printed on an ESC/POS printer through the ``printer`` device.
"""

from __future__ import annotations

from datetime import datetime

from .model import ItemLine, K, LineKind, LineStatus, fmt_date, fmt_moment

WIDTH = 42

#: a returned item's hold bin (Wise CL 03 / 02) -> the receipt's line under it
HOLD_BIN_KEYS = {
    "hold_shelf": "kiosk.receipt.hold_shelf",
    "in_transport": "kiosk.receipt.hold_transport",
}


def _clip(text: str, width: int = WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def payment_lines(payments: list, lang: str, *, now: datetime | None = None, branch: str | None = None) -> list[str]:
    """The payments of a visit: amount, what was paid, the terminal's reference and its own receipt lines.

    With *now* it is a whole receipt (printed right after the payment); without,
    a section of the visit's receipt."""
    from kiosk.payments import format_amount

    out: list[str] = []
    if now is not None:
        out.append(K("kiosk.receipt.title").render(lang))
        if branch:
            out.append(branch)
        out.append(fmt_moment(now, lang))
    for report in payments:
        record = report.record
        if not report.charged:
            continue
        out += ["", K("kiosk.receipt.paid", amount=format_amount(record.amount_cents, lang, record.currency)).render(lang)]
        for line in record.lines:
            what = line.description or line.kind.value
            out.append(_clip(f"- {what}: {format_amount(line.amount_cents, lang, record.currency)}"))
        out.append(_clip(K("kiosk.pay.reference", ref=record.terminal_ref or record.ref).render(lang)))
        if not report.booked:
            out.append(_clip(K("kiosk.receipt.paid_not_booked").render(lang)))
        if record.receipt_lines:
            out.append("-" * 24)
            out += [_clip(text) for text in record.receipt_lines]
    if now is not None:
        out += ["", K("kiosk.receipt.footer").render(lang)]
    return out


def receipt_lines(lines: list[ItemLine], lang: str, *, now: datetime, branch: str | None = None,
                  payments: list | None = None) -> list[str]:
    out = [K("kiosk.receipt.title").render(lang)]
    if branch:
        out.append(branch)
    out.append(fmt_moment(now, lang))
    sections = (
        (LineKind.BORROW, "kiosk.receipt.borrowed"),
        (LineKind.RENEW, "kiosk.receipt.renewed"),
        (LineKind.RETURN, "kiosk.receipt.returned"),
    )
    queued = False
    for kind, key in sections:
        done = [ln for ln in lines if ln.kind is kind and ln.done]
        if not done:
            continue
        out += ["", K(key, count=len(done)).render(lang)]
        for ln in done:
            out.append(_clip(f"- {ln.title or ln.item_id}"))
            if ln.due and kind is not LineKind.RETURN:
                out.append("  " + K("kiosk.receipt.due", date=fmt_date(ln.due, lang)).render(lang))
            if kind is LineKind.RETURN and ln.hold_bin in HOLD_BIN_KEYS:  # Wise CL 03 / 02
                out.append(_clip("  " + K(HOLD_BIN_KEYS[ln.hold_bin]).render(lang)))
            if ln.status is LineStatus.QUEUED:
                queued = True
    if queued:
        out += ["", K("kiosk.receipt.queued").render(lang)]
    if payments:
        out += payment_lines(payments, lang)
    out += ["", K("kiosk.receipt.footer").render(lang)]
    return out
