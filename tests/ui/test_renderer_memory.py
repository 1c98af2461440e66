"""The kiosk's process memory under a software renderer (issue 16, memory).

Rendered for real (Mesa llvmpipe, SDL's offscreen driver) in a child
process, so that the heap figures are the kiosk window's own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from kiosk import heap

FRAMES_CHILD = textwrap.dedent("""
    import asyncio, ctypes, os
    from kiosk.ui.runner import configure_kivy, make_app
    configure_kivy()

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                    "fsmblks", "uordblks", "fordblks", "keepcost")]
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2

    def used_mb():
        info = libc.mallinfo2()
        return (info.uordblks + info.hblkhd) / 2**20

    async def main():
        app = make_app(None, sounds=False)
        ui = asyncio.create_task(app.async_run(async_lib="asyncio"))
        while getattr(app, "kroot", None) is None:
            await asyncio.sleep(0.01)
        from kivy.core.window import Window
        from kivy.graphics import Color, Rectangle
        with app.kroot.canvas.after:
            Color(1, 0, 0, 1)
            box = Rectangle(pos=(10, 10), size=(20, 20))

        async def frame():
            done = asyncio.get_running_loop().create_future()
            def flipped(*_a):
                if not done.done():
                    done.set_result(None)
            Window.bind(on_flip=flipped)
            Window.canvas.ask_update()
            await asyncio.wait_for(done, 10)
            Window.unbind(on_flip=flipped)

        for n in range(20):
            box.pos = (10 + n % 2, 10)
            await frame()
        before = used_mb()
        for n in range(150):
            box.pos = (10 + n % 2, 10)
            await frame()
        print("grew", round(used_mb() - before, 2), flush=True)
        app.stop()
        await ui

    asyncio.run(main())
""")


def test_frames_on_an_offscreen_window_are_not_kept_with_finish_frames():
    """A swap on SDL's offscreen surface (an EGL pbuffer) hands nothing to
    llvmpipe, which then bins every frame into the same scene (64 KiB
    blocks each, up to 36 MB per scene): 150 frames of the kiosk kept
    ~70 MB.  By default (BIBKIOSK_FINISH_FRAMES unset) each frame is finished."""
    env = {k: v for k, v in os.environ.items() if k != "BIBKIOSK_FINISH_FRAMES"}
    env |= {"SDL_VIDEODRIVER": "offscreen", "SDL_AUDIODRIVER": "dummy", "KIVY_NO_CONSOLELOG": "1",
            "KIVY_NO_ARGS": "1"}
    out = subprocess.run([sys.executable, "-c", FRAMES_CHILD], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    grew = float(out.stdout.split("grew")[-1])
    assert grew < 3.0, out.stdout


def test_the_lowest_mmap_threshold_asked_for_holds(monkeypatch):
    """The kiosk UI asks for 64 KiB (the renderer's blocks), the patron
    store for 1 MiB (scrypt's buffer): whichever asks last must not undo
    the other's."""
    calls = []

    class Libc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

    monkeypatch.setattr(heap, "_libc", lambda: Libc())
    monkeypatch.setattr(heap, "_threshold", None)
    assert heap.map_blocks_from(64 * 1024) == 64 * 1024
    assert heap.map_blocks_from(1 << 20) == 64 * 1024
    assert heap.map_blocks_from(32 * 1024) == 32 * 1024
    assert calls == [(-3, 64 * 1024), (-3, 32 * 1024)]
