"""Tracebacks in bibkiosk's logs show the stack, never an exception's message."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

from kiosk.logsafe import WITHHELD, PrivateFormatter, stack_only

CARD = "29999000000010"


def fail() -> None:
    try:
        raise KeyError(CARD)
    except KeyError as exc:
        raise RuntimeError(f"no patron for card {CARD}") from exc


def test_stack_only_withholds_messages_of_the_whole_chain():
    try:
        fail()
    except RuntimeError as exc:
        text = stack_only(exc)
    assert CARD not in text
    assert "in fail" in text and "builtins.RuntimeError" in text and "builtins.KeyError" in text
    assert text.count(WITHHELD) == 2


def test_private_formatter_on_log_exception():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PrivateFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.logsafe")
    logger.addHandler(handler)
    try:
        try:
            fail()
        except RuntimeError:
            logger.exception("lookup failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "ERROR lookup failed" in out and "Traceback" in out and CARD not in out


def test_the_command_installs_it(tmp_path):
    """A real `bibkiosk` process: a failing handler's traceback reaches stderr without the card."""
    root = Path(__file__).resolve().parents[2]
    code = (
        "import logging, sys\n"
        "from kiosk import cli\n"
        "def boom(args):\n"
        f"    try:\n        raise ValueError('card {CARD}')\n"
        "    except ValueError:\n        logging.getLogger('kiosk.test').exception('handler failed')\n    return 0\n"
        "cli.COMMAND_MODULES = ()\n"
        "parser = cli.build_parser\n"
        "def build():\n    p = parser()\n    p.set_defaults(func=boom)\n    return p\n"
        "cli.build_parser = build\n"
        "sys.exit(cli.main(['-v']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr
    assert "handler failed" in out.stderr and "Traceback" in out.stderr
    assert CARD not in out.stderr
