"""bibkiosk devices: every reader, lock and printer behind one interface per kind, chosen by URL.

    from devices import open_device, Lock
    lock = open_device("lcus://usb/1a86:7523?channel=1", kind=Lock)
    async with lock:
        await lock.release(5)

See :mod:`devices.base` for the contract, :mod:`devices.registry` for URL
schemes, :mod:`devices.sim` for the simulators and ``docs/drivers.md`` for
writing a driver.  This package imports nothing of the application.
"""

from .base import (
    AFI_IN_LIBRARY,
    AFI_ON_LOAN,
    KEY_CLEAR,
    KEY_ENTER,
    KINDS,
    Backoff,
    BarcodeScanner,
    CardPresented,
    Device,
    DeviceEvent,
    DeviceStatus,
    DoorClosed,
    DoorOpened,
    DoorSensor,
    Event,
    EventStream,
    ExitPressed,
    IdentifierKind,
    Indicator,
    ItemReader,
    KeyPressed,
    Lock,
    LockState,
    PatronReader,
    Pattern,
    PaymentOutcome,
    PaymentProgress,
    PaymentRequest,
    PaymentResult,
    PaymentTerminal,
    PIN_WORDS,
    SPEECH_LANGUAGES,
    PinPad,
    ReceiptPrinter,
    ReconnectingDevice,
    Scanned,
    SpeechOutput,
    Tag,
    TagsChanged,
    TagUsage,
    kind_class,
    kind_names,
    missing_parts,
    run_in_thread,
    spoken_pin,
)
from .errors import (
    DeviceDisconnected,
    DeviceError,
    DeviceNotFound,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUrlError,
)
from .registry import open_device, schemes
from .url import DeviceUrl, parse_options, parse_url

__all__ = [
    "AFI_IN_LIBRARY", "AFI_ON_LOAN", "KEY_CLEAR", "KEY_ENTER", "KINDS", "Backoff", "BarcodeScanner",
    "CardPresented", "Device", "DeviceEvent", "DeviceStatus", "DoorClosed", "DoorOpened", "DoorSensor",
    "Event", "EventStream", "ExitPressed", "IdentifierKind", "Indicator", "ItemReader", "KeyPressed", "Lock",
    "LockState", "PatronReader", "Pattern", "PaymentOutcome", "PaymentProgress", "PaymentRequest",
    "PaymentResult", "PaymentTerminal", "PIN_WORDS", "SPEECH_LANGUAGES", "SpeechOutput", "spoken_pin", "PinPad", "ReceiptPrinter", "ReconnectingDevice", "Scanned", "Tag",
    "TagsChanged", "TagUsage", "kind_class", "kind_names", "missing_parts", "run_in_thread",
    "DeviceDisconnected", "DeviceError", "DeviceNotFound", "DeviceProtocolError", "DeviceTimeout",
    "DeviceUrlError", "open_device", "schemes", "DeviceUrl", "parse_options", "parse_url",
]
