"""Screens with long, realistic content for every flow State, and the checks
of a rendered frame: nothing clipped, nothing outside the window, and the
contrast of every drawn text against what is drawn behind it (read back
from the frame).  Used by test_display.py; ``python -m tests.ui.display_check
OUTDIR`` writes the same frames as PNGs for a look."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from kiosk.flows import HoldLine, ItemLine, LineKind, LineStatus, LoanLine, State, Summary, View
from kiosk.flows.model import K, literal, policy_text
from kiosk.flows.pay import PayView

TITLES = [
    "De ontdekking van de hemel: een roman in drie delen, met een nawoord van de auteur",
    "Het verdriet van België",
    "Harry Potter en de Steen der Wijzen (geïllustreerde jubileumeditie, deel 1 van 7)",
    "Max Havelaar, of de koffiveilingen der Nederlandsche Handelmaatschappy",
    "Onvergetelijke wandelingen door de Vlaamse Ardennen en het Pajottenland",
    "Zeeuws meisje",
    "Kinderboekenweek-geschenkboek 2026: verhalen over vriendschap, moed en avontuur",
    "SupercalifragilisticexpialidociousencyclopedievandeNederlandseTaal",
]


@dataclass(frozen=True)
class _Msg:
    key: str
    params: dict


def _policy(key: str):
    return policy_text(_Msg(key, {}))


def _title(i: int) -> str:
    return TITLES[i % len(TITLES)]


def _loans(n: int = 20) -> list[LoanLine]:
    out = []
    for i in range(n):
        status = [None, LineStatus.OK, LineStatus.REFUSED][i % 3]
        out.append(LoanLine(
            item_id=f"3000000000{i:04d}", title=_title(i), due=f"2026-12-{1 + i % 28:02d}", overdue=i % 4 == 0,
            selected=i % 2 == 0, status=status,
            text=K("kiosk.outcome.renew_hold") if status is LineStatus.REFUSED else None,
        ))
    return out


def _lines(kind: LineKind, n: int = 12) -> list[ItemLine]:
    statuses = [LineStatus.OK, LineStatus.REFUSED, LineStatus.INCOMPLETE, LineStatus.OFFER_RENEW, LineStatus.WORKING,
                LineStatus.FAILED, LineStatus.QUEUED]
    out = []
    for i in range(n):
        status = statuses[i % len(statuses)]
        text = {LineStatus.REFUSED: K("kiosk.outcome.hold_for_other"), LineStatus.INCOMPLETE: K("kiosk.item.set_incomplete", parts=3, missing="2, 3"),
                LineStatus.OFFER_RENEW: K("kiosk.item.already_yours"), LineStatus.FAILED: K("kiosk.item.link_failed")}.get(status)
        if kind is LineKind.RETURN and status is LineStatus.OK and i % 2:
            text = K("kiosk.return.hold_shelf")
        out.append(ItemLine(kind=kind, item_id=f"3000000000{i:04d}", status=status, title=_title(i),
                            due="2026-12-14" if status is LineStatus.OK else None, text=text,
                            extra=literal("Let op: dit boek bevat een cd-rom die los in de hoes zit.") if i % 5 == 0 else None))
    return out


def long_view(state: State, lang: str, *, large_text: bool, high_contrast: bool) -> View:
    """A View of *state* with as much (and as long) content as a real screen gets."""
    v = View(state=state, language=lang, large_text=large_text, high_contrast=high_contrast, identified=True)
    v.notices = [K("kiosk.device.rfid_down")] if state in (State.IDLE, State.BORROW) else []
    if state is State.IDLE:
        v.hint = K("kiosk.idle.items_waiting")
    elif state is State.PIN:
        v.pin_length = 4
        v.pin_error = K("kiosk.pin.wrong_tries", reason=_policy("policy.P1"), tries=2)
    elif state is State.MENU:
        v.loans = _loans()
        v.holds = [HoldLine("h1", _title(1), True, "Centrum"), HoldLine("h2", _title(2), True, "Noord")]
        v.notifications = [literal("Uw lidmaatschap verloopt binnenkort. Verleng het aan de balie of online.")]
        v.borrow_refusal = _policy("policy.R1")
        v.can_borrow = True
    elif state in (State.BORROW, State.RETURN):
        v.lines = _lines(LineKind.BORROW if state is State.BORROW else LineKind.RETURN)
    elif state is State.RENEW:
        v.loans = _loans()
        v.hint = K("kiosk.renew.choose")
    elif state is State.ACCOUNT:
        v.loans = _loans()
        v.holds = [HoldLine(f"h{i}", _title(i), i % 2 == 0, "Bibliotheek Centrum, Grote Markt") for i in range(4)]
        v.blocks = [_policy("policy.R1"), _policy("policy.B1")]
    elif state is State.SUMMARY:
        v.summary = Summary(borrowed=12, returned=3, renewed=20, queued=2, refused=4, receipt_printed=True, with_card=True)
    elif state is State.MESSAGE:
        v.title = K("kiosk.refused.title")
        v.message = _policy("policy.R2")
        v.message_extra = K("kiosk.offline.confirm_later")
    elif state in (State.PAY, State.PAYING):
        v.pay = PayView(
            reason=K("kiosk.pay.reason.charges"),
            lines=[(K("kiosk.pay.line.charge", date=f"{1 + i:02d}/11/2026"), f"€ {i + 1},50", i % 2 == 0, i < 2)
                   for i in range(8)],
            total="€ 123,50", total_cents=12350, lifts=True, lifts_text=K("kiosk.pay.lifts"),
            needed_total="€ 4,00", can_choose_needed=True,
            banner=K("kiosk.pay.result.declined"), banner_bad=True,
            stage="terminal" if state is State.PAYING else "choose",
            pay_label=K("kiosk.pay.button", amount="€ 123,50"),
        )
    elif state is State.RECEIPT:
        v.warning_seconds = 19  # the idle warning over a screen
    elif state is State.OUT_OF_ORDER:
        from kiosk.flows.help import CallStatus, HelpView

        # the help overlay over a screen, in unmanned hours, its call failed: all its texts
        v.help = HelpView(screen=state, explain=K("kiosk.help.screen.out_of_order"), can_call=True,
                          call=CallStatus.FAILED, unmanned=True,
                          emergency=[K("kiosk.help.emergency", phone="112"), K("kiosk.help.phone", phone="+32 3 123 45 67")])
    return v


# ---------------------------------------------------------------------- checks of a rendered frame


def _walk_visible(widget, scrolls=(), out=None):
    """(widget, the ScrollViews it is in, innermost last) for what is shown."""
    from kivy.uix.scrollview import ScrollView

    out = [] if out is None else out
    if getattr(widget, "opacity", 1) == 0 or widget.width <= 0 or widget.height <= 0:
        return out
    out.append((widget, scrolls))
    nested = (*scrolls, widget) if isinstance(widget, ScrollView) else scrolls
    for child in widget.children:
        _walk_visible(child, nested, out)
    return out


def window_box(widget) -> tuple[float, float, float, float]:
    x0, y0 = widget.to_window(widget.x, widget.y)
    return x0, y0, x0 + widget.width, y0 + widget.height


def _inside(inner, outer, tol: float = 1.0) -> bool:
    return (inner[0] >= outer[0] - tol and inner[1] >= outer[1] - tol
            and inner[2] <= outer[2] + tol and inner[3] <= outer[3] + tol)


def _laid_out_chars(label) -> int:
    lines = getattr(label._label, "_cached_lines", None) or []
    return sum(len("".join(w.text for w in line.words).replace(" ", "").replace("\n", "")) for line in lines)


def _overlays(root) -> list:
    """The overlays shown now (busy, idle warning, help)."""
    help_ui = getattr(root, "_help", None)
    candidates = [root._busy, root._warning, getattr(help_ui, "overlay", None)]
    return [o for o in candidates if o is not None and o.parent is not None]


def shown_widgets(root) -> list:
    """(widget, enclosing ScrollView or None) for what the patron sees now."""
    out: list = []
    for part in (root.ids.topbar, root.ids.notices, root.ids.sm.current_screen):
        _walk_visible(part, (), out)
    for overlay in _overlays(root):
        _walk_visible(overlay, (), out)
    return out


def layout_problems(root, window_size: tuple[int, int]) -> list[str]:
    """Texts that don't fit their box (or lost lines), boxes outside the
    window (unless scrolled) or outside their layout, and buttons smaller
    than the 48 dp touch target."""
    from kivy.metrics import dp
    from kivy.uix.label import Label
    from kivy.uix.layout import Layout

    from kiosk.ui.theme import MIN_TOUCH_DP
    from kiosk.ui.widgets import KButton

    win = (0, 0, *window_size)
    problems = []
    for widget, scrolls in shown_widgets(root):
        box = window_box(widget)
        name = f"{type(widget).__name__}({getattr(widget, 'text', '')[:40]!r})"
        if not any(s.do_scroll_y for s in scrolls) and not _inside(box, win):
            problems.append(f"{name} outside the window: {tuple(round(v) for v in box)}")
        parent = widget.parent
        if isinstance(parent, Layout) and not _inside(box, window_box(parent)):
            problems.append(f"{name} outside its {type(parent).__name__}: "
                            f"{tuple(round(v) for v in box)} not in {tuple(round(v) for v in window_box(parent))}")
        if isinstance(widget, KButton) and min(widget.size) < dp(MIN_TOUCH_DP) - 0.5:
            problems.append(f"{name} a touch target under {MIN_TOUCH_DP} dp: {tuple(round(v) for v in widget.size)}")
        if isinstance(widget, Label) and widget.text.strip():
            tw, th = widget.texture_size
            if tw > widget.width + 1 or th > widget.height + 1:
                problems.append(f"{name} clipped: text {tw}x{th} in a {round(widget.width)}x{round(widget.height)} box")
            wanted = len(widget.text.replace(" ", "").replace("\n", ""))
            if _laid_out_chars(widget) < wanted:
                problems.append(f"{name} lost text: {_laid_out_chars(widget)} of {wanted} characters drawn")
    return problems


def drawn_background(frame: tuple[bytes, int, int], box, fg: tuple[float, ...]) -> tuple[float, float, float] | None:
    """The colour drawn most behind a text in *box* (window coordinates, y up;
    *frame* holds RGBA rows top first), ignoring the text's own colour and
    its anti-aliased edges."""
    data, w, h = frame
    x0, y0, x1, y1 = (int(max(0, min(v, lim))) for v, lim in zip(box, (w, h, w, h)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    fg255 = [c * 255 for c in fg[:3]]
    counts: Counter = Counter()
    for y in range(y0, y1, 2):
        top = h - 1 - y
        row = data[(top * w + x0) * 4:(top * w + x1) * 4]
        counts.update(zip(row[0::8], row[1::8], row[2::8]))
    for colour, _n in counts.most_common():
        if sum(abs(a - b) for a, b in zip(colour, fg255)) > 60:
            return tuple(c / 255 for c in colour)  # type: ignore[return-value]
    return None


def contrast_problems(root, frame, minimum: float) -> list[str]:
    """Every visible text against what the frame shows behind it."""
    from kivy.uix.label import Label

    from kiosk.ui.theme import contrast_rgb

    shown = _overlays(root)
    overlay = min(shown, key=root.children.index) if shown else None  # the one on top
    problems = []
    win = (0, 0, frame[1], frame[2])
    for widget, scrolls in shown_widgets(root):
        if not isinstance(widget, Label) or not widget.text.strip():
            continue
        if overlay is not None and overlay not in _ancestors(widget) and root.ids.topbar not in _ancestors(widget):
            continue  # behind the overlay's scrim
        tw, th = widget.texture_size
        cx, cy = widget.to_window(*widget.center)
        box = (cx - tw / 2, cy - th / 2, cx + tw / 2, cy + th / 2)
        if not _inside(box, win) or any(not _inside(box, window_box(s)) for s in scrolls):
            continue  # scrolled out of view
        fg = widget.disabled_color if widget.disabled else widget.color
        bg = drawn_background(frame, box, fg)
        if bg is None:
            continue
        ratio = contrast_rgb(fg, bg)
        if ratio < minimum:
            problems.append(f"{type(widget).__name__}({widget.text[:40]!r}) {ratio:.2f}:1 "
                            f"(text {tuple(round(c * 255) for c in fg[:3])} on {tuple(round(c * 255) for c in bg)})")
    return problems


def _ancestors(widget) -> list:
    out = []
    while widget is not None and widget.parent is not widget:
        out.append(widget)
        widget = widget.parent
    return out
