"""Every kiosk text key used in code has a text in nl, fr and en."""

from __future__ import annotations

import re
from pathlib import Path

from kiosk.config import OfflineMode
from kiosk.flows import LineKind
from kiosk.i18n import LANGUAGES, check_catalogs, translate

ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(r"""["'](kiosk\.[a-z_]+(?:\.[a-z_]+)+)["']""")


def used_keys() -> set[str]:
    keys: set[str] = set()
    for folder in ("kiosk/flows", "kiosk/ui"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".kv"):
                keys |= set(KEY.findall(path.read_text(encoding="utf-8")))
    keys = {k for k in keys if not k.startswith(("kiosk.flows", "kiosk.ui", "kiosk.i18n", "kiosk.config", "kiosk.journal"))}
    keys |= {f"kiosk.offline.notice.{m.value}" for m in OfflineMode}
    keys |= {f"kiosk.offline.{m.value}" for m in OfflineMode}
    keys |= {f"kiosk.status.ok.{k.value}" for k in LineKind}
    return keys


def test_every_used_key_has_every_language():
    keys = used_keys()
    assert len(keys) > 50
    for key in sorted(keys):
        for lang in LANGUAGES:
            assert translate("kiosk", key, lang) != key


def test_catalogs_agree():
    assert [p for p in check_catalogs() if p.startswith("kiosk:")] == []
