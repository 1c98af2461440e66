"""The kiosk's process memory under a software renderer (issue 16, memory).

Rendered for real (Mesa llvmpipe, SDL's offscreen driver) in a child
process, so that the heap figures are the kiosk window's own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from kiosk import heap

#: Shared by the child scripts: start the kiosk app (no flows) and wait for drawn frames.
APP_CHILD = textwrap.dedent("""
    import asyncio
    from kiosk.ui.runner import configure_kivy, make_app
    configure_kivy()

    async def start_app():
        app = make_app(None, sounds=False)
        ui = asyncio.create_task(app.async_run(async_lib="asyncio"))
        while getattr(app, "kroot", None) is None:
            await asyncio.sleep(0.01)
        return app, ui

    async def frame():
        from kivy.core.window import Window
        done = asyncio.get_running_loop().create_future()
        def flipped(*_a):
            if not done.done():
                done.set_result(None)
        Window.bind(on_flip=flipped)
        Window.canvas.ask_update()
        await asyncio.wait_for(done, 10)
        Window.unbind(on_flip=flipped)
""")

FRAMES_CHILD = APP_CHILD + textwrap.dedent("""
    import ctypes, os

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                    "fsmblks", "uordblks", "fordblks", "keepcost")]
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2

    def used_mb():
        info = libc.mallinfo2()
        return (info.uordblks + info.hblkhd) / 2**20

    async def main():
        app, ui = await start_app()
        from kivy.graphics import Color, Rectangle
        with app.kroot.canvas.after:
            Color(1, 0, 0, 1)
            box = Rectangle(pos=(10, 10), size=(20, 20))

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


LAST_FRAME_CHILD = APP_CHILD + textwrap.dedent("""

    def anon_mb():
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024

    async def main():
        app, ui = await start_app()
        from kivy.graphics import Color, Rectangle
        from kiosk.ui.runner import release_frame_memory

        app.kroot._release_timer.cancel()  # the kiosk's own release at rest: this test calls it itself
        app.kroot._release_frame_timer.cancel()
        with app.kroot.canvas.after:
            for n in range(200):  # a busy screen: 200 draws, each its own colour
                Color(n / 200, 0, 0, 1)
                Rectangle(pos=(n * 5 % 1200, n), size=(20, 20))
        for _ in range(3):
            await frame()
        await asyncio.sleep(0.2)
        drawn = anon_mb()
        for n in range(3):  # at rest, again and again: each time the last frame's memory goes
            release_frame_memory()
            if n == 0:
                released = anon_mb()
            await frame()  # the next patron's frame bins anew
        again = anon_mb()
        release_frame_memory()
        print("drawn", round(drawn, 1), "released", round(released, 1), "again", round(again, 1),
              "released_again", round(anon_mb(), 1), flush=True)
        app.stop()
        await ui

    asyncio.run(main())
""")


def test_at_rest_the_renderer_lets_go_of_the_last_frame():
    """llvmpipe keeps the scene it binned the last frame in until it starts
    the next one; at rest no next frame comes.  release_frame_memory (the
    kiosk calls it at rest) starts a one-pixel offscreen one: a 200-draw
    frame held 1-2 MB here (the idle screen's ~40 blocks of 64 KiB in
    bench/kiosk.py), and each time, not only the first (an Fbo draws only
    when asked to)."""
    env = os.environ | {"SDL_VIDEODRIVER": "offscreen", "SDL_AUDIODRIVER": "dummy", "KIVY_NO_CONSOLELOG": "1",
                        "KIVY_NO_ARGS": "1"}
    out = subprocess.run([sys.executable, "-c", LAST_FRAME_CHILD], capture_output=True, text=True, timeout=180,
                         env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    fields = out.stdout.split()
    figures = {fields[i]: float(fields[i + 1]) for i in range(fields.index("drawn"), len(fields) - 1, 2)}
    assert figures["drawn"] - figures["released"] > 0.5, out.stdout
    assert figures["again"] - figures["released_again"] > 0.5, out.stdout
