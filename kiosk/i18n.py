"""Patron-facing text in Dutch, French and English (Dutch first).

Catalogs are gettext ``.po`` files under ``kiosk/locale/<lang>/LC_MESSAGES/
<domain>.po``, one domain per part of the system (``policy`` for decision
messages, ``kiosk`` for the touch UI, ``door`` for the entrance).  Message ids
are stable keys such as ``policy.R2.title``; every language, English
included, has a catalog, so the key never reaches a patron.

``python -m kiosk.i18n compile`` compiles every ``.po`` to ``.mo`` (Babel);
when a ``.mo`` is missing or older than its ``.po`` the catalog is read from
the ``.po`` directly, so a checkout that was never compiled still speaks.
``python -m kiosk.i18n check`` verifies that every domain has the same keys
in every language and that the ``{placeholders}`` agree.
"""

from __future__ import annotations

import gettext
import string
import sys
from functools import lru_cache
from pathlib import Path

LANGUAGES: tuple[str, ...] = ("nl", "fr", "en")
DEFAULT_LANGUAGE = "nl"
LANGUAGE_NAMES = {"nl": "Nederlands", "fr": "Français", "en": "English"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


class MissingMessage(LookupError):
    """A key that no catalog of the domain knows: a bug of ours."""


def normalise_language(lang: str | None) -> str:
    """Map a library-system or browser language ("NL", "nl-BE", "dut", "fre")
    to one of LANGUAGES, Dutch when unknown."""
    if not lang:
        return DEFAULT_LANGUAGE
    code = lang.strip().lower().replace("_", "-").split("-")[0]
    aliases = {"dut": "nl", "nld": "nl", "fre": "fr", "fra": "fr", "eng": "en", "vl": "nl"}
    code = aliases.get(code, code)
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def _po_path(domain: str, lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"


def _read_po(path: Path):
    from babel.messages.pofile import read_po

    with path.open("rb") as fh:
        return read_po(fh, locale=path.parent.parent.name, domain=path.stem)


class _PoTranslations(gettext.NullTranslations):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self._catalog = {m.id: m.string for m in _read_po(path) if m.id and m.string}

    def gettext(self, message: str) -> str:
        return self._catalog.get(message, message)


@lru_cache(maxsize=None)
def translations(domain: str, lang: str) -> gettext.NullTranslations:
    po = _po_path(domain, lang)
    mo = po.with_suffix(".mo")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fh:
            return gettext.GNUTranslations(fh)
    if po.exists():
        return _PoTranslations(po)
    raise MissingMessage(f"no catalog for domain {domain!r} in language {lang!r} ({po})")


def translate(domain: str, key: str, lang: str | None = None, /, **params: object) -> str:
    """The text for *key* in *lang*, with ``{name}`` placeholders filled."""
    lang = normalise_language(lang)
    text = translations(domain, lang).gettext(key)
    if text == key:
        raise MissingMessage(f"{domain}:{key} has no {lang} text")
    return text.format_map(_Params(params)) if params or "{" in text else text


class _Params(dict):
    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


def domains() -> list[str]:
    return sorted({p.stem for p in LOCALE_DIR.glob("*/LC_MESSAGES/*.po")})


def compile_catalogs() -> list[Path]:
    from babel.messages.mofile import write_mo

    written = []
    for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        catalog = _read_po(po)
        with mo.open("wb") as fh:
            write_mo(fh, catalog)
        written.append(mo)
    translations.cache_clear()
    return written


def check_catalogs() -> list[str]:
    """Problems across languages: missing keys, empty texts, placeholders that differ."""
    problems = []
    fmt = string.Formatter()
    for domain in domains():
        per_lang = {}
        for lang in LANGUAGES:
            po = _po_path(domain, lang)
            if not po.exists():
                problems.append(f"{domain}: no {lang} catalog")
                continue
            per_lang[lang] = {m.id: m.string for m in _read_po(po) if m.id}
        keys = set().union(*per_lang.values()) if per_lang else set()
        for lang, cat in per_lang.items():
            for key in sorted(keys):
                text = cat.get(key)
                if not text:
                    problems.append(f"{domain}:{key}: no {lang} text")
        for key in sorted(keys):
            fields = {
                lang: {f for _, f, _, _ in fmt.parse(cat[key]) if f}
                for lang, cat in per_lang.items()
                if cat.get(key)
            }
            if len({frozenset(v) for v in fields.values()}) > 1:
                problems.append(f"{domain}:{key}: placeholders differ between languages: {fields}")
    return problems


def _main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "compile"
    if cmd == "compile":
        problems = check_catalogs()
        for p in problems:
            print(p, file=sys.stderr)
        written = compile_catalogs()
        print(f"catalogs: {len(domains())} domain(s), {len(written)} compiled")
        return 1 if problems else 0
    if cmd == "check":
        problems = check_catalogs()
        for p in problems:
            print(p)
        return 1 if problems else 0
    print("usage: python -m kiosk.i18n compile|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
