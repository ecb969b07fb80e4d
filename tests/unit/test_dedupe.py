"""Report ids are ULIDs: the service's own codec must read and write them exactly as python-ulid does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ulid import ULID

from shared.domain.dedupe import ulid_bytes, ulid_text

ULID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz"


@given(st.binary(min_size=16, max_size=16))
def test_a_ulid_is_written_as_python_ulid_writes_it_and_read_back(value):
    text = ulid_text(value)
    assert text == str(ULID.from_bytes(value))
    assert ulid_bytes(text) == ulid_bytes(text.lower()) == value


@given(st.text(alphabet=ULID_CHARS + "ILOUilou!-_ é\x00", min_size=24, max_size=28))
def test_any_text_is_read_or_refused_as_python_ulid_reads_it(text):
    try:
        expected: bytes | None = bytes(ULID.from_str(text))
    except ValueError:
        expected = None
    try:
        actual: bytes | None = ulid_bytes(text)
    except ValueError:
        actual = None
    assert actual == expected


@pytest.mark.parametrize("text", ["8" + "0" * 25, "Z" * 26, "0" * 25, "0" * 27, "0" * 25 + "U"])
def test_texts_that_are_not_ulids_are_refused(text):
    with pytest.raises(ValueError):
        ulid_bytes(text)
