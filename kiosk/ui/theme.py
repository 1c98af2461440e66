"""Colours, sizes and type of the kiosk UI, and the contrast arithmetic that
checks them (WCAG 2.x relative luminance; text needs 4.5:1 or better, 7:1
in the high-contrast palette).

Two palettes with the same names: :data:`PALETTE` (the kiosk's own) and
:data:`HIGH_CONTRAST` (black, white and yellow; WCAG AAA).  The patron
switches between them on the top bar; :func:`use_palette` makes one active
for :func:`rgba` and the kv rules (through :mod:`kiosk.ui.display`).

Sizes are in dp / sp (Kivy's density-independent units).  Every touch
target is at least :data:`MIN_TOUCH_DP` (48 dp, WCAG 2.5.5 / platform
guidelines); the main buttons are much bigger.
"""

from __future__ import annotations

MIN_TOUCH_DP = 48
MIN_CONTRAST = 4.5
MIN_CONTRAST_HIGH = 7.0  # WCAG 1.4.6 (AAA): every text pair of the high-contrast palette

#: The palette (hex).  Names say where a colour is used.
PALETTE: dict[str, str] = {
    "bg": "#F6F4EF",  # page background, warm paper
    "surface": "#FFFFFF",  # panels, rows
    "text": "#1B1B1F",
    "muted": "#45454D",  # secondary text
    "topbar": "#12355B",  # top bar background
    "topbar_text": "#FFFFFF",
    "primary": "#0B4F8A",  # main buttons
    "primary_text": "#FFFFFF",
    "secondary": "#DCE3EC",  # other buttons
    "secondary_text": "#12233A",
    "lang": "#1E4A78",  # language buttons on the top bar
    "lang_active": "#FFFFFF",
    "lang_active_text": "#12355B",
    "success": "#1B6E31",
    "success_text": "#FFFFFF",
    "danger": "#A8201A",
    "danger_text": "#FFFFFF",
    "warning": "#8A4B00",
    "warning_text": "#FFFFFF",
    "working": "#3D4B5C",
    "working_text": "#FFFFFF",
    "notice": "#FFF1C2",  # device / offline notices
    "notice_text": "#4A3000",
    "refusal_panel": "#FBE9E7",
    "refusal_text": "#5E120E",
    "scrim": "#101418",  # behind overlays (drawn with alpha)
    "focus": "#F2B705",  # the focus ring (with focus_halo; see focus_ring)
    "focus_halo": "#101010",
    "disabled": "#D5D8DD",  # any button that can't be used now
    "disabled_text": "#4A4F57",
}

#: The high-contrast palette: white and yellow on black, black on yellow and
#: white buttons; the same names as :data:`PALETTE`.
HIGH_CONTRAST: dict[str, str] = {
    "bg": "#000000",
    "surface": "#141414",
    "text": "#FFFFFF",
    "muted": "#E6E6E6",
    "topbar": "#000000",
    "topbar_text": "#FFFFFF",
    "primary": "#FFE500",  # yellow buttons, black text
    "primary_text": "#000000",
    "secondary": "#FFFFFF",
    "secondary_text": "#000000",
    "lang": "#333333",
    "lang_active": "#FFE500",
    "lang_active_text": "#000000",
    "success": "#5CF07A",
    "success_text": "#000000",
    "danger": "#FF9E94",
    "danger_text": "#000000",
    "warning": "#FFC266",
    "warning_text": "#000000",
    "working": "#D9D9D9",
    "working_text": "#000000",
    "notice": "#FFE500",
    "notice_text": "#000000",
    "refusal_panel": "#3D0A06",
    "refusal_text": "#FFFFFF",
    "scrim": "#000000",
    "focus": "#00E5FF",
    "focus_halo": "#000000",
    "disabled": "#3A3A3A",
    "disabled_text": "#D0D0D0",
}

PALETTES: dict[str, dict[str, str]] = {"default": PALETTE, "high_contrast": HIGH_CONTRAST}
_active: dict[str, str] = PALETTE


def use_palette(name: str) -> None:
    """Make palette *name* (``default`` / ``high_contrast``) the one
    :func:`rgba` answers from."""
    global _active
    _active = PALETTES[name]


def active_palette() -> dict[str, str]:
    return _active


