"""The embedded library system as a :class:`LibrarySystem`.

``EmbeddedLibrarySystem`` opens the embedded library system's SQLite state
(loaded from its JSON data file), serves it over SIP2 on a free loopback
port inside this process, and talks to it with :class:`Sip2LibrarySystem`
exactly as it would to Wise.  So the kiosk, the door and ``bibkiosk check``
take the same code path whichever library system they use.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from kiosk.library import LibraryError
from kiosk.library.datafile import Account, load_data
from kiosk.library.server import LibraryServer
from kiosk.library.store import Store
from kiosk.sip2.client import ClientSettings, Sip2Client

from .base import LibrarySystemError
from kiosk.sip2.dialects import FieldCodes
from .sip2 import Sip2LibrarySystem

__all__ = ["EmbeddedLibrarySystem"]

_LOGIN = "bibkiosk-embedded"


class EmbeddedLibrarySystem(Sip2LibrarySystem):
    """The embedded library system (data file ``data``, state ``database``)
    served on 127.0.0.1 and asked over real SIP2.

    ``database`` None: a fresh temporary state (gone at :meth:`close`).
    ``clock``: the server's clock (tests).  ``options``: the adapter's
    dialect options (:class:`Sip2LibrarySystem`); the dialect is "wise" by
    default, as the embedded library speaks Wise."""

    def __init__(
        self,
        data: str | os.PathLike[str],
        *,
        database: str | os.PathLike[str] | None = None,
        fields: FieldCodes | Any | None = None,
        clock: Any = None,
        timeout: float = 10.0,
        **options: Any,
    ) -> None:
        self.data_path = str(data)
        self.database = Path(database) if database is not None else None
        self._clock = clock
        self._password = secrets.token_urlsafe(16)
        self._server = None
        self._store = None
        self._tmp = None
        codes = FieldCodes.from_settings(fields)
        settings = ClientSettings(
            host="127.0.0.1",
            port=1,  # replaced when the server is up
            user=_LOGIN,
            password=SecretStr(self._password),
            location="embedded",
            timeout=timeout,
            keepalive_seconds=None,
            encoding="utf-8",
        )
        options.setdefault("dialect", "wise")
        super().__init__(settings, fields=codes, **options)

    @property
    def store(self):  # noqa: ANN201 - kiosk.library.store.Store
        return self._store

    async def start(self) -> None:
        if self._server is not None:
            await super().start()
            return
        import tempfile

        try:
            data = load_data(self.data_path)
            if self.database is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="bibkiosk-library-")
                self._store = Store.create(Path(self._tmp.name) / "library.sqlite", data)
            else:
                self.database.parent.mkdir(parents=True, exist_ok=True)
                self._store, _resumed = Store.open_or_create(self.database, data)
        except LibraryError as exc:
            raise LibrarySystemError(f"embedded library system: {exc}") from None
        except OSError as exc:
            raise LibrarySystemError(f"embedded library system: {exc.strerror}") from None
        internal = Account(login=_LOGIN, password=self._password, location="embedded")
        self._server = LibraryServer(
            self._store, fields=self.fields, encoding="utf-8", clock=self._clock, extra_accounts=(internal,)
        )
        if not self.badges:  # the data file names its badge codes
            self.badges = self._store.badge_map()
        port = await self._server.start("127.0.0.1", 0)
        self.settings = self.settings.model_copy(update={"port": port, "institution": self._store.institution})
        self.client = Sip2Client(self.settings)
        await super().start()

    async def _ensure_connected(self) -> None:
        if self._server is None:
            await self.start()
            return
        await super()._ensure_connected()

    async def close(self) -> None:
        await super().close()
        if self._server is not None:
            await self._server.close()
            self._server = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
