"""Receipt text: what the patron did in this session, in their language.

No card number, no name: titles (or item numbers), due dates, and the
branch.  Printed on an ESC/POS printer through the ``printer`` device.
"""

from __future__ import annotations

from datetime import date, datetime

from .model import ItemLine, K, LineKind, LineStatus

WIDTH = 42


def _due(iso: str | None, lang: str) -> str:
    if not iso:
        return ""
    try:
        d = date.fromisoformat(iso)
    except ValueError:
        return iso
    return d.strftime("%m/%d/%Y") if lang == "en" else d.strftime("%d/%m/%Y")


def _clip(text: str, width: int = WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def receipt_lines(lines: list[ItemLine], lang: str, *, now: datetime, branch: str | None = None) -> list[str]:
    out = [K("kiosk.receipt.title").render(lang)]
    if branch:
        out.append(branch)
    out.append(now.strftime("%d/%m/%Y %H:%M") if lang != "en" else now.strftime("%m/%d/%Y %H:%M"))
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
                out.append("  " + K("kiosk.receipt.due", date=_due(ln.due, lang)).render(lang))
            if ln.status is LineStatus.QUEUED:
                queued = True
    if queued:
        out += ["", K("kiosk.receipt.queued").render(lang)]
    out += ["", K("kiosk.receipt.footer").render(lang)]
    return out
