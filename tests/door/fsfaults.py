"""Real file-system faults for the door tests: a small tmpfs (full disk) and a
read-only mount.  CI runs as root (mount needs it); each mount is unmounted
in the fixture's finaliser."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(where: Path, options: str) -> None:
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (the door's file-system tests need root): {r.stderr.strip()}", pytrace=False)


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def fill(directory: Path) -> None:
    """Fill the file system of *directory* to the last byte."""
    for name, chunk in (("filler", 4096), ("filler2", 1)):
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                os.write(fd, b"\xff" * chunk)
        except OSError:
            pass
        finally:
            os.close(fd)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 600 KiB tmpfs mounted on a temporary directory."""
    where = tmp_path / "small"
    where.mkdir()
    _mount(where, "size=600k,mode=0755")
    try:
        yield where
    finally:
        _umount(where)


@pytest.fixture
def read_only_fs(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs (root ignores file modes, a read-only mount it cannot)."""
    where = tmp_path / "ro"
    where.mkdir()
    _mount(where, "size=600k,ro")
    try:
        assert not os.access(where, os.W_OK) or _not_writable(where)
        yield where
    finally:
        _umount(where)


def _not_writable(where: Path) -> bool:
    try:
        (where / "x").write_text("x")
    except OSError:
        return True
    return False
