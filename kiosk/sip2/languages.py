"""The SIP2 language field (3-digit fixed field of 23, 24, 63, 64, 26, 98 …)
and bibkiosk's three patron languages.

SIP2 2.00 lists the codes: 000 unknown (the default), 001 English,
002 French, 003 German, 004 Italian, 005 Dutch, 006 Swedish, 007 Finnish,
008 Spanish, 009 Danish, 010 Portuguese, 011 Canadian-French,
012 Norwegian, 013 Hebrew, 014 Japanese, 015 Russian, 016 Arabic,
017 Polish, 018 Greek, 019 Chinese, 020 Korean, 021 North American
Spanish, 022 Tamil, 023 Malay, 024 United Kingdom, 025 Icelandic,
026 Belgian, 027 Taiwanese.

A request names the language the SC wants its screen messages in (000: no
wish, the library system chooses, usually the patron record's); an answer
names the language of its texts.  bibkiosk sends 001, 002 or 005 and reads
011 as French, 024 as English and 026 ("Belgian") as Dutch.

Pure: no I/O, no asyncio, no pydantic.
"""

from __future__ import annotations

from typing import Final

__all__ = ["LANGUAGE_CODES", "LANGUAGE_UNKNOWN", "language_code", "language_of"]

#: The SIP2 code "unknown" (no wish / not told).
LANGUAGE_UNKNOWN: Final = 0
#: Our languages -> the SIP2 code we send.
LANGUAGE_CODES: Final[dict[str, int]] = {"en": 1, "fr": 2, "nl": 5}
#: SIP2 codes we read -> our languages (others: unknown).
_LANGUAGE_OF: Final[dict[int, str]] = {1: "en", 2: "fr", 5: "nl", 11: "fr", 24: "en", 26: "nl"}


def language_code(language: str | None) -> int:
    """The SIP2 code of one of our languages ("nl", "fr", "en"; a region such
    as "fr_BE" counts as its language); 000 for None or any other."""
    if not language:
        return LANGUAGE_UNKNOWN
    return LANGUAGE_CODES.get(language.split("_")[0].split("-")[0].lower(), LANGUAGE_UNKNOWN)


def language_of(code: int | None) -> str | None:
    """Our language of a SIP2 language code, or None (000, or one we do not speak)."""
    return _LANGUAGE_OF.get(code) if isinstance(code, int) else None
