"""Kivy UI tests: real rendering offscreen (tests/conftest.py sets
SDL_VIDEODRIVER=offscreen and refuses KIVY_GL_BACKEND=mock)."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")  # no sound card here: keep SDL quiet
