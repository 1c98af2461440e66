"""The fleet link: doors and kiosks report to the staff console over MQTT.

Devices connect *out* (TLS, their own broker account) and publish a retained
state, events (QoS 1, journalled while the broker is unreachable) and a last
will; the console alone may send commands (broker ACL).  Topic layout:
:mod:`kiosk.fleet.topics`; the device side: :mod:`kiosk.fleet.link`; the
door's observer and command handler: :mod:`kiosk.fleet.door`.
"""

from kiosk.fleet.errors import BadMessage, CommandRefused, CommandTimeout, FleetConfigError, FleetError, FleetStateError

__all__ = ["BadMessage", "CommandRefused", "CommandTimeout", "FleetConfigError", "FleetError", "FleetStateError"]
