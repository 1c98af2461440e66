"""ReconnectingDevice.close(): the session's error (the disconnect made it
end) is collected, not logged by asyncio as "Task exception was never
retrieved" (every vendor-kit conformance run printed it)."""

from __future__ import annotations

import asyncio
import gc

from devices.base import PatronReader, ReconnectingDevice
from devices.errors import DeviceDisconnected


class _Dropping(ReconnectingDevice, PatronReader):
    SCHEME = "test-dropping"

    async def _connect(self) -> None:
        self._gone = asyncio.Event()

    async def _session(self) -> None:
        await self._gone.wait()
        raise DeviceDisconnected(f"{self.label}: the port closed under the reader")

    async def _disconnect(self) -> None:
        if getattr(self, "_gone", None) is not None:
            self._gone.set()


def test_close_collects_the_session_error():
    reported: list[dict] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: reported.append(ctx))
        for _ in range(3):
            device = _Dropping("test-dropping://x")
            await device.open()
            await asyncio.sleep(0)
            await device.close()
        for _ in range(5):
            await asyncio.sleep(0)
        gc.collect()
        await asyncio.sleep(0)

    asyncio.run(main())
    gc.collect()
    assert [c.get("message") for c in reported] == []
