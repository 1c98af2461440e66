"""The speech buttons of the top bar: "Speech" (on / off) and, while speech
is on, "Softer" / "Louder".  Layout in ``speech.kv`` (its own rule, beside the
language buttons); the state lives in :class:`kiosk.flows.speech.SpeechSwitch`."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, ObjectProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.flows.speech import S, SpeechSwitch


class SpeechBar(BoxLayout):
    """Shown only on a kiosk with a ``[devices.speech]``."""

    switch = ObjectProperty(None, allownone=True)
    on = BooleanProperty(False)

    def on_kv_post(self, base_widget: Any) -> None:
        # strong references: ids are weak, and the volume buttons leave the bar while speech is off
        self._volume_buttons = (self.ids.speech_softer.__self__, self.ids.speech_louder.__self__)

    def update(self, tr: Any) -> None:
        """Texts in the language shown now, and the on / off look."""
        switch: SpeechSwitch | None = self.switch
        self.on = bool(switch and switch.on)
        ids = self.ids
        ids.speech_toggle.text = tr(S("speech.button"))
        softer, louder = self._volume_buttons
        softer.text = tr(S("speech.softer"))
        louder.text = tr(S("speech.louder"))
        for button in (softer, louder):
            if self.on and button.parent is None:
                self.add_widget(button)
            elif not self.on and button.parent is not None:
                self.remove_widget(button)

    def toggle(self) -> None:
        if self.switch is not None:
            self.switch.toggle()

    def louder(self) -> None:
        if self.switch is not None:
            self.switch.louder()

    def softer(self) -> None:
        if self.switch is not None:
            self.switch.softer()
