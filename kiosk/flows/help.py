"""Help on every screen: what this screen is for, a call to staff, and in
unmanned hours the library's emergency and contact details.

Help is an overlay, not a state: opening it leaves the flow where it is
(the screen, the typed PIN dots, the items), closing it shows the same screen
again.  It is a touch like any other (the idle timeout starts again) and the
idle timeout keeps running while it is open: the warning comes over it and
the session still ends.  A state change (a timeout, a card tapped on the
welcome screen) closes it.

The call to staff goes through a :class:`StaffCaller` (``[help] call_staff``:
the fleet link to the staff console, or webhooks; :mod:`kiosk.staffcall`).
The patron sees whether it went out.  Nothing about the patron goes with it:
the screen, the period, whether someone is identified, never who.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from policy import PeriodKind, Schedule, period_at

from .model import TIMED_STATES, K, State, Text

log = logging.getLogger("kiosk.flows")

#: The longest the patron waits for "sent" / "could not be sent" (s).
CALL_TIMEOUT = 10.0


class StaffCaller(Protocol):
    """Calls staff; True once the call went out (the broker or a webhook took it)."""

    async def call(self, info: Mapping[str, Any]) -> bool: ...

    async def close(self) -> None: ...


class CallStatus(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class LocalText:
    """The library's own text in each language (``[help] contact``); renders like a :class:`Text`."""

    by_language: tuple[tuple[str, str], ...]

    def render(self, lang: str) -> str:
        texts = dict(self.by_language)
        return texts.get(lang) or texts.get("nl") or next(iter(texts.values()), "")


@dataclass(frozen=True, slots=True)
class HelpSettings:
    """From ``[help]`` (and ``[schedule]`` for the period)."""

    phone: str | None = None
    emergency_phone: str = "112"
    contact: Mapping[str, str] = field(default_factory=dict)
    schedule: Schedule | None = None

    @classmethod
    def from_config(cls, config: Any) -> HelpSettings:
        h = config.help
        contact = {} if h.contact is None else {"nl": h.contact.nl, "fr": h.contact.fr, "en": h.contact.en}
        return cls(phone=h.phone, emergency_phone=h.emergency_phone, contact=contact, schedule=config.schedule)


@dataclass(slots=True)
class HelpView:
    """The help overlay's content (``View.help``; None when closed)."""

    screen: State
    explain: Text
    can_call: bool = False
    call: CallStatus | None = None
    #: no staff in the building now (the schedule's unmanned or closed period)
    unmanned: bool = False
    #: unmanned hours: emergency number, the library's phone, its contact text
    emergency: list[Any] = field(default_factory=list)
    opened: int = 0

    def texts(self) -> list[Any]:
        return [self.explain, *self.emergency]


def help_text(state: State) -> Text:
    """What *state*'s screen is for and what to do there (one catalog text per state)."""
    return K(f"kiosk.help.screen.{state.value}")


class HelpFlow:
    """A part of :class:`~kiosk.flows.engine.KioskFlows`: the help overlay."""

    #: set by the wiring (kiosk_cli) from ``[help] call_staff``; None: no call button
    staff_caller: StaffCaller | None = None
    _help_opened = 0

    # ---------------------------------------------------------------- immediate actions (no queue)

    def open_help(self) -> None:
        """The help button: explain this screen (a second press closes it)."""
        self._touch()  # type: ignore[attr-defined]
        if self.view.help is not None:  # type: ignore[attr-defined]
            self.close_help()
            return
        self._help_opened += 1
        state = self.state  # type: ignore[attr-defined]
        unmanned = self._unmanned_now()
        hs: HelpSettings = self.settings.help  # type: ignore[attr-defined]
        emergency: list[Any] = []
        if unmanned:
            emergency.append(K("kiosk.help.emergency", phone=hs.emergency_phone))
            if hs.phone:
                emergency.append(K("kiosk.help.phone", phone=hs.phone))
            if hs.contact:
                emergency.append(LocalText(tuple(hs.contact.items())))
        self.view.help = HelpView(  # type: ignore[attr-defined]
            screen=state, explain=help_text(state), can_call=self.staff_caller is not None,
            unmanned=unmanned, emergency=emergency, opened=self._help_opened,
        )
        log.info("help opened on %s%s", state.value, " (unmanned hours)" if unmanned else "")
        self._publish()  # type: ignore[attr-defined]

    def close_help(self) -> None:
        """Back to the same screen, as it was."""
        self._touch()  # type: ignore[attr-defined]
        if self.view.help is not None:  # type: ignore[attr-defined]
            self.view.help = None  # type: ignore[attr-defined]
            self._publish()  # type: ignore[attr-defined]

    def call_staff(self) -> None:
        """The "call staff" button: one call per opening of the help."""
        self._touch()  # type: ignore[attr-defined]
        shown: HelpView | None = self.view.help  # type: ignore[attr-defined]
        caller = self.staff_caller
        if shown is None or caller is None or shown.call in (CallStatus.SENDING, CallStatus.SENT):
            return
        shown.call = CallStatus.SENDING
        info = {"screen": shown.screen.value, "unmanned": shown.unmanned,
                "identified": bool(self._identified)}  # type: ignore[attr-defined]
        self._publish()  # type: ignore[attr-defined]
        self._spawn(self._call(caller, info, shown.opened))  # type: ignore[attr-defined]

    async def _call(self, caller: StaffCaller, info: dict[str, Any], opened: int) -> None:
        try:
            ok = bool(await asyncio.wait_for(caller.call(info), CALL_TIMEOUT))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - TimeoutError, a link error: not sent
            log.warning("help: the staff call did not go out (%s)", type(exc).__name__)
            ok = False
        log.info("help: staff called from %s: %s", info["screen"], "sent" if ok else "could not be sent")
        shown: HelpView | None = self.view.help  # type: ignore[attr-defined]
        if shown is not None and shown.opened == opened:
            shown.call = CallStatus.SENT if ok else CallStatus.FAILED
            self._publish()  # type: ignore[attr-defined]

    # ---------------------------------------------------------------- for the engine

    def _unmanned_now(self) -> bool:
        """No staff now: the schedule's unmanned (or closed) period at this kiosk's branch."""
        schedule = self.settings.help.schedule  # type: ignore[attr-defined]
        if schedule is None:
            return False
        try:
            period = period_at(schedule, self.settings.branch, self._now())  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - an unknown branch: treat as staffed, say why
            log.warning("help: no period for branch %s (%s)", self.settings.branch, exc)  # type: ignore[attr-defined]
            return False
        return period.kind is not PeriodKind.STAFFED

    def _help_idle(self, now: float) -> None:
        """Outside a session the idle timeout closes the help (in a session it ends the session)."""
        if self.view.help is None or self.state in TIMED_STATES:  # type: ignore[attr-defined]
            return
        if now - self._last_activity >= self.settings.idle_timeout_seconds:  # type: ignore[attr-defined]
            self.view.help = None  # type: ignore[attr-defined]
            self._publish()  # type: ignore[attr-defined]
