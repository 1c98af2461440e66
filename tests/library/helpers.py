"""Small builders for data files used across the library tests."""

from __future__ import annotations

import copy
import json
from typing import Any

#: The example of issue 4, verbatim: the data-file contract.
ISSUE_EXAMPLE: dict[str, Any] = {
    "institution": "9401",
    "branches": [{"id": "9401", "name": "Annen", "charge_age_days": 60}],
    "subscription_types": [{"code": "53", "name": "Compleet", "fee": 60.00, "max_charges": 10.00}],
    "badges": [{"name": "Onbemande openingsuren", "active": True}],
    "patrons": [
        {
            "id": "413700",
            "name": "T. Testabo",
            "birth_date": "1985-01-01",
            "pin": "0101",
            "language": "nl",
            "branch": "9401",
            "cards": [{"number": "29401000075868", "status": "active"}],
            "temporary_number": None,
            "subscription": {"type": "53", "start": "2026-10-26", "end": "2027-10-31", "status": "invoiced", "fee_paid": False},
            "charges": [{"amount": 2.50, "created": "2026-09-01", "paid": False}],
            "replacement_invoice": False,
            "badges": ["Onbemande openingsuren"],
        }
    ],
    "items": [{"id": "30000000000012", "title": "De Avonden", "type": "book", "parts": 1}],
    "loans": [{"patron": "413700", "item": "30000000000012", "due": "2026-12-01", "renewals": 0}],
}


def example(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(ISSUE_EXAMPLE)
    data.update(changes)
    return data


def text(data: dict[str, Any]) -> str:
    return json.dumps(data)
