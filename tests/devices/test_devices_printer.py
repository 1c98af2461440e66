"""ESC/POS printer: bytes asserted with python-escpos Dummy, then file, TCP and pty transports."""

from __future__ import annotations

import asyncio
import os

import pytest
from escpos.printer import Dummy

from devices import DeviceEvent, DeviceNotFound, DeviceUrlError, ReceiptPrinter, open_device
from devices.conformance import Outcome, Prompt, run_conformance
from devices.errors import DeviceDisconnected
from devices.printer import EscposPrinter, find_usblp, render_receipt

INIT, CUT_PART, CUT_FULL = b"\x1b@", b"\x1dVB\x00", b"\x1dVA\x00"


def test_render_bytes_with_dummy():
    d = Dummy(profile="TM-T88V")
    out = render_receipt(["Bib", "Ontleend: 2"], "3000000000017", True, printer=d)
    assert out == d.output
    assert out.startswith(INIT + b"\x1ba\x00")  # init, align left
    assert b"Bib\nOntleend: 2\n" in out
    # CODE128, code set B, centred, height 64, width 2, text below
    assert b"\x1ba\x01" in out and b"\x1dh\x40" in out and b"\x1dw\x02" in out
    assert b"\x1dkI\x0f{B3000000000017" in out
    assert out.endswith(b"\n\n\n\n" + CUT_PART)


def test_render_accents_use_code_pages():
    out = render_receipt(["Emprunté"], None, False)
    assert out == INIT + b"\x1ba\x00\x1bt\x00Emprunt\x82\n"  # CP437: é = 0x82
    assert not out.endswith(CUT_PART)


def test_render_full_cut_no_feed_and_qr():
    out = render_receipt(["x"], "abc", True, feed=0, cut_mode="full", barcode_kind="qr")
    assert out.endswith(CUT_FULL) and b"\x1d(k" in out


def test_render_refuses_bad_input_and_strips_control_bytes():
    with pytest.raises(ValueError):
        render_receipt(["x"], "bad\x1bcode")
    with pytest.raises(ValueError):
        render_receipt(["x"] * 201)
    out = render_receipt(["a\x1b@\x1dVA"], None, False)
    assert out.count(b"\x1b@") == 1 and CUT_FULL not in out


def test_options_and_urls():
    assert isinstance(open_device("escpos+net://192.0.2.1"), ReceiptPrinter)
    assert open_device("escpos+net://192.0.2.1")._net == ("192.0.2.1", 9100)
    for bad in ["escpos+net://host:99999", "escpos+usb://zz", "escpos+file://", "escpos+file:///x?profile=NoSuch",
                "escpos+file:///x?cut_mode=half", "escpos+lpt:///x"]:
        with pytest.raises(DeviceUrlError):
            open_device(bad)


def test_find_usblp_in_sysfs(tmp_path):
    # A sysfs-shaped tree: /sys/class/usbmisc/lp0/device -> .../1-1/1-1:1.0
    usbdev = tmp_path / "devices" / "1-1"
    iface = usbdev / "1-1:1.0"
    iface.mkdir(parents=True)
    (usbdev / "idVendor").write_text("0416\n")
    (usbdev / "idProduct").write_text("5011\n")
    lp = tmp_path / "usbmisc" / "lp0"
    lp.mkdir(parents=True)
    os.symlink(iface, lp / "device")
    assert find_usblp(0x0416, 0x5011, sysfs=str(tmp_path / "usbmisc"), dev="/dev/usb") == "/dev/usb/lp0"
    with pytest.raises(DeviceNotFound):
        find_usblp(0x04B8, 0x0202, sysfs=str(tmp_path / "usbmisc"))


async def test_usb_without_printer_is_not_found():
    with pytest.raises(DeviceNotFound):
        await open_device("escpos+usb://04b8:0e15").open()


async def test_file_transport_conformance(tmp_path):
    path = tmp_path / "receipts.bin"
    url = f"escpos+file://{path}"
    report = await run_conformance(url, _confirming_actor(), timeout=3.0)
    assert report.passed, report.text()
    data = path.read_bytes()
    assert data.count(INIT) == 2 and b"{B3000000000017" in data  # two receipts, appended
    dev = open_device(url)
    expected = dev.render(["one"], "42", True)
    async with dev:
        await dev.print_receipt(["one"], "42")
    assert path.read_bytes().endswith(expected)


def _confirming_actor(unplug=None, replug=None):
    async def actor(prompt: Prompt) -> bool:
        if prompt.action == "confirm":
            return True
        if prompt.action == "unplug" and unplug:
            await unplug()
            return True
        if prompt.action == "replug" and replug:
            await replug()
            return True
        return False

    actor.automatic = True
    return actor


@pytest.fixture
async def tcp_printer(tcp_peer):
    return tcp_peer


async def test_net_conformance_with_faults(tcp_printer):
    url = f"escpos+net://127.0.0.1:{tcp_printer.port}?retry_initial=0.05&retry_max=0.3"
    report = await run_conformance(url, _confirming_actor(tcp_printer.stop, tcp_printer.start), timeout=3.0, faults=True)
    assert report.passed, report.text()
    assert report.outcome_of("faults", "works after replug") is Outcome.PASS
    assert bytes(tcp_printer.received).count(b"{B3000000000017") == 1


async def test_net_lost_raises_and_recovers(tcp_printer):
    dev = open_device(f"escpos+net://127.0.0.1:{tcp_printer.port}?retry_initial=0.05&retry_max=0.2")
    async with dev:
        evs = dev.events(DeviceEvent)
        while not tcp_printer.connections:
            await asyncio.sleep(0.01)
        await tcp_printer.stop()
        assert (await evs.get(2)).kind == "lost"
        with pytest.raises(DeviceDisconnected):
            await dev.print_receipt(["x"])
        await asyncio.sleep(0.5)
        assert evs.pending() == 0
        await tcp_printer.start()
        assert (await evs.get(3)).kind == "back"
        await dev.print_receipt(["after"])
        for _ in range(50):
            if b"after" in tcp_printer.received:
                break
            await asyncio.sleep(0.02)
        assert b"after\n" in tcp_printer.received


async def test_net_refused_is_not_found(free_port):
    with pytest.raises(DeviceNotFound):
        await open_device(f"escpos+net://127.0.0.1:{free_port}").open()


async def test_serial_transport_over_pty(pty_peer):
    dev = open_device(f"escpos+serial://{pty_peer.path}?baudrate=115200&feed=0")
    assert isinstance(dev, EscposPrinter)
    expected = dev.render(["serial"], None, True)
    async with dev:
        await dev.print_receipt(["serial"])
        assert await pty_peer.aread(len(expected)) == expected
