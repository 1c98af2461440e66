"""Shared fixtures for tests/devices.

* :class:`PtyPeer` / ``pty_peer``: a real pty pair whose slave is reached
  through a stable symlink (like a udev name); ``unplug()`` closes it (the
  driver's reads fail as on a USB unplug), ``replug()`` makes a new pty
  behind the same symlink.
* ``free_port``: a free TCP port on 127.0.0.1.
* Fixtures of the PC/SC / RFID / OSDP engineer live in their own modules
  ``tests/devices/conftest_*.py``; every fixture found there is re-exported
  here so that all device tests can use them.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import pty
import select
import socket
import termios
import time
import tty

import pytest

# Re-export fixtures from tests/devices/conftest_*.py (other engineers' modules).
for _path in sorted(pathlib.Path(__file__).parent.glob("conftest_*.py")):
    _mod = importlib.import_module(f"{__package__}.{_path.stem}" if __package__ else _path.stem)
    for _name in getattr(_mod, "__all__", [n for n in dir(_mod) if not n.startswith("_")]):
        globals().setdefault(_name, getattr(_mod, _name))


class PtyPeer:
    """The far end of a serial line: a real pty pair behind a symlink."""

    def __init__(self, link: pathlib.Path) -> None:
        self.link = pathlib.Path(link)
        self.master: int | None = None
        self.slave: int | None = None
        self.plug()

    @property
    def path(self) -> str:
        return str(self.link)

    def plug(self) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave, termios.TCSANOW)
        self.master, self.slave = master, slave
        tmp = self.link.with_name(self.link.name + ".new")
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.link)

    replug = plug

    def unplug(self) -> None:
        for fd in (self.master, self.slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = None
        if self.link.is_symlink():
            self.link.unlink()

    def write(self, data: bytes) -> None:
        assert self.master is not None, "unplugged"
        os.write(self.master, data)

    def read(self, size: int, timeout: float = 2.0) -> bytes:
        """Read exactly *size* bytes (or fewer at timeout)."""
        assert self.master is not None, "unplugged"
        out = b""
        deadline = time.monotonic() + timeout
        while len(out) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    out += os.read(self.master, size - len(out))
                except OSError:
                    break
        return out

    async def aread(self, size: int, timeout: float = 2.0) -> bytes:
        """:meth:`read` in a thread, so the event loop keeps running meanwhile."""
        import asyncio

        return await asyncio.to_thread(self.read, size, timeout)

    def drain(self, timeout: float = 0.05) -> bytes:
        out = b""
        while self.master is not None:
            ready, _, _ = select.select([self.master], [], [], timeout)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        return out

    def close(self) -> None:
        self.unplug()


class TcpPeer:
    """The far end of a TCP device (printer, network reader): an asyncio server on
    127.0.0.1 in the test's loop.  Records what it receives; ``send()`` writes to
    every client; ``stop()`` closes it and its connections ("unplug"),
    ``start()`` listens again on the same port ("replug")."""

    def __init__(self) -> None:
        import asyncio

        self.received = bytearray()
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list = []

    async def start(self) -> None:
        import asyncio

        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while chunk := await reader.read(65536):
                self.received += chunk
        except OSError:
            pass

    async def wait_connected(self, count: int = 1, timeout: float = 3.0) -> None:
        import asyncio

        for _ in range(int(timeout / 0.01)):
            if len(self._writers) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("no client connected")

    def send(self, data: bytes) -> None:
        for writer in self._writers:
            writer.write(data)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()


@pytest.fixture
async def tcp_peer():
    peer = TcpPeer()
    await peer.start()
    yield peer
    await peer.stop()


@pytest.fixture
def pty_peer(tmp_path):
    peer = PtyPeer(tmp_path / "ttyTEST0")
    yield peer
    peer.close()


@pytest.fixture
def pty_factory(tmp_path):
    peers: list[PtyPeer] = []

    def make(name: str = "ttyTEST") -> PtyPeer:
        peer = PtyPeer(tmp_path / f"{name}{len(peers)}")
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
