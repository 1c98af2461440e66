"""Run the kiosk UI: Kivy on the asyncio loop (``App.async_run``), one loop
for Kivy, the flows, the devices and the SIP2 client."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("kiosk.ui")


def configure_kivy(*, width: int = 1280, height: int = 800, fullscreen: bool = False,
                   log_level: int = logging.WARNING) -> None:
    """Kivy settings that must be made before kivy.core.window is imported."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    # Kivy logs through Python's logging as configured by the bibkiosk
    # command, and leaves stderr alone.
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    software_renderer_memory()
    kivy_logger = logging.getLogger("kivy")
    kivy_logger.setLevel(log_level)
    # Kivy sets its logger's level from its own config file at import: filter instead.
    kivy_logger.addFilter(lambda record: record.levelno >= log_level)
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "resizable", "1")
    # No multisampling: on a software renderer (llvmpipe) 2x MSAA costs about
    # 30 MB of framebuffers at 1280x800; rounded shapes are antialiased by
    # their texture instead (widgets.RoundedBox), text by its font renderer.
    Config.set("graphics", "multisamples", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "log_level", "warning")
    from kivy.logger import Logger

    Logger.setLevel(log_level)
    logging.getLogger().setLevel(log_level)  # Kivy's logger sits on the root logger


#: glibc maps blocks of this size and more on their own (kiosk.heap), so
#: big buffers (label pixels, the renderer's 64 KiB scene blocks) go back to
#: the OS when freed instead of fragmenting the heap.
MAP_BLOCKS_FROM = 64 * 1024


def software_renderer_memory() -> None:
    """Process settings for a software renderer's memory (see finish_frames)."""
    from kiosk import heap

    heap.map_blocks_from(MAP_BLOCKS_FROM)


#: ``BIBKIOSK_FINISH_FRAMES=0`` turns off finishing every frame at its swap (see finish_frames).
FINISH_FRAMES_ENV = "BIBKIOSK_FINISH_FRAMES"


def finishing_frames() -> bool:
    """Whether frames are finished at the swap: on unless ``BIBKIOSK_FINISH_FRAMES=0``."""
    return os.environ.get(FINISH_FRAMES_ENV, "1") != "0"


def finish_frames(*_a: Any) -> None:
    """Have the renderer draw the frame just swapped (``glFinish``).

    A swap normally does that; on a surface that is never shown (SDL's
    offscreen driver: an EGL pbuffer, where a swap does nothing) Mesa
    llvmpipe instead keeps binning frame after frame into the same scene,
    64 KiB blocks each, until the scene reaches its 36 MB limit, one such
    scene per rasteriser thread: measured in bench/kiosk.py, +70 MB held
    after a few sessions, flat with a finish after every frame.  It is on
    by default: on a quiet machine the patron steps are faster with it
    (PIN -> menu p95 75 ms against 165 ms without: the deferred frames were
    drawn all at once at the next texture change), although on a heavily
    loaded 2-core machine the UI thread then waits for every frame.
    ``BIBKIOSK_FINISH_FRAMES=0`` turns it off (a kiosk on a real display
    flushes at each swap anyway).  Finishing once at rest does not free
    the blocks."""
    from kivy.graphics.opengl import glFinish

    glFinish()


_frame_release_fbo: Any = None


def release_frame_memory() -> None:
    """Have the software renderer let go of what it binned the last frame in.

    Mesa llvmpipe keeps a frame's binned commands and state (64 KiB blocks,
    ~40 of them for the idle screen's ~120 draws) until it starts its next
    scene; on a kiosk at rest no next frame comes, so the memory of the
    screen last drawn stays held.  A one-pixel offscreen clear starts a new,
    tiny scene (the old one's blocks are freed as it is reused), and the
    finish has it drawn.  Cheap; the window's own frame is not touched.
    bench/kiosk.py: -2 MB at rest (bench/RESULTS.md, session 7)."""
    global _frame_release_fbo
    from kivy.graphics import ClearBuffers, ClearColor, Fbo
    from kivy.graphics.opengl import glFinish

    if _frame_release_fbo is None:
        _frame_release_fbo = Fbo(size=(1, 1))
        with _frame_release_fbo:
            ClearColor(0, 0, 0, 0)
            ClearBuffers()
    _frame_release_fbo.ask_update()  # an Fbo draws only when asked to
    _frame_release_fbo.draw()
    glFinish()


