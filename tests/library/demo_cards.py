"""The demo cards (kiosk/library/demo.json) and what each demonstrates;
docs/demo-data.md has the same table for people."""

PIN = "1234"

#: card -> rules a checkout fires (PIN given and right), at 2026-11-23.
CHECKOUT = {
    "29999000000010": [],  # Demo Klant OK
    "29999000000020": ["R1"],
    "29999000000030": ["R2"],  # invoiced
    "29999000000190": ["R2"],  # reminder
    "29999000000040": ["R3"],
    "29999000000050": ["R4"],
    "29999000000060": ["R5"],
    "29999000000070": ["R6"],  # deregistered
    "29999000000080": ["R6"],  # invalid
    "29999000000090": ["BL"],
    "29999000000100": ["X1"],  # expired
    "29999000000110": ["C2"],  # replaced card
    "29999000000111": [],  # the new card of the same patron
    "29999000000120": ["C3"],  # blocked card
    "29999000000130": ["C4"],  # lost card
    "2X1986": ["C1"],  # temporary number
    "29999000000150": [],  # no badge: borrowing is fine
    "29999000000160": [],
    "29999000000170": [],  # young
    "29999000000180": [],
    "00000000000000": ["U1"],  # unknown card: nothing else about it can be judged
}

#: card -> rules unmanned entry fires (PIN right) at the patron's home branch.
ENTRY = {
    "29999000000010": [],  # clean badge holder
    "29999000000150": ["B1"],  # badge missing
    "29999000000160": ["B1"],  # badge assigned, badge type switched off
    "29999000000170": ["A1"],  # under the branch's entry age (16)
    "29999000000020": ["R1"],
    "29999000000030": ["R2"],
    "29999000000040": ["R3"],
    "29999000000050": ["R4"],
    "29999000000060": ["R5"],
    "29999000000070": ["R6"],
    "29999000000090": ["BL"],
    "29999000000100": ["X1"],
    "29999000000110": ["C2"],
    "29999000000111": [],
    "29999000000180": [],
    "29999000000080": ["R6", "B1"],
}

LANGUAGE = {"29999000000040": "en", "29999000000060": "fr", "29999000000180": "en"}
