"""A real pcscd with the vsmartcard-vpcd virtual readers, for the PC/SC tests.

Import the fixtures into a test module (pytest_plugins is only allowed in the
root conftest)::

    from tests.devices.conftest_pcsc import pcscd, patron_slot, item_slot  # noqa: F401

``pcscd`` (session) starts Debian's ``/usr/sbin/pcscd --foreground --apdu -c
DIR`` with a copy of ``/etc/reader.conf.d/vpcd`` in a temporary DIR, waits
for ``/run/pcscd/pcscd.comm`` and both ``Virtual PCD`` readers, and stops it
by its PID at the end.  One pcscd runs per machine: a pcscd left over by an
earlier run of these tests (its PID is in :data:`PID_FILE`) is stopped
first; a pcscd started by someone else is reused when it has the vpcd readers
(then :meth:`Pcscd.restart` refuses: it is not ours to stop).  A missing
pcscd, vpcd or root is a test FAILURE, never a skip.

``patron_slot`` / ``item_slot`` are :class:`VpcdEmulator` on ``Virtual PCD 00
00`` (port 35963) and ``Virtual PCD 00 01`` (port 35964); the card is taken
out after each test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.devices.pcsc_emulator import READER_NAMES, VPCD_PORTS, VpcdEmulator

__all__ = ["Pcscd", "pcscd", "patron_slot", "item_slot", "PID_FILE"]

PCSCD = "/usr/sbin/pcscd"
VPCD_CONF = "/etc/reader.conf.d/vpcd"
COMM = Path("/run/pcscd/pcscd.comm")
PID_FILE = Path(tempfile.gettempdir()) / "bibkiosk-test-pcscd.pid"


def _pcscd_pids() -> list[int]:
    """Live (not zombie) pcscd processes on this machine."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "pcscd":
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            pids.append(int(entry.name))
    return pids


def _alive(pid: int) -> bool:
    return pid in _pcscd_pids()


def _readers() -> list[str]:
    from smartcard.scard import (
        SCARD_SCOPE_USER,
        SCardEstablishContext,
        SCardListReaders,
        SCardReleaseContext,
    )

    code, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
    if code != 0:
        return []
    try:
        code, names = SCardListReaders(ctx, [])
        return list(names) if code == 0 else []
    finally:
        SCardReleaseContext(ctx)


class Pcscd:
    """The pcscd process the PC/SC tests run against."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.confdir = workdir / "reader.conf.d"
        self.log_path = workdir / "pcscd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.owned = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def check_installed(self) -> None:
        problems = []
        if not os.access(PCSCD, os.X_OK):
            problems.append(f"{PCSCD} missing (apt-get install pcscd)")
        if not os.path.exists(VPCD_CONF):
            problems.append(f"{VPCD_CONF} missing (apt-get install vsmartcard-vpcd)")
        if os.geteuid() != 0:
            problems.append("pcscd needs root (run the tests as root, as CI does)")
        try:
            import smartcard  # noqa: F401
        except ImportError:
            problems.append("pyscard missing (pip install 'bibkiosk[pcsc]', needs libpcsclite-dev and swig)")
        if problems:
            pytest.fail("PC/SC test stack not available: " + "; ".join(problems), pytrace=False)

    def start(self) -> None:
        self.check_installed()
        self._stop_leftover()
        running = _pcscd_pids()
        if running:
            if all(name in _readers() for name in READER_NAMES):
                self.owned = False  # someone else's pcscd with vpcd: use it, never stop it
                return
            pytest.fail(
                f"a pcscd (pid {running[0]}) not started by these tests is running without the vpcd "
                "readers; stop it first (one pcscd per machine)",
                pytrace=False,
            )
        self.confdir.mkdir(parents=True, exist_ok=True)
        shutil.copy(VPCD_CONF, self.confdir / "vpcd")
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            [PCSCD, "--foreground", "--apdu", "-c", str(self.confdir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.owned = True
        PID_FILE.write_text(str(self.proc.pid))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"pcscd exited with {self.proc.returncode}:\n{self.log_tail()}", pytrace=False)
            if COMM.exists() and all(name in _readers() for name in READER_NAMES):
                return
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"pcscd did not show the vpcd readers within 15 s:\n{self.log_tail()}", pytrace=False)

    def _stop_leftover(self) -> None:
        """Stop a pcscd an earlier (crashed) run of these tests left behind - by its PID."""
        try:
            pid = int(PID_FILE.read_text().strip())
        except (OSError, ValueError):
            return
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        PID_FILE.unlink(missing_ok=True)
        deadline = time.monotonic() + 5
        while COMM.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        PID_FILE.unlink(missing_ok=True)
        deadline = time.monotonic() + 5
        while COMM.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self, pause: float = 0.0) -> None:
        """Stop and start again (every reader vanishes, then comes back)."""
        if not self.owned:
            pytest.fail("the running pcscd was not started by these tests: cannot restart it", pytrace=False)
        self.stop()
        if pause:
            time.sleep(pause)
        self.start()

    def ensure_running(self) -> None:
        """Before each test: our pcscd is alive and shows the vpcd readers (else start it again).

        A test that failed between "unplug" and "replug" leaves pcscd stopped;
        the next test must not inherit that.
        """
        if not self.owned:
            return
        healthy = self.proc is not None and self.proc.poll() is None and all(name in _readers() for name in READER_NAMES)
        if not healthy:
            self.stop()
            self.start()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


_INSTANCE: Pcscd | None = None
_USERS = 0


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory):
    """The running pcscd (started once per test process, stopped by PID at the end)."""
    # Imported into several modules, this fixture may be set up once per module
    # definition; the process itself is shared and reference counted.
    global _INSTANCE, _USERS
    if _INSTANCE is None:
        instance = Pcscd(tmp_path_factory.mktemp("pcscd"))
        instance.start()
        _INSTANCE = instance
    _USERS += 1
    try:
        yield _INSTANCE
    finally:
        _USERS -= 1
        if _USERS == 0 and _INSTANCE is not None:
            _INSTANCE.stop()
            _INSTANCE = None


@pytest.fixture
def patron_slot(pcscd: Pcscd):
    """The card emulator on ``Virtual PCD 00 00``."""
    pcscd.ensure_running()
    emulator = VpcdEmulator(VPCD_PORTS[0])
    yield emulator
    emulator.remove()


@pytest.fixture
def item_slot(pcscd: Pcscd):
    """The card emulator on ``Virtual PCD 00 01``."""
    pcscd.ensure_running()
    emulator = VpcdEmulator(VPCD_PORTS[1])
    yield emulator
    emulator.remove()
