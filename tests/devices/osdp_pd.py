"""An OSDP peripheral device (PyPI libosdp) in its own process, for the OSDP tests.

Run as ``python -m tests.devices.osdp_pd --port PATH --address N [--key HEX |
--install --key-file PATH]``.  It opens the pty at PATH (the PD end of a
socat pair), plays a reader with a keypad, one output (the strike), an LED,
a buzzer and two inputs (door contact, exit button), secure channel on.

It talks to the test over stdin/stdout, one JSON object per line.

From the test (stdin)::

    {"op": "card", "data": "hex", "bits": 26}          # a Wiegand card read
    {"op": "keys", "data": "1234#"}                      # keypad keys ('#' enter, '*' clear)
    {"op": "inputs", "report": [1, 0]}                   # input status (door, exit)
    {"op": "quit"}

To the test (stdout)::

    {"ev": "ready"}                                      # the PD runs
    {"ev": "sc_active"}                                  # secure channel is up
    {"ev": "command", "command": "output", ...}          # every CP command, decoded
    {"ev": "keyset", "scbk": "hex"}                      # install mode: the CP set our key
    {"ev": "error", "detail": "..."}

With ``--install`` the PD starts without a key (libosdp then accepts the
default key SCBK-D, install mode); a KEYSET from the CP is written to
``--key-file`` so a restart with that key works.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

import osdp
from osdp import (
    Capability,
    CardFormat,
    Command,
    Event,
    LibFlag,
    LogLevel,
    PDCapabilities,
    PDInfo,
    PeripheralDevice,
    StatusReportType,
)

COMMAND_NAMES = {
    Command.Output: "output",
    Command.LED: "led",
    Command.Buzzer: "buzzer",
    Command.Text: "text",
    Command.Keyset: "keyset",
    Command.Comset: "comset",
    Command.Manufacturer: "mfg",
    Command.Status: "status",
}

KEYPAD = {"#": 0x0D, "*": 0x7F}


class PtyChannel(osdp.Channel):
    """The PD end of the pty, non-blocking."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)

    def read(self, max_bytes: int) -> bytes:
        try:
            return os.read(self.fd, max_bytes)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            return b""

    def write(self, buf: bytes) -> int:
        try:
            return os.write(self.fd, bytes(buf))
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            return 0

    def flush(self) -> None:
        pass


_out_lock = threading.Lock()


def emit(**fields: object) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", required=True)
    parser.add_argument("--address", type=int, default=101)
    parser.add_argument("--key", default="")
    parser.add_argument("--install", action="store_true")
    parser.add_argument("--no-display", action="store_true", help="declare no text display")
    parser.add_argument("--key-file", default="")
    args = parser.parse_args()

    key = bytes.fromhex(args.key) if args.key else None
    flags = [LibFlag.InstallMode] if args.install else [LibFlag.EnforceSecure]
    info = PDInfo(args.address, PtyChannel(args.port), scbk=None if args.install else key, flags=flags)
    caps = PDCapabilities(
        [
            (Capability.OutputControl, 1, 1),
            (Capability.LEDControl, 1, 1),
            (Capability.AudibleControl, 1, 1),
            (Capability.ContactStatusMonitoring, 1, 2),
            (Capability.Readers, 1, 1),
        ]
        + ([] if args.no_display else [(Capability.TextOutput, 1, 2)])  # a 2-row text display
    )

    def on_command(cmd: dict) -> tuple[int, None]:
        name = COMMAND_NAMES.get(cmd.get("command"), str(cmd.get("command")))
        shown = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in cmd.items() if k != "command"}
        if name == "keyset":
            data = cmd.get("data", b"")
            if args.key_file:
                with open(args.key_file, "w") as handle:
                    handle.write(data.hex())
            emit(ev="keyset", scbk=data.hex())
        else:
            emit(ev="command", command=name, **shown)
        return 0, None

    pd = PeripheralDevice(info, caps, log_level=LogLevel.Error, command_handler=on_command)
    pd.start()
    emit(ev="ready", pid=os.getpid())

    inputs = [0, 0]

    def watch_sc() -> None:
        was = False
        while True:
            active = pd.is_sc_active()
            if active and not was:
                emit(ev="sc_active")
                # Tell the CP where the inputs stand (a real PD reports changes).
                pd.submit_event({"event": Event.Status, "type": StatusReportType.Input, "report": bytes(inputs)})
            was = active
            time.sleep(0.05)

    threading.Thread(target=watch_sc, daemon=True).start()

    for line in sys.stdin:
        try:
            msg = json.loads(line)
            op = msg.get("op")
            if op == "quit":
                break
            if op == "card":
                data = bytes.fromhex(msg["data"])
                ok = pd.submit_event(
                    {
                        "event": Event.CardRead,
                        "reader_no": 0,
                        "direction": 0,
                        "length": int(msg.get("bits", len(data) * 8)),
                        "format": CardFormat.Wiegand,
                        "data": data,
                    }
                )
            elif op == "keys":
                raw = bytes(KEYPAD.get(ch, ord(ch)) for ch in msg["data"])
                ok = pd.submit_event({"event": Event.KeyPress, "reader_no": 0, "data": raw})
            elif op == "inputs":
                inputs = [int(v) for v in msg["report"]]
                ok = pd.submit_event({"event": Event.Status, "type": StatusReportType.Input, "report": bytes(inputs)})
            else:
                emit(ev="error", detail=f"unknown op {op!r}")
                continue
            if not ok:
                emit(ev="error", detail=f"{op}: event queue full")
        except Exception as exc:  # noqa: BLE001 - report to the test, keep running
            emit(ev="error", detail=f"{type(exc).__name__}: {exc}")
    pd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
