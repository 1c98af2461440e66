"""The help button on the top bar and the help overlay (``View.help``, kiosk.flows.help).

The overlay sits over the screen (which stays as it was, behind it) and
under the idle warning; like the other overlays it leaves the top bar free,
so the language switch and the help button itself keep working."""

from __future__ import annotations

from kivy.properties import BooleanProperty, ObjectProperty
from kivy.uix.floatlayout import FloatLayout

from kiosk.flows.help import CallStatus, HelpView
from kiosk.flows.model import K, View

from .display import TopBarButton
from .widgets import KLabel, sync_children


class HelpButton(TopBarButton):
    """"? Help" on the top bar of every screen; lit while the help is open."""

    kroot = ObjectProperty(None, allownone=True)
    active = BooleanProperty(False)


class HelpOverlay(FloatLayout):
    kroot = ObjectProperty(None, allownone=True)
    unmanned = BooleanProperty(False)
    can_call = BooleanProperty(False)
    calling = BooleanProperty(False)
    failed = BooleanProperty(False)

    def on_touch_down(self, touch):
        if not self.collide_point(*touch.pos):
            return False  # the top bar stays usable
        super().on_touch_down(touch)
        return True  # modal: the screen behind it takes no touches

    def update(self, view: View, tr) -> None:
        shown: HelpView = view.help
        ids = self.ids
        ids.title.text = tr(K("kiosk.help.title"))
        ids.explain.text = tr(shown.explain)
        self.unmanned = shown.unmanned
        lines = [(KLabel, {"text": tr(K("kiosk.help.unmanned")), "tone": "notice_text", "bold": True})] if shown.unmanned else []
        lines += [(KLabel, {"text": tr(text), "tone": "notice_text", "bold": False}) for text in shown.emergency]
        if not shown.unmanned:
            lines.append((KLabel, {"text": tr(K("kiosk.help.staffed")), "tone": "muted", "bold": False}))
        sync_children(ids.emergency, lines)
        self.can_call = shown.can_call
        self.calling = shown.call in (CallStatus.SENDING, CallStatus.SENT)
        self.failed = shown.call is CallStatus.FAILED
        status = None if shown.call is None else f"kiosk.help.call_{shown.call.value}"
        if shown.call is CallStatus.FAILED and shown.unmanned:
            status += "_unmanned"  # nobody at the desk now: the number above
        ids.status.text = tr(K(status)) if status else ""
        ids.call.text = tr(K("kiosk.help.call_staff")) if shown.can_call else ""
        ids.close.text = tr(K("kiosk.help.close"))


class HelpUi:
    """The help's widgets on a KioskRoot: the button in the top bar, the overlay."""

    def __init__(self, kroot) -> None:
        self.kroot = kroot
        self.button = HelpButton(kroot=kroot)
        kroot.ids.topbar.add_widget(self.button)  # at the right end of the top bar
        self._overlay: HelpOverlay | None = None

    @property
    def overlay(self) -> HelpOverlay:
        """The overlay, built when the help is first opened: most patrons never
        open it, and a built overlay is ~0.5 MB of widgets for the kiosk's life."""
        if self._overlay is None:
            self._overlay = HelpOverlay(kroot=self.kroot)
        return self._overlay

    @property
    def built(self) -> HelpOverlay | None:
        """The overlay if it was ever built (for walks over what is shown)."""
        return self._overlay

    def render(self, view: View, tr) -> None:
        self.button.text = tr(K("kiosk.help.button"))
        shown = view.help is not None
        self.button.active = shown
        if not shown and self._overlay is None:
            return
        # Sized and placed like the other overlays; opening it is a touch, which hides the idle
        # warning, so a warning that comes later lies over it.
        self.kroot._overlay(self.overlay, shown, view, tr)
