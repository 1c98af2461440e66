"""The one identification core (card -> PIN -> library lookup -> policy ->
lockout -> verified cache) for the kiosk, the door and ``bibkiosk check``:
:mod:`.core` (pure), :mod:`.store` (the one patron store), :mod:`.driver`
(the effects carried out)."""

from .core import CARD_RULES, CORE_RULES, CoreSettings, Front, Identification, Reason
from .driver import IdentifyDriver
from .store import STORE_NAME, CacheCheck, CacheStatus, PatronStore, ScryptParams, StoreError, StoreUnwritable

__all__ = [
    "CARD_RULES",
    "CORE_RULES",
    "STORE_NAME",
    "CacheCheck",
    "CacheStatus",
    "CoreSettings",
    "Front",
    "IdentifyDriver",
    "Identification",
    "PatronStore",
    "Reason",
    "ScryptParams",
    "StoreError",
    "StoreUnwritable",
]
