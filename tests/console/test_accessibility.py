"""WCAG 2.2 AA contrast of the console's palette (text pairs >= 4.5:1), and every
template's fields labelled, one h1, lang set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "kiosk" / "console" / "static"
TEMPLATES = STATIC.parent / "templates"


def _lum(hex_: str) -> float:
    hex_ = hex_.lstrip("#")
    rgb = [int(hex_[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def ratio(a: str, b: str) -> float:
    la, lb = sorted((_lum(a), _lum(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def palette() -> dict[str, str]:
    css = (STATIC / "console.css").read_text()
    return dict(re.findall(r"--([a-z]+):\s*(#[0-9a-fA-F]{6})", css))


@pytest.mark.parametrize("fg,bg", [
    ("fg", "bg"), ("fg", "card"), ("muted", "bg"), ("muted", "card"), ("link", "bg"), ("link", "card"),
    ("ok", "bg"), ("ok", "card"), ("bad", "bg"), ("bad", "card"), ("warn", "bg"), ("warn", "card"),
])
def test_text_contrast(fg, bg):
    p = palette()
    assert ratio(p[fg], p[bg]) >= 4.5, (fg, bg, round(ratio(p[fg], p[bg]), 2))


def test_fixed_colour_pairs():
    p = palette()
    header = "#12283f"
    assert ratio("#ffffff", header) >= 4.5  # header text, buttons
    assert ratio("#ffffff", p["bad"]) >= 4.5  # the red alarm badge
    assert ratio(p["fg"], "#e3e8ee") >= 4.5  # table heads
    assert ratio(p["fg"], "#fff4cc") >= 4.5  # a fresh live row
    # Focus ring and control borders: non-text contrast >= 3:1.
    assert ratio(p["fg"], p["bg"]) >= 3 and ratio(p["muted"], p["bg"]) >= 3


def test_templates_label_every_field():
    for tpl in TEMPLATES.glob("*.html"):
        html = tpl.read_text()
        ids = set(re.findall(r'<label for="([^"]+)"', html))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
            if 'type="hidden"' in tag:
                continue
            m = re.search(r'id="([^"]+)"', tag)
            assert m and m.group(1) in ids, (tpl.name, tag)
    assert '<html lang="{{ lang }}">' in (TEMPLATES / "base.html").read_text()