#: (foreground, background) pairs where text is drawn: each must reach 4.5:1.
TEXT_PAIRS: tuple[tuple[str, str], ...] = (
    ("text", "bg"),
    ("text", "surface"),
    ("muted", "bg"),
    ("muted", "surface"),
    ("topbar_text", "topbar"),
    ("primary_text", "primary"),
    ("secondary_text", "secondary"),
    ("topbar_text", "lang"),
    ("lang_active_text", "lang_active"),
    ("success_text", "success"),
    ("danger_text", "danger"),
    ("warning_text", "warning"),
    ("working_text", "working"),
    ("notice_text", "notice"),
    ("refusal_text", "refusal_panel"),
    ("danger", "surface"),  # overdue due dates
    ("success", "surface"),
    ("primary", "surface"),  # the PIN dots, links
    ("disabled_text", "disabled"),  # disabled buttons stay readable
)

#: The larger-text switch multiplies every font size by this (WCAG 1.4.4).
LARGE_TEXT_SCALE = 2.0

# Type scale (sp) and targets (dp).
FONT_TITLE = 44
FONT_LARGE = 32
FONT_BODY = 26
FONT_SMALL = 22
BUTTON_HEIGHT = 88
BUTTON_HEIGHT_SMALL = 64
KEY_SIZE = 96
TOPBAR_HEIGHT = 80


def rgb(name: str, palette: dict[str, str] | None = None) -> tuple[float, float, float]:
    value = (palette or _active)[name].lstrip("#")
    return tuple(int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def rgba(name: str, alpha: float = 1.0, palette: dict[str, str] | None = None) -> tuple[float, float, float, float]:
    return (*rgb(name, palette), alpha)


def rgba_table(palette: dict[str, str]) -> dict[str, tuple[float, float, float, float]]:
    """Every colour of *palette* as Kivy rgba."""
    return {name: rgba(name, palette=palette) for name in palette}


def _channel(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(name_or_hex: str, palette: dict[str, str] | None = None) -> float:
    value = (palette or PALETTE).get(name_or_hex, name_or_hex).lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(fg: str, bg: str, palette: dict[str, str] | None = None) -> float:
    """WCAG contrast ratio of two palette names (or #hex colours)."""
    a, b = luminance(fg, palette), luminance(bg, palette)
    hi, lo = max(a, b), min(a, b)
    return (hi + 0.05) / (lo + 0.05)


def hex_of(rgba_: tuple[float, ...]) -> str:
    """``#RRGGBB`` of an (r, g, b[, a]) colour in 0..1 (for :func:`contrast`)."""
    return "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02X}" for c in rgba_[:3])


# ------------------------------------------------------------------ the focus ring (WCAG 2.2 SC 2.4.13)

#: Minimum contrast of a focus indicator (WCAG 2.2 SC 1.4.11 / 2.4.13).
MIN_FOCUS_CONTRAST = 3.0
#: The ring is two bands of this many dp (each at least the 2 CSS px SC 2.4.13 asks).
FOCUS_BAND_DP = 3
#: The ring's two colours; each band takes the one that stands out most.
FOCUS_COLOURS: tuple[str, str] = ("focus", "focus_halo")

#: (button fill, what it sits on) wherever a focusable control is drawn.
FOCUS_PAIRS: tuple[tuple[str, str], ...] = (
    ("primary", "bg"), ("secondary", "bg"), ("success", "bg"), ("danger", "bg"),
    ("primary", "surface"), ("secondary", "surface"), ("success", "surface"),  # panels, item rows, overlays
    ("surface", "bg"),  # loan and pay rows
    ("lang", "topbar"), ("lang_active", "topbar"),  # the top bar
    ("primary", "topbar"), ("secondary", "topbar"),  # other top-bar buttons (help, text size, contrast)
)


def focus_ring(fill: str, backdrop: str, palette: dict[str, str] | None = None) -> tuple[str, str]:
    """(inner band, outer band) palette names for a focus ring around a
    control filled with *fill* on *backdrop* (names or #hex; names in
    *palette*, the active one by default): the inner band borders the
    control, the outer one the backdrop."""
    palette = palette or _active
    inner = max(FOCUS_COLOURS, key=lambda c: contrast(c, fill, palette))
    outer = max(FOCUS_COLOURS, key=lambda c: contrast(c, backdrop, palette))
    return inner, outer


STATUS_COLOURS: dict[str, str] = {
    "working": "working",
    "ok": "success",
    "queued": "success",
    "refused": "danger",
    "incomplete": "warning",
    "offer_renew": "primary",
    "failed": "danger",
}


def status_text_colour(tone: str) -> str:
    """The text colour of a status badge: its background's ``*_text`` pair."""
    return STATUS_COLOURS.get(tone, "working") + "_text"


def contrast_rgb(fg: tuple[float, ...], bg: tuple[float, ...]) -> float:
    """WCAG contrast ratio of two colours given as 0..1 rgb(a) (what was drawn)."""
    def lum(c: tuple[float, ...]) -> float:
        r, g, b = (_channel(x) for x in c[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    a, b = lum(fg), lum(bg)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)
