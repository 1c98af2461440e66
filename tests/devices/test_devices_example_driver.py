"""The example vendor package under examples/: pip-installed (into a temporary target on
sys.path), found through the ``bibkiosk.devices`` entry point, run through the conformance suite."""

from __future__ import annotations

import importlib
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from devices import CardPresented, IdentifierKind, PatronReader, open_device
from devices.conformance import Outcome, Prompt, run_conformance
from devices.registry import schemes

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "bibkiosk-example-driver"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """pip install the example (a copy, so no build files land in the tree) into a target dir."""
    work = tmp_path_factory.mktemp("example-driver")
    src = work / "src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = work / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-input", "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(f"pip could not install the example driver package:\n{proc.stdout}\n{proc.stderr}")
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    yield target
    sys.path.remove(str(target))
    for name in [m for m in sys.modules if m.startswith("bibkiosk_example_driver")]:
        del sys.modules[name]


def test_scheme_registered_by_entry_point(installed):
    info = schemes()["example-tcp"]
    assert info.origin == "bibkiosk-example-driver"
    assert info.target == "bibkiosk_example_driver:TcpCardReader"
    assert isinstance(open_device("example-tcp://127.0.0.1:9"), PatronReader)


def _reader_actor(peer):
    async def actor(prompt: Prompt) -> bool:
        if prompt.action == "tap_card":
            await peer.wait_connected()
            peer.send(f"UID:{prompt.data['identifier']}\r\n".encode())
        elif prompt.action == "unplug":
            await peer.stop()
        elif prompt.action == "replug":
            await peer.start()
        else:
            return prompt.action == "confirm"
        return True

    actor.automatic = True
    return actor


async def test_example_passes_conformance_with_faults(installed, tcp_peer):
    url = f"example-tcp://127.0.0.1:{tcp_peer.port}?repeat=0&retry_initial=0.05&retry_max=0.3"
    report = await run_conformance(url, _reader_actor(tcp_peer), timeout=3.0, faults=True)
    assert report.passed, report.text()
    assert report.outcome_of("device", "declares kinds, options, URL grammar") is Outcome.PASS
    assert report.outcome_of("faults", "works after replug") is Outcome.PASS


async def test_example_noise_and_repeat(installed, tcp_peer, caplog):
    async with open_device(f"example-tcp://127.0.0.1:{tcp_peer.port}?repeat=5") as dev:
        evs = dev.events(CardPresented)
        await tcp_peer.wait_connected()
        tcp_peer.send(b"\xff\xfe garbage\r\nUID:zz\r\nUID:04a1b2c3d4\r\nUID:04A1B2C3D4\r\n")
        ev = await evs.get(2)
        assert ev.identifier == "04A1B2C3D4" and ev.kind is IdentifierKind.UID
        tcp_peer.send(b"UID:0000000001\r\n")
        assert (await evs.get(2)).identifier == "0000000001"  # the repeat was swallowed
    assert sum("ignored" in r.getMessage() for r in caplog.records) == 2


def test_cli_lists_and_tests_the_vendor_scheme(installed):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), str(ROOT)])}
    out = subprocess.run([sys.executable, "-m", "kiosk", "devices", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "example-tcp://" in out.stdout and "[bibkiosk-example-driver]" in out.stdout
    # No reader listening: the kit reports the failed open, exit 1.
    res = subprocess.run([sys.executable, "-m", "kiosk", "devices", "test", "example-tcp://127.0.0.1:9", "--yes", "--timeout", "1"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 1 and "FAIL  device    open" in res.stdout


async def test_card_again_waits_out_the_drivers_duplicate_window(installed, tcp_peer):
    """The reader ignores the same card for ``repeat`` s: the "again" check waits that out (and says so)
    instead of failing when the card comes back at once (as an automatic actor brings it)."""
    prompts: list[Prompt] = []
    actor = _reader_actor(tcp_peer)

    async def recording(prompt: Prompt) -> bool:
        prompts.append(prompt)
        return await actor(prompt)

    recording.automatic = True
    url = f"example-tcp://127.0.0.1:{tcp_peer.port}?repeat=1.0&retry_initial=0.05"
    report = await run_conformance(url, recording, kinds=["patron"], timeout=2.0)
    assert report.outcome_of("patron", "card presented again") is Outcome.PASS, report.text()
    again = [p for p in prompts if p.action == "tap_card"][1]
    assert "wait 1 s" in again.text and again.data["wait_seconds"] == 1.0


async def test_conformance_run_leaves_no_unretrieved_task_exception(installed, tcp_peer):
    """A whole run (with unplug / replug and the final close) logs no "Task exception was never
    retrieved ... DeviceDisconnected" (ReconnectingDevice.close() collects the session's error)."""
    import asyncio
    import gc

    reported: list[dict] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        url = f"example-tcp://127.0.0.1:{tcp_peer.port}?repeat=0&retry_initial=0.05&retry_max=0.3"
        report = await run_conformance(url, _reader_actor(tcp_peer), timeout=3.0, faults=True)
        assert report.passed, report.text()
        for _ in range(5):
            await asyncio.sleep(0)
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert [c.get("message") for c in reported] == []