def make_app(flows: Any, *, title: Any = None, sounds: bool = True, panel_factory: Callable[[Any], Any] | None = None):
    """The Kivy App around *flows* (import Kivy lazily: after configure_kivy)."""
    from kivy.app import App
    from kivy.core.window import Window

    from .app import KioskRoot
    from .audio import CuePlayer

    class KioskApp(App):
        title = "bibkiosk"

        def load_kv(self, filename=None):  # noqa: ANN001, ANN202
            return None  # kiosk.kv is loaded once by kiosk.ui.app, not by name

        first_frame_at: float | None = None
        #: Called once, with the time, when the first frame is on screen.
        first_frame_hook: Callable[[float], None] | None = None

        def build(self):  # noqa: ANN202
            if finishing_frames():
                Window.bind(on_flip=finish_frames)
            Window.bind(on_flip=self._flipped)
            self.kroot = KioskRoot(flows, title=title, cues=CuePlayer(enabled=sounds))
            self.panel = panel_factory(self.kroot) if panel_factory else None
            Window.bind(on_key_down=self._on_key)
            Window.clearcolor = (0.96, 0.96, 0.94, 1)
            return self.kroot

        def _flipped(self, *_a: Any) -> None:
            import time

            self.first_frame_at = time.perf_counter()
            Window.unbind(on_flip=self._flipped)
            if self.first_frame_hook is not None:
                self.first_frame_hook(self.first_frame_at)

        def _on_key(self, _window, key: int, _scancode: int, _codepoint: str, _modifiers: list) -> bool:
            # F2 / F12 toggles the simulator panel (demo only)
            if key in (283, 293) and self.panel is not None:
                self.panel.toggle()
                return True
            return False

    return KioskApp()


async def first_frame(app: Any = None, timeout: float = 10.0) -> float:
    """Wait until *app* has drawn its first frame (or, without an app, the
    next frame); returns time.perf_counter() of that frame."""
    import time

    from kivy.core.window import Window

    deadline = time.perf_counter() + timeout
    if app is not None:
        while getattr(app, "first_frame_at", None) is None:
            if time.perf_counter() > deadline:
                raise TimeoutError("no frame drawn")
            Window.canvas.ask_update()
            await asyncio.sleep(0.005)
        return app.first_frame_at
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()

    def flipped(*_a: Any) -> None:
        if not done.done():
            done.set_result(time.perf_counter())

    Window.bind(on_flip=flipped)
    Window.canvas.ask_update()
    try:
        return await asyncio.wait_for(done, timeout)
    finally:
        Window.unbind(on_flip=flipped)


async def screenshot(path: str, timeout: float = 10.0) -> str:
    """Save the next drawn frame to *path* (PNG)."""
    from kivy.core.window import Window

    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()
    base, _ext = os.path.splitext(path)

    def flipped(*_a: Any) -> None:
        if done.done():
            return
        written = Window.screenshot(name=base + ".png")
        done.set_result(written)

    Window.bind(on_flip=flipped)
    Window.canvas.ask_update()
    try:
        written = await asyncio.wait_for(done, timeout)
    finally:
        Window.unbind(on_flip=flipped)
    # Kivy appends a counter (x0001.png): move it to the name asked for.
    if written and written != base + ".png" and os.path.exists(written):
        os.replace(written, base + ".png")
    return base + ".png"


async def run_ui(flows: Any, *, title: Any = None, sounds: bool = True,
                 panel_factory: Callable[[Any], Any] | None = None,
                 scenario: Callable[[Any], Awaitable[None]] | None = None) -> None:
    """Run the UI and the flows on this loop until the window closes (or
    *scenario(app)* returns, then stop)."""
    from kiosk.notify import Notifier, watchdog_loop

    app = make_app(flows, title=title, sounds=sounds, panel_factory=panel_factory)
    ui = asyncio.create_task(app.async_run(async_lib="asyncio"), name="kivy")
    notifier = Notifier()
    pings: asyncio.Task | None = None

    def drawn(_at: float) -> None:
        # systemd: ready once the patron can see the kiosk; then watchdog
        # pings from the loop that runs Kivy (a hung UI stops them).
        nonlocal pings
        notifier.ready("kiosk ready")
        if notifier.ping_interval():
            pings = asyncio.get_running_loop().create_task(watchdog_loop(notifier), name="watchdog")

    if notifier.enabled:
        app.first_frame_hook = drawn
    await flows.start()
    try:
        if scenario is not None:
            while getattr(app, "kroot", None) is None:
                await asyncio.sleep(0.01)
            await scenario(app)
            app.stop()
        await ui
    finally:
        if pings is not None:
            pings.cancel()
        notifier.stopping()
        if not ui.done():
            app.stop()
            await asyncio.gather(ui, return_exceptions=True)
        await flows.close()
        notifier.close()

