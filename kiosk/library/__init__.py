"""The embedded library system: a SIP2 server over SQLite that behaves as
OCLC Wise does (``../shared/wise-rules.md``), so bibkiosk runs out of the box
on one machine and every test and demo has a real SIP2 peer with real rules.

- :mod:`kiosk.library.datafile` — the JSON data file (a contract; strict).
- :mod:`kiosk.library.store` — SQLite state (WAL, whole transactions).
- :mod:`kiosk.library.patron_run` — the monthly patron run.
- :mod:`kiosk.library.server` — the SIP2 face.
- :mod:`kiosk.library.cli` — ``bibkiosk library serve|patron-run``.
"""

from .errors import DataFileError, LibraryError, NotFound, PaymentRefused, StoreError

__all__ = ["DataFileError", "LibraryError", "NotFound", "PaymentRefused", "StoreError"]
