"""The entrance door: card + PIN + badge in unmanned hours.

Parts, each usable on its own:

- :mod:`kiosk.door.audit`    audit journal (SQLite WAL), retention, occupancy
- :mod:`kiosk.identify`      the identification core, the one patron store (lockout, verified cache)
- :mod:`kiosk.door.limits`   wrong-PIN lockout store, per-reader rate limit
- :mod:`kiosk.door.monitor`  door contact / exit button / alarm state machine
- :mod:`kiosk.door.webhooks` alarm delivery to staff, never blocking the door
- :mod:`kiosk.door.schedule` period changes and closing announcements
- :mod:`kiosk.door.service`  DoorService, the asyncio entry service
- :mod:`kiosk.door.cli`      ``bibkiosk door [run|log|status] --config FILE``
"""

from kiosk.door.errors import DoorConfigError, DoorError, DoorStateError

__all__ = ["DoorError", "DoorConfigError", "DoorStateError"]
