"""Rounded shapes are one draw each (issue 16, memory): on the software
renderer every vertex instruction a kept screen holds costs ~60 KB
(bench/kiosk.py, bench/RESULTS.md session 7), and Kivy's
SmoothRoundedRectangle is two of them (its mesh and an antialiasing line)."""

from __future__ import annotations

import re
from pathlib import Path

from kivy.graphics.instructions import InstructionGroup, VertexInstruction

from kiosk.flows import State
from kiosk.ui.widgets import RoundedBox, _rounded_pixels, rounded_texture

from .kiosk_case import KioskCase

UI = Path(__file__).resolve().parents[2] / "kiosk" / "ui"


def alpha(pixels: bytes, r: int, x: int, y: int) -> int:
    return pixels[(y * (2 * r + 2) + x) * 4 + 3]


def test_the_texture_is_an_antialiased_rounded_square():
    r = 14
    px = _rounded_pixels(r)
    n = 2 * r + 2
    assert len(px) == n * n * 4
    assert alpha(px, r, 0, 0) == 0  # outside the corner's arc
    assert alpha(px, r, r + 1, r + 1) == 255  # the stretched middle
    assert alpha(px, r, r + 1, 0) == 255 and alpha(px, r, 0, r + 1) == 255  # straight edges are crisp
    edge = [alpha(px, r, x, 0) for x in range(r + 1)]  # the top row, from the corner in
    assert any(0 < a < 255 for a in edge), edge  # the arc is antialiased
    assert edge == sorted(edge)
    for x, y in ((0, 3), (2, 5), (5, 1)):  # the four corners are the same
        a = alpha(px, r, x, y)
        assert a == alpha(px, r, n - 1 - x, y) == alpha(px, r, x, n - 1 - y) == alpha(px, r, n - 1 - x, n - 1 - y)


def test_no_two_draw_shapes_in_the_layouts():
    for kv in sorted(UI.glob("*.kv")):
        text = kv.read_text()
        assert not re.search(r"^\s*(SmoothRoundedRectangle|RoundedRectangle|SmoothEllipse|Ellipse):", text, re.M), kv.name


def vertex_instructions(widget) -> list:
    found, seen = [], set()

    def walk(group) -> None:
        if group is None or id(group) in seen:
            return
        seen.add(id(group))
        for ins in group.children:
            if isinstance(ins, VertexInstruction):
                found.append(ins)
            if isinstance(ins, InstructionGroup):
                walk(ins)

    for group in (widget.canvas.before, widget.canvas, widget.canvas.after):
        walk(group)
    return found


class RoundedBoxTest(KioskCase):
    def test_a_button_is_two_draws_with_a_shared_texture(self):
        async def scenario():
            await self.frames()
            pin = self.root.screen(State.PIN)
            keys = [w for w in pin.walk() if type(w).__name__ == "KButton" and w.text == "1"]
            assert keys, "the PIN screen has its keypad"
            draws = vertex_instructions(keys[0])
            assert len(draws) == 2, draws  # the background and the text
            box = next(d for d in draws if isinstance(d, RoundedBox))
            assert box.texture is rounded_texture(14)
            assert box.border == [14, 14, 14, 14] or tuple(box.border) == (14, 14, 14, 14)
            assert box.radius == [14.0]

        self.run_scenario(scenario)

    def test_a_box_smaller_than_its_corners_stays_inside_its_size(self):
        """An empty badge is 0 x 0: its corners must not be drawn around it
        (a 9-patch draws its borders at full size unless told to scale)."""
        from kivy.graphics import ClearBuffers, ClearColor, Color, Fbo

        async def scenario():
            await self.frames()
            fbo = Fbo(size=(100, 100))
            with fbo:
                ClearColor(0, 0, 0, 0)
                ClearBuffers()
                Color(1, 0, 0, 1)
                empty = RoundedBox(pos=(70, 70), size=(0, 0))
                empty.radius = [24]
                small = RoundedBox(pos=(10, 10), size=(30, 20))
                small.radius = [24]
            fbo.draw()
            pixels = fbo.pixels
            red = {(i // 4 % 100, i // 400) for i in range(0, len(pixels), 4) if pixels[i] > 128 and pixels[i + 3] > 128}
            assert red, "the small box is drawn"
            assert all(10 <= x < 40 and 10 <= y < 30 for x, y in red), sorted(red)[:5]

        self.run_scenario(scenario)
