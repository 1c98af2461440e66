"""``bibkiosk devices list|test``: what is attached, and the conformance kit for a device URL.

    bibkiosk devices list [--json]
    bibkiosk devices test URL [--yes] [--faults] [--timeout S] [--kind K] [--json]

``test`` runs the conformance suite of every kind the device implements and
prints a pass/fail report (exit 0 passed, 1 failed, 2 bad URL or error).
Where a person must act ("tap a card now") it says so and waits; ``--yes``
answers the "did it click / print?" questions with yes.  ``sim://`` URLs run
unattended.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="list attached devices; run a device's conformance suite", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = p.add_subparsers(dest="devices_command", metavar="ACTION", required=True)
    lst = dsub.add_parser("list", help="PC/SC readers, serial ports (vendor:product), input devices, URL schemes")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(func=_list)
    test = dsub.add_parser("test", help="run the conformance suite against the device at URL")
    test.add_argument("url", metavar="URL", help="device URL, e.g. sim://patron or serial://usb/0403:6001")
    test.add_argument("--yes", action="store_true", help="answer yes to 'did it work?' questions")
    test.add_argument("--faults", action="store_true", help="also test unplug / replug (you will be asked to do it)")
    test.add_argument("--timeout", type=float, default=30.0, help="seconds for each action (default 30)")
    test.add_argument("--kind", action="append", dest="kinds", metavar="KIND", help="only this kind's suite (repeatable)")
    test.add_argument("--json", action="store_true", help="print the report as JSON")
    test.set_defaults(func=_test)


# --- list -----------------------------------------------------------------------------------


def _pcsc_readers() -> dict[str, Any]:
    try:
        from smartcard.System import readers
    except ImportError:
        return {"available": False, "detail": "pyscard is not installed (pip install bibkiosk[pcsc])", "readers": []}
    try:
        names = [str(r) for r in readers()]
    except Exception as exc:  # noqa: BLE001 - pyscard raises its own types when pcscd is absent
        return {"available": False, "detail": f"PC/SC not available (is pcscd running?): {type(exc).__name__}", "readers": []}
    return {"available": True, "detail": "", "readers": names}


def _serial_ports() -> list[dict[str, Any]]:
    try:
        from serial.tools import list_ports
    except ImportError:  # pragma: no cover - pyserial is a dependency
        return []
    ports = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        usb = f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None and port.pid is not None else None
        ports.append({
            "device": port.device,
            "usb": usb,
            "description": port.description if port.description and port.description != "n/a" else "",
            "serial_number": port.serial_number or "",
            "url_hint": f"scheme://usb/{usb}" if usb else f"scheme://{port.device}",
        })
    return ports


def _input_devices() -> dict[str, Any]:
    try:
        import evdev
    except ImportError:
        return {"available": False, "detail": "evdev is not installed", "devices": []}
    found = []
    try:
        paths = evdev.list_devices()
    except OSError as exc:
        return {"available": False, "detail": str(exc), "devices": []}
    for path in sorted(paths):
        try:
            dev = evdev.InputDevice(path)
        except OSError:
            continue
        try:
            usb = f"{dev.info.vendor:04x}:{dev.info.product:04x}"
            found.append({"device": path, "name": dev.name, "usb": usb, "url_hint": f"hid://usb/{usb}"})
        finally:
            dev.close()
    detail = "" if paths else "no readable /dev/input/event* devices"
    return {"available": True, "detail": detail, "devices": found}


def _schemes() -> list[dict[str, Any]]:
    from devices.base import Device, kind_names
    from devices.errors import DeviceError
    from devices.registry import schemes

    rows = []
    for name, info in schemes().items():
        row: dict[str, Any] = {"scheme": name, "target": info.target, "origin": info.origin}
        try:
            target = info.load()
        except DeviceError as exc:
            row["kinds"] = []
            row["detail"] = f"unavailable: {exc}"
        else:
            if isinstance(target, type) and issubclass(target, Device):
                row["kinds"] = kind_names(target)
            elif name == "sim":
                row["kinds"] = ["all"]
            else:
                row["kinds"] = ["(factory)"]
            row["detail"] = ""
        rows.append(row)
    return rows


def _list(args: argparse.Namespace) -> int:
    data = {
        "pcsc": _pcsc_readers(),
        "serial_ports": _serial_ports(),
        "input_devices": _input_devices(),
        "schemes": _schemes(),
    }
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    pcsc = data["pcsc"]
    print("PC/SC readers:")
    if not pcsc["available"]:
        print(f"  ({pcsc['detail']})")
    for name in pcsc["readers"]:
        print(f"  {name}")
    if pcsc["available"] and not pcsc["readers"]:
        print("  (none)")
    print("Serial ports:")
    for port in data["serial_ports"]:
        usb = port["usb"] or "----:----"
        extra = " ".join(x for x in (port["description"], f"SN {port['serial_number']}" if port["serial_number"] else "") if x)
        print(f"  {port['device']:20} {usb}  {extra}".rstrip())
    if not data["serial_ports"]:
        print("  (none)")
    inputs = data["input_devices"]
    print("Input devices (HID scanners):")
    if inputs["detail"] and not inputs["devices"]:
        print(f"  ({inputs['detail']})")
    for dev in inputs["devices"]:
        print(f"  {dev['device']:20} {dev['usb']}  {dev['name']}")
    print("URL schemes:")
    for row in data["schemes"]:
        kinds = ", ".join(row["kinds"]) or "-"
        origin = "" if row["origin"] == "builtin" else f"  [{row['origin']}]"
        detail = f"  ({row['detail']})" if row["detail"] else ""
        print(f"  {row['scheme'] + '://':18} {kinds}{origin}{detail}")
    return 0


# --- test -----------------------------------------------------------------------------------


def _test(args: argparse.Namespace) -> int:
    from devices.conformance import console_actor, run_conformance
    from devices.errors import DeviceError
    from devices.registry import open_device
    from devices.sim import SimDevice

    try:
        device = open_device(args.url)
    except DeviceError as exc:
        print(f"bibkiosk devices test: {exc}", file=sys.stderr)
        return 2
    if args.timeout <= 0:
        print("bibkiosk devices test: --timeout must be positive", file=sys.stderr)
        return 2
    automatic = isinstance(device, SimDevice)
    actor = None if automatic else console_actor(yes=args.yes, out=sys.stderr if args.json else sys.stdout)
    timeout = min(args.timeout, 5.0) if automatic else args.timeout

    def started(report: Any) -> None:
        # The header goes out before the first prompt (flushed: prompts are flushed too).
        if not args.json:
            print(report.header() + ("" if automatic else "; follow the prompts"), flush=True)

    try:
        report = asyncio.run(run_conformance(device, actor, kinds=args.kinds, timeout=timeout, faults=args.faults,
                                             on_start=started))
    except DeviceError as exc:
        print(f"bibkiosk devices test: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.text(header=False))
    return 0 if report.passed else 1
