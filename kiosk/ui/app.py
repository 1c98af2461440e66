"""The Kivy front end: a root widget that renders the flows' View, and the App.

The flows run on the same asyncio loop as Kivy (``App.async_run``): device
events reach the flows as asyncio tasks, the flows publish a new View, and
the root re-renders on Kivy's clock at the next frame (one render per frame
however many updates came in).  Touches go back to the flows as
:class:`~kiosk.flows.UiEvent`.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import deque
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import NumericProperty, ObjectProperty, StringProperty
from kivy.uix.floatlayout import FloatLayout

from kiosk import heap
from kiosk.flows import Cue, KioskFlows, State, Text, Ui, View
from kiosk.flows.model import K

from .audio import CuePlayer
from .display import DISPLAY
from .help import HelpUi
from .runner import release_frame_memory
from .screens import SCREENS, BusyOverlay, KScreen, WarningOverlay
from .widgets import KLabel, sync_children

log = logging.getLogger("kiosk.ui")

KV_FILE = Path(__file__).resolve().parent / "kiosk.kv"
_loaded = False


def load_kv() -> None:
    global _loaded
    if not _loaded:
        # Register our widget classes with the factory before the rules use them.
        from . import display, widgets  # noqa: F401 - display: TopBar, DisplaySwitches

        from .runner import finishing_frames

        widgets.release_text_surfaces(alternate=not finishing_frames())
        Builder.load_file(str(KV_FILE))
        Builder.load_file(str(KV_FILE.with_name("pay.kv")))
        Builder.load_file(str(KV_FILE.with_name("help.kv")))
        Builder.load_file(str(KV_FILE.with_name("speech.kv")))
        Builder.load_file(str(KV_FILE.with_name("display.kv")))  # after kiosk.kv: its rules refine KButton's
        _loaded = True


#: The busy overlay shows only when the library system takes longer than
#: this (s): a quick answer draws no overlay frames (on a software renderer
#: each full-screen scrim frame costs tens of ms) and does not flicker.
BUSY_DELAY = 0.4
#: Memory is handed back this long (s) after the kiosk came to rest, and not
#: while a patron is at it.
RELEASE_AFTER = 1.0
#: ... and the renderer's memory of the last frame this long after that
#: (kiosk.ui.runner.release_frame_memory), once any frame those changes draw is drawn.
RELEASE_FRAME_AFTER = 0.1
#: Screens built at start and kept: every patron passes them, and the
#: first card -> PIN -> menu must not wait for a build.  The others are
#: built when first shown and dropped again when the kiosk comes to rest
#: (their widgets, label textures and vertex buffers are memory the
#: software renderer holds for as long as they exist).  The account is kept
#: too: building its loan rows anew for each patron (20 loans) took the
#: "My account" step to 300-550 ms in bench/kiosk.py.
KEPT_SCREENS = frozenset({State.IDLE, State.PIN, State.MENU, State.ACCOUNT})


def release_memory(*, background: bool = False) -> None:
    """Between patrons: collect garbage and hand freed heap back to the OS
    (glibc keeps freed texture buffers of the software renderer otherwise).

    The objects that live as long as the kiosk (widgets, screens, modules)
    are frozen out of the collector once built, so a collection only looks
    at what a patron's session made.  *background*: the trim (hundreds of
    ms on a big heap; ctypes releases the GIL) runs in a thread, so a card
    tapped meanwhile is not kept waiting."""
    gc.collect()
    if background:
        import threading

        threading.Thread(target=heap.trim, name="malloc-trim", daemon=True).start()
    else:
        heap.trim()


#: The collector's passes after a screen change (:meth:`KioskRoot._collect_after_frame`): how
#: many so far, and the last 200 durations in ms (for tests and memory diagnostics).
COLLECTS: dict[str, Any] = {"count": 0, "ms": deque(maxlen=200)}


class KioskRoot(FloatLayout):
    """The whole kiosk screen.  ``flows`` may be None in layout tests.

    Events: ``on_focus_text(text)`` when the keyboard focus moves (see
    :mod:`kiosk.ui.focus`)."""

    #: on_focus_text(text): keyboard / keypad focus moved to a button with this text
    __events__ = ("on_focus_text",)

    language = StringProperty("nl")
    flows = ObjectProperty(None, allownone=True)
    #: room kept free on the right (the demo's simulator panel)
    side_panel_width = NumericProperty(0)

    def __init__(self, flows: KioskFlows | None = None, *, title: Text | None = None,
                 cues: CuePlayer | None = None, **kwargs: Any) -> None:
        load_kv()
        super().__init__(**kwargs)
        self.flows = flows
        self.cues = cues or CuePlayer(enabled=False)
        self._title = title or K("kiosk.app.name")
        self._screens: dict[State, KScreen] = {}
        sm = self.ids.sm
        from kivy.uix.screenmanager import NoTransition

        sm.transition = NoTransition()
        # The kept screens now (the first card -> PIN -> menu must not wait
        # for a build; built here they are frozen out of the collector's
        # passes below); the others when first shown (screen()).
        for state in [s for s in SCREENS if s in KEPT_SCREENS]:  # idle first: the manager shows the first added
            self.screen(state)
        self._busy = BusyOverlay(kroot=self)
        self._warning = WarningOverlay(kroot=self)
        self._help = HelpUi(self)
        self._view: View = flows.view if flows is not None else View()
        self._render_trigger = Clock.create_trigger(self._render, 0)
        self.renders = 0
        if flows is not None:
            flows.subscribe(self.view_changed)
            flows.on_cue(self.cue)
        self._busy_shown_for: Text | None = None
        self._busy_timer = Clock.create_trigger(self._busy_due, BUSY_DELAY)
        self._release_timer = Clock.create_trigger(self._release, RELEASE_AFTER)
        self._release_frame_timer = Clock.create_trigger(self._release_frame, RELEASE_FRAME_AFTER)
        self._collect_pending = False
        self._collect_trigger = Clock.create_trigger(self._collect, 0)
        self._setup_speech()
        self.render_now()
        self.bind(size=lambda *_: self._render_trigger(), side_panel_width=lambda *_: self._render_trigger())
        from .focus import FocusManager

        self.focus = FocusManager(self)  # keyboard / keypad operation and the focus ring
        if flows is not None:
            flows.on_key(self.focus.pad_key)
        self.focus.refresh()
        # What exists now lives as long as the kiosk: keep it out of the
        # collector's full passes (each would walk it again, ~100 ms here).
        gc.collect()
        gc.freeze()  # before any screen that may be dropped exists: a frozen one would never be collected

    # ------------------------------------------------------------------ screens, built lazily

    def screen(self, state: State) -> KScreen:
        """The screen for *state*, built (and added to the screen manager) on first use."""
        screen = self._screens.get(state)
        if screen is None:
            screen = SCREENS[state](name=state.value, kroot=self)
            self._screens[state] = screen
            self.ids.sm.add_widget(screen)
        return screen

    def built_screens(self) -> set[State]:
        """The states whose screens exist now (for tests and the memory bench)."""
        return set(self._screens)

    def drop_screens(self) -> set[State]:
        """Drop the built screens that are not kept and not shown; returns their states."""
        sm = self.ids.sm
        dropped = {s for s, scr in self._screens.items() if s not in KEPT_SCREENS and scr.name != sm.current}
        for state in dropped:
            sm.remove_widget(self._screens.pop(state))
        if dropped:
            from kivy.uix.screenmanager import NoTransition

            sm.transition = NoTransition()  # the old one keeps the last screens it switched
        return dropped

    # ------------------------------------------------------------------ from the flows

    def view_changed(self, view: View) -> None:
        self._view = view
        self._render_trigger()

    def cue(self, cue: Cue) -> None:
        self.cues.play(cue.value)

    # ------------------------------------------------------------------ to the flows

    def press(self, action: str, arg: str | None = None) -> None:
        self.cues.play("tap")
        if self.flows is not None:
            self.flows.press(Ui(action), arg)

    def set_language(self, lang: str) -> None:
        if self.flows is not None:
            self.flows.set_language(lang)
        else:
            self._view.language = lang
            self.render_now()

    def toggle_display(self, which: str) -> None:
        """A display switch on the top bar (``large_text`` / ``high_contrast``)."""
        self.cues.play("tap")
        on = not getattr(self._view, which)
        if self.flows is not None:
            self.flows.set_display(**{which: on})
        else:
            setattr(self._view, which, on)
            self.render_now()

    def more_time(self) -> None:
        if self.flows is not None:
            self.flows.more_time()

    def toggle_help(self) -> None:
        """The help button (and the help's close button)."""
        self.cues.play("tap")
        if self.flows is not None:
            self.flows.open_help()  # a second press closes it

    def close_help(self) -> None:
        self.cues.play("tap")
        if self.flows is not None:
            self.flows.close_help()

    def call_staff(self) -> None:
        self.cues.play("tap")
        if self.flows is not None:
            self.flows.call_staff()

    # ------------------------------------------------------------------ speech output

    def _setup_speech(self) -> None:
        """Speech (kiosk.flows.speech): on a kiosk with a ``[devices.speech]``, the
        speech buttons beside the language buttons, and the focused button spoken."""
        from kiosk.flows.speech import SpeechSwitch

        self.speech: SpeechSwitch | None = None
        self.speech_bar = None
        flows = self.flows
        if flows is None or not flows.hub.configured("speech"):
            return
        from .speech_bar import SpeechBar

        self.speech = SpeechSwitch.for_flows(flows, changed=self._speech_changed)
        self.speech_bar = SpeechBar(switch=self.speech)
        topbar = self.ids.topbar
        topbar.add_widget(self.speech_bar, index=topbar.children.index(self.ids.lang_nl) + 1)
        self.bind(on_focus_text=lambda _root, text: self.speech.focus(text))

    def _speech_changed(self) -> None:
        if self.speech_bar is not None:
            self.speech_bar.update(self.tr)

    def on_focus_text(self, text: str) -> None:
        """Keyboard / keypad focus moved to a button with this text (spoken when speech is on)."""

    # ------------------------------------------------------------------ rendering

    def tr(self, text: Text) -> str:
        return text.render(self._view.language)

    def render_now(self, view: View | None = None) -> None:
        if view is not None:
            self._view = view
        self._render(0)

    def _render(self, _dt: float) -> None:
        view = self._view
        self.renders += 1
        self.language = view.language
        DISPLAY.apply(large_text=view.large_text, high_contrast=view.high_contrast)
        tr = self.tr
        self.ids.appname.text = tr(self._title)
        switches = self.ids.display_switches.ids
        switches.large_text.text = tr(K("kiosk.display.large_text"))
        switches.high_contrast.text = tr(K("kiosk.display.high_contrast"))
        sync_children(self.ids.notices, [(KLabel, {"text": tr(n), "tone": "notice_text", "bold": True})
                                         for n in view.notices])
        screen = self.screen(view.state)
        screen.update(view, tr)
        switched = self.ids.sm.current != screen.name
        if switched or self.renders == 1:  # at start too: the kiosk waits idle
            if view.state is State.IDLE:
                self._release_timer()
            else:
                self._release_timer.cancel()
        if switched:
            self.ids.sm.current = screen.name
            self._collect_after_frame()
        if view.busy is None:
            self._busy_timer.cancel()
            self._busy_shown_for = None
        elif self._busy_shown_for is None:
            self._busy_timer()  # shown if still busy after BUSY_DELAY
        if self.speech_bar is not None:
            self.speech_bar.update(tr)
        self._overlay(self._busy, view.busy is not None and self._busy_shown_for is not None, view, tr)
        self._help.render(view, tr)
        self._overlay(self._warning, view.warning_seconds is not None, view, tr)
        focus = getattr(self, "focus", None)
        if focus is not None:
            focus.refresh()

    def _collect_after_frame(self) -> None:
        """Collect the garbage of the screen left, once the new screen's first
        frame is on the glass (not before: the patron sees the result first).

        Kivy widgets are reference cycles, so a screen's rows, rebuilt
        lists and dropped screens are freed only by a full collection, which
        Python's thresholds make rare; until then each session's garbage
        takes fresh obmalloc arenas, and a few long-lived objects made
        meanwhile pin them for good (bench/kiosk.py: +14 to +20 MB over the
        first sessions without this, flat with it).  What lives as long as
        the kiosk is frozen out of the passes (``gc.freeze`` at start), so a
        pass walks only what this session made: a few ms."""
        if self._collect_pending:
            return
        self._collect_pending = True
        from kivy.core.window import Window

        def flipped(*_args: Any) -> None:
            Window.unbind(on_flip=flipped)
            self._collect_trigger()  # the next clock tick: after this frame, before the next

        Window.bind(on_flip=flipped)
        Window.canvas.ask_update()  # a frame comes even if nothing else changed

    def _collect(self, _dt: float) -> None:
        self._collect_pending = False
        t0 = time.perf_counter()
        gc.collect()
        COLLECTS["count"] += 1
        COLLECTS["ms"].append((time.perf_counter() - t0) * 1000)

    def _busy_due(self, _dt: float) -> None:
        if self._view.busy is not None:
            self._busy_shown_for = self._view.busy
            self._render_trigger()

    def _release(self, _dt: float) -> None:
        if self._view.state is State.IDLE:
            self.drop_screens()
            menu = self._screens.get(State.MENU)
            if menu is not None:
                menu.forget()
            # once a frame these changes may still draw is drawn: its binning is what goes
            self._release_frame_timer()

    def _release_frame(self, _dt: float) -> None:
        if self._view.state is State.IDLE:
            release_frame_memory()
            release_memory(background=True)

    def _overlay(self, overlay, show: bool, view: View, tr) -> None:
        if show:
            overlay.update(view, tr)
            # Overlays leave the top bar free: the language switch stays usable.
            overlay.size_hint = (None, None)
            overlay.width = self.width - self.side_panel_width
            overlay.height = self.height - self.ids.topbar.height
            overlay.pos = self.pos
            if overlay.parent is None:
                self.add_widget(overlay)
        elif overlay.parent is not None:
            self.remove_widget(overlay)

    # ------------------------------------------------------------------ for tests and screenshots

    def visible_texts(self) -> list[str]:
        """Every text on screen now (labels and buttons of the shown screen,
        the top bar, notices and overlays)."""
        out: list[str] = []

        def walk(widget) -> None:
            if getattr(widget, "opacity", 1) == 0:
                return
            text = getattr(widget, "text", None)
            if isinstance(text, str) and text.strip():
                out.append(text)
            for child in reversed(widget.children):
                walk(child)

        walk(self.ids.topbar)
        walk(self.ids.notices)
        walk(self.ids.sm.current_screen)
        for overlay in (self._busy, self._help.built, self._warning):
            if overlay is not None and overlay.parent is not None:
                walk(overlay)
        return out

    def find_button(self, text: str):
        """The enabled, visible button whose text is *text* (for touch tests)."""
        from .widgets import KButton

        found = []

        def walk(widget) -> None:
            if getattr(widget, "opacity", 1) == 0:
                return
            if isinstance(widget, KButton) and widget.text == text and not widget.disabled:
                found.append(widget)
            for child in widget.children:
                walk(child)

        for overlay in (self._warning, self._help.built, self._busy):
            if overlay is not None and overlay.parent is not None:
                walk(overlay)
                if found:
                    return found[0]
        walk(self.ids.topbar)
        walk(self.ids.sm.current_screen)
        return found[0] if found else None

    def all_buttons(self) -> list:
        from .widgets import KButton

        found = []

        def walk(widget) -> None:
            if isinstance(widget, KButton):
                found.append(widget)
            for child in widget.children:
                walk(child)

        walk(self)
        return found

