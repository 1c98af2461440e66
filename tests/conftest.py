"""Suite-wide settings.  Area fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import os
import tempfile

# Kivy: never eat pytest's arguments, keep its home out of ~, log quietly, and
# render for real offscreen (Mesa). KIVY_GL_BACKEND=mock would silently turn
# GraphicUnitTest into a plain object, so refuse it.
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="bibkiosk-kivy-"))
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
if os.environ.get("KIVY_GL_BACKEND") == "mock":  # pragma: no cover
    raise RuntimeError("KIVY_GL_BACKEND=mock silently skips GraphicUnitTest tests; unset it")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
