"""The kiosk's own words for what the library system said.

The library system answers a checkout, renewal or checkin with a sentence in
the language of the patron's record (SIP2 AF).  Under a kiosk showing
French, a Dutch "Geleend. Terugbrengen uiterlijk 30-11-2026." beside our own
French due date is two languages on one screen and the due date twice.  So:

- a sentence the kiosk understands (one of the embedded library system's
  catalogued texts, in any language, parameters included) becomes the
  kiosk's own text in the patron's language, or nothing when the kiosk's own
  status and due date already say it;
- any other sentence is shown once, marked as the library's message.

Pure: strings in, :class:`~kiosk.flows.model.Text` out.
"""

from __future__ import annotations

import re
from functools import lru_cache

from kiosk.i18n import LANGUAGES, translations

from .model import K, Text, literal

#: library catalog key -> the kiosk's own text key; None: the kiosk's status
#: (badge, due date, return advice) already says everything.
UNDERSTOOD: dict[str, str | None] = {
    "library.checkout_ok": None,
    "library.renew_ok": None,
    "library.checkin_ok": None,
    "library.checkin_hold": None,  # the kiosk says "put it on the hold shelf" itself
    "library.checkin_not_on_loan": None,
    "library.item_unknown": "kiosk.outcome.item_unknown",
    "library.item_on_loan": "kiosk.outcome.item_on_loan",
    "library.item_on_hold": "kiosk.outcome.hold_for_other",
    "library.renewal_limit": "kiosk.outcome.not_renewable",
    "library.renew_hold": "kiosk.outcome.renew_hold",
    "library.not_your_loan": "kiosk.outcome.not_your_loan",
    "library.loan_limit": "kiosk.outcome.loan_limit",
}

#: Wise FV questions (library catalog key, as the embedded library sends
#: them) -> the kiosk's own text: information for the patron, never answered.
QUESTIONS: dict[str, str] = {
    "library.question_damaged": "kiosk.question.damaged",
    "library.question_borrowed_before": "kiosk.question.borrowed_before",
    "library.question_for_sale": "kiosk.question.for_sale",
    "library.question_attachments": "kiosk.question.attachments",
}

_PLACEHOLDER = re.compile(r"\\\{\w+\\\}")


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(_PLACEHOLDER.sub(".+?", re.escape(template.strip())), re.S)


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    return _compile(tuple(UNDERSTOOD))


@lru_cache(maxsize=1)
def _question_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    return _compile(tuple(QUESTIONS))


def _compile(keys: tuple[str, ...]) -> tuple[tuple[re.Pattern[str], str], ...]:
    out = []
    for key in keys:
        for lang in LANGUAGES:
            template = translations("library", lang).gettext(key)
            if template and template != key:
                out.append((_pattern(template), key))
    # longest first: "Returned. This item is reserved..." before "Returned..."
    out.sort(key=lambda item: -len(item[0].pattern))
    return tuple(out)


def understood(message: str | None, patterns=None) -> str | None:
    """The library catalog key of *message*, or None when the kiosk does not know it."""
    if not message:
        return None
    text = " ".join(message.split())
    for pattern, key in patterns if patterns is not None else _patterns():
        if pattern.fullmatch(text):
            return key
    return None


def library_says(message: str) -> Text:
    """*message* as it came, marked as the library system's."""
    return K("kiosk.outcome.library_says", text=literal(message))


def outcome_text(message: str | None, fallback: Text | None = None) -> Text | None:
    """What the kiosk shows for the library's *message*: its own text when it
    understands it (None when its status says enough), the library's message
    marked as such when not, *fallback* when there is no message."""
    if not message or not message.strip():
        return fallback
    key = understood(message)
    if key is not None:
        own = UNDERSTOOD[key]
        return K(own) if own else None
    return library_says(message.strip())


def question_text(question: str) -> Text:
    """A Wise FV question about an item, as information for the patron: the
    kiosk's own text when it knows the question, else the library's text
    marked as such.  The kiosk never answers it."""
    key = understood(question, _question_patterns())
    if key is not None:
        return K(QUESTIONS[key])
    return library_says(question.strip())


def refusal_text(message: str | None, fallback: Text) -> Text:
    """A refusal's reason: never empty (the kiosk's *fallback* when the
    library's message says nothing the kiosk shows)."""
    return outcome_text(message, fallback) or fallback
