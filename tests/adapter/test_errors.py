"""The adapter's errors: link down, login refused, garbage from the peer, a
request SIP2 cannot carry."""

from __future__ import annotations

import asyncio
import socket

import pytest
from pydantic import SecretStr

from kiosk.adapter import (
    LibrarySystemError,
    LibrarySystemLoginRefused,
    LibrarySystemProtocolError,
    LibrarySystemRequestError,
    LibrarySystemUnavailable,
    Sip2LibrarySystem,
)
from kiosk.door.library import is_unavailable
from kiosk.sip2.client import ClientSettings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(port: int, **kw) -> ClientSettings:
    base = dict(port=port, keepalive_seconds=None, timeout=1.0, connect_timeout=1.0, retries=1, backoff_initial=0.01)
    base.update(kw)
    return ClientSettings(**base)


async def test_unreachable_is_unavailable():
    system = Sip2LibrarySystem(_settings(_free_port()))
    with pytest.raises(LibrarySystemUnavailable) as info:
        await system.identify("29999000000010")
    assert is_unavailable(info.value)  # the door's classification agrees
    await system.close()


async def test_garbage_peer_is_a_protocol_error_or_unavailable():
    async def garbage(reader, writer):
        while await reader.read(1024):
            writer.write(b"64garbage that is not a patron information response at all\r")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    system = Sip2LibrarySystem(_settings(port))
    with pytest.raises(LibrarySystemError) as info:
        await system.identify("29999000000010")
    assert isinstance(info.value, (LibrarySystemProtocolError, LibrarySystemUnavailable))
    await system.close()
    server.close()
    await server.wait_closed()


async def test_login_refused_and_bad_request(tmp_path):
    from kiosk.library.datafile import load_data
    from kiosk.library.server import LibraryServer
    from kiosk.library.store import Store

    store = Store.create(tmp_path / "s.sqlite", load_data("demo"))
    async with LibraryServer(store) as server:
        port = await server.start()
        refused = Sip2LibrarySystem(_settings(port, user="kiosk1", password=SecretStr("nope")))
        with pytest.raises(LibrarySystemLoginRefused):
            await refused.start()
        await refused.close()
        good = Sip2LibrarySystem(_settings(port, user="kiosk1", password=SecretStr("kiosk1"), timeout=5))
        with pytest.raises(LibrarySystemRequestError):
            await good.checkout("29999000000010", "3000|0000")
        assert (await good.identify("29999000000010")).known  # the connection still works
        await good.close()
    store.close()
