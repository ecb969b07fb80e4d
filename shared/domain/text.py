"""Hygiene rules for text that people and partners send us, and the one function that applies them to a document.

Control characters, bidi controls, invisible and tag characters are how a hostile report spoofs what an analyst sees
(Trojan-Source style reordering, header injection through CR/LF, NUL truncation, ASCII smuggling in tag characters
that a model reads and a person does not) and how it defeats dedupe (two reports that look the same and differ by a
zero-width space). One-line fields refuse all of them, line breaks included (LF, CR, U+2028, U+2029); free text
keeps tabs and line breaks, and the zero-width (non-)joiners that emoji and several scripts need, and refuses the
rest. `screen` applies the rules to every string of a parsed JSON document (keys, nested objects, array members) and
refuses the numbers JSON does not have (NaN, Infinity), so no field escapes them by being new, nested or in a list.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection
from typing import Any

from shared.domain.errors import UnmetRequirement, requirement

# Every code point the rules are about: C0 and C1 controls, every format character (Cf: bidi controls, zero-width
# characters, word joiners, BOM, soft hyphen, prepended concatenation marks, tags), the line and paragraph
# separators, and the Hangul fillers (letters that render as nothing, used for blank-looking names).
_RANGES = (
    (0x00, 0x1F),
    (0x7F, 0x9F),
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x115F, 0x1160),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0x3164, 0x3164),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE007F),
)
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = frozenset("\n\r\u2028\u2029")
# What free text may hold of the above: tab and line breaks, and the joiners emoji sequences and scripts need.
_ALLOWED_IN_TEXT = frozenset("\t\u200c\u200d") | _LINE_BREAKS


def _char_class(ranges: tuple[tuple[int, int], ...], allowed: Collection[str] = ()) -> str:
    """The members of a regex character class, as runs of literal characters (valid for Python's and Rust's regex:
    none of them is special in a class)."""
    codes = [c for low, high in ranges for c in range(low, high + 1) if chr(c) not in allowed]
    runs: list[list[int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return "".join(chr(low) if low == high else f"{chr(low)}-{chr(high)}" for low, high in runs)


_SUSPECT = re.compile(f"[{_char_class(_RANGES)}\ud800-\udfff]")
# The same rules as anchored patterns for pydantic's string constraints, which run them in Rust (no surrogates there:
# a Rust string cannot hold one, and `screen` refuses them first).
LINE_PATTERN = f"^[^{_char_class(_RANGES)}]*$"
TEXT_PATTERN = f"^[^{_char_class(_RANGES, _ALLOWED_IN_TEXT)}]*$"

# Free-text fields of a report, by name (wherever they are): everything else is one line.
FREE_TEXT_FIELDS = frozenset({"description", "payload_sample"})
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")

_WHITESPACE = re.compile(r"\s+")


def forbidden_character(value: str, *, one_line: bool) -> tuple[int, str] | None:
    """The position and the character of the first character the rules refuse in `value`, or None."""
    for match in _SUSPECT.finditer(value):
        char = match.group()
        if one_line or char not in _ALLOWED_IN_TEXT:
            return match.start(), char
    return None


def kind_of(char: str) -> str:
    """What a refused character is, in words: the refusal names the class, never the text around it."""
    if char in _LINE_BREAKS:
        return "a line break"
    if char in _BIDI_CONTROLS:
        return "a text-direction character"
    if 0xE0000 <= ord(char) <= 0xE007F:
        return "a tag character"
    if unicodedata.category(char) in ("Cc", "Cs"):
        return "a control character"
    return "an invisible character"


def describe(position: int, char: str) -> str:
    return f"{kind_of(char)} (U+{ord(char):04X}) at position {position}"


def screen(
    document: Any, *, pointer: str = "", free_text: Collection[str] = FREE_TEXT_FIELDS
) -> list[UnmetRequirement]:
    """Every string of a parsed JSON document (member names too) against the rules, and every number against JSON's.

    A string is free text when the member holding it (or the array holding it) is named in `free_text`; all others
    are one line. The answer is one requirement per offending value, with its JSON pointer under `pointer`, in
    document order, all of them (the refusal that lists them is bounded: shared.domain.answers.Refusal). Walks
    with a stack: no recursion limit to hit, whatever the nesting (the JSON parser bounds the depth).
    """
    problems: list[UnmetRequirement] = []
    stack: list[tuple[str, str, Any]] = [(pointer, "", document)]
    while stack:
        path, name, value = stack.pop()
        if isinstance(value, str):
            found = forbidden_character(value, one_line=name not in free_text)
            if found is not None:
                problems.append(requirement(path, f"rule.{_code_name(name)}.forbidden_characters", describe(*found)))
        elif isinstance(value, float) and not math.isfinite(value):
            message = "NaN and Infinity are not JSON numbers; send a number"
            problems.append(requirement(path, f"rule.{_code_name(name)}.not_a_number", message))
        elif isinstance(value, dict):
            members = []
            for key, member in value.items():
                member_path = f"{path}/{escape_pointer(key)}"
                found = forbidden_character(key, one_line=True)
                if found is not None:
                    problems.append(requirement(member_path, "rule.field_name.forbidden_characters", describe(*found)))
                members.append((member_path, key, member))
            stack += reversed(members)  # popped in document order
        elif isinstance(value, list):
            stack += reversed([(f"{path}/{index}", name, member) for index, member in enumerate(value)])
    return problems


def _code_name(name: str) -> str:
    # A member name goes into the code only when it is a plain one: a hostile name stays in the pointer.
    return name if _PLAIN_NAME.fullmatch(name) else "field" if name else "body"


def escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def normalized_for_matching(text: str) -> str:
    """The form under which two descriptions count as the same: NFKC, case-folded, whitespace collapsed."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
