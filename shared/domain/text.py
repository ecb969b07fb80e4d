"""Hygiene rules for text that people and partners send us.

Control characters, bidi overrides and invisible characters are how a hostile report spoofs what an analyst sees
(Trojan-Source style reordering, header injection through CR/LF, NUL truncation). Single-line fields refuse all of
them; free text keeps tabs and newlines but refuses the rest.
"""

from __future__ import annotations

import re
import unicodedata

_BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVISIBLES = "\u00ad\u200b-\u200d\u2060\ufeff"
_C0_C1 = "\x00-\x1f\x7f-\x9f"

# Free text: tab, LF and CR are allowed; zero-width joiners too (emoji and several scripts need them).
FORBIDDEN_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_CONTROLS}]")
FORBIDDEN_IN_LINE = re.compile(f"[{_C0_C1}{_BIDI_CONTROLS}{_INVISIBLES}]")

# The same rules as anchored patterns for pydantic's string constraints, which run them in Rust: checking every
# field this way keeps validation within its budget of twice a plain json.loads.
LINE_PATTERN = f"^[^{_C0_C1}{_BIDI_CONTROLS}{_INVISIBLES}]*$"
TEXT_PATTERN = f"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_CONTROLS}]*$"

_WHITESPACE = re.compile(r"\s+")


def normalized_for_matching(text: str) -> str:
    """The form under which two descriptions count as the same: NFKC, case-folded, whitespace collapsed."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
