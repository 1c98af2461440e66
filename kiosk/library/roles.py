"""What each SIP2 account role may send and which patron fields it is sent.

Pure tables and one function: no I/O.  The handler (``server.py``) asks
:func:`may_send` before dispatching a request and :func:`disclosure` before
building a 24 or a 64.

========  ==============================================================
role      messages (besides 93 login, 99 status, 97 resend)
========  ==============================================================
kiosk     23, 63, 11, 09, 29, 65, 17, 15, 35, 37, 41 (Wise registrations)
door      23, 63, 35 — and never a name, birth date, loans or charges
sorter    09, 17, 35 — no patron information at all
staff     everything, also 01 block, 25 enable, 19 item status, 37 fee paid
========  ==============================================================

Personal details (name, birth date, the item lists, charge descriptions)
go to a kiosk only after the right PIN in that very request (staff: always;
a door: never).  Where the birth date is withheld the patron gets age
verdicts instead ("at least 16: yes"), and a door, which is sent no list of
charges, gets one summary charge (the oldest open charge's date and the
total: what R1 and R3 need), so that the door's policy decides as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from .datafile import Role

__all__ = ["ALLOWED", "Disclosure", "Role", "disclosure", "may_send"]

_ALWAYS = frozenset({"93", "99", "97"})

#: Request command codes each role may send.
ALLOWED: dict[Role, frozenset[str]] = {
    Role.KIOSK: _ALWAYS | {"23", "63", "11", "09", "29", "65", "17", "15", "35", "37", "41"},
    Role.DOOR: _ALWAYS | {"23", "63", "35"},
    Role.SORTER: _ALWAYS | {"09", "17", "35"},
    Role.STAFF: _ALWAYS | {"23", "63", "11", "09", "29", "65", "17", "15", "35", "37", "41", "01", "25", "19"},
}

#: Roles that may lift a block (25 Patron Enable) or set one (01).
UNBLOCKING: frozenset[Role] = frozenset({Role.STAFF})


def may_send(role: Role, code: str) -> bool:
    """Whether an account of *role* may send request *code*."""
    return code in ALLOWED[role]


@dataclass(frozen=True, slots=True)
class Disclosure:
    """Which patron fields one answer may carry."""

    name: bool  # AE
    birth_date: bool  # PB; else age verdicts
    lists: bool  # AS AT AU AV CD and their counts
    charges: bool  # the itemised charges (extension), BV
    charge_summary: bool  # else one summary charge: the oldest open charge's date and the total

    @property
    def personal(self) -> bool:
        return self.name


_FULL = Disclosure(name=True, birth_date=True, lists=True, charges=True, charge_summary=False)
_NO_PIN = Disclosure(name=False, birth_date=False, lists=False, charges=True, charge_summary=False)
_DOOR = Disclosure(name=False, birth_date=False, lists=False, charges=False, charge_summary=True)


def disclosure(role: Role, *, right_pin: bool) -> Disclosure:
    """What a 24/64 for an account of *role* may carry; *right_pin*: the
    request carried the patron's right PIN."""
    if role is Role.STAFF:
        return _FULL
    if role is Role.DOOR:
        return _DOOR
    return _FULL if right_pin else _NO_PIN
