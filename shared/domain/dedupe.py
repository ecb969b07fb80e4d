"""Dedupe keys: what makes two submissions the same report.

A partner's `clientToken` is scoped to that partner: replaying it returns the original, and reusing it for other
content is a conflict. Without a token, the content decides: same reporter identity, category and type, canonical
resources (sorted), description (normalized) and evidence payloads; the XARF `report_id` and `timestamp` are not
content, so a partner regenerating them on retry still deduplicates.

The report id is derived from the dedupe key: a ULID whose 80 random bits are the key's first 80 bits. So the id
alone finds the item (no index, strongly consistent reads). The key and the receipt token are HMACs under the server
secret (Secrets Manager, `shared.adapters.server_secret`): knowing a partner's principal, its clientToken and the
second it submitted computes neither another partner's report id nor its receipt.

"The same report", exactly: from the same caller (principal, or "anonymous" for the web form, whose every page
carries its own clientToken), either the same clientToken (whatever the content: other content with it is a
conflict), or, without a clientToken, the same category, type, canonical resources, reporter contact (case-folded),
description (whitespace and case folded) and evidence payloads (their SHA-256s, as a set: new evidence about the same
thing is a new report, so its bytes are referenced, not dropped as a duplicate's). The XARF report_id and timestamp
are not content.

Rotation: ids and receipts are checked without the secret (an id carries its key; a receipt is compared by its
hash), so lookups survive a rotation whole. What a rotation changes is dedupe across it: a retry of a report sent
before the rotation, arriving after it, is stored as a new report (the case still counts both under one resource).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from shared.domain.callers import Caller
from shared.domain.reports import Report
from shared.domain.text import normalized_for_matching

KEY_BYTES = 10  # 80 bits: a ULID's randomness; collisions need ~10^12 reports before they become plausible

# A ULID's text form: its 128 bits, big-endian, as 26 digits of Crockford's base32 (the first digit at most 7).
# Written here rather than imported: these two conversions are all the service needs, and python-ulid's import
# (it reads its own version from the installed distributions) cost more than the rest of this module.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_VALUES = {char: value for value, char in enumerate(_CROCKFORD)} | {
    char.lower(): value for value, char in enumerate(_CROCKFORD)
}


@dataclass(frozen=True)
class DedupeKey:
    digest: bytes  # KEY_BYTES long; the table's partition key is derived from it
    content_fingerprint: str  # hex SHA-256 of the content, stored so a reused token with new content is caught
    by_token: bool

    @property
    def hex(self) -> str:
        return self.digest.hex()


def content_fingerprint(report: Report, caller: Caller) -> str:
    reporter = report.reporter.contact.casefold() if report.reporter else ""
    parts = [
        "content-v1",
        caller.scope,
        reporter,
        report.category,
        report.type,
        "\n".join(sorted(resource.canonical for resource in report.resources)),
        normalized_for_matching(report.description or ""),
    ]
    if report.evidence:  # only then: the fingerprints of reports without payloads stay what they were
        parts.append(",".join(sorted({evidence.sha256 for evidence in report.evidence})))
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def dedupe_key(report: Report, caller: Caller, client_token: str | None, secret: bytes) -> DedupeKey:
    fingerprint = content_fingerprint(report, caller)
    if client_token is not None:
        seed = _keyed(secret, "token-v2", caller.scope, client_token)
    else:
        seed = _keyed(secret, "content-v2", fingerprint)
    return DedupeKey(digest=seed[:KEY_BYTES], content_fingerprint=fingerprint, by_token=client_token is not None)


def _keyed(secret: bytes, *parts: str) -> bytes:
    if len(secret) < 32:
        raise ValueError("the server secret is shorter than 32 bytes")
    return hmac.new(secret, "\x00".join(parts).encode(), hashlib.sha256).digest()


def report_id_for(key: DedupeKey, received_at: datetime) -> str:
    return ulid_text(int(received_at.timestamp() * 1000).to_bytes(6, "big") + key.digest)


def key_digest_of(report_id: str) -> bytes | None:
    """The dedupe-key digest a report id carries, or None when the text is not a report id."""
    if len(report_id) != 26:
        return None
    try:
        return ulid_bytes(report_id)[6:]
    except ValueError:
        return None


def ulid_text(value: bytes) -> str:
    """The 26-character text of a 16-byte ULID."""
    if len(value) != 16:
        raise ValueError("a ULID is 16 bytes")
    number = int.from_bytes(value, "big")
    return "".join(_CROCKFORD[(number >> shift) & 31] for shift in range(125, -1, -5))


def ulid_bytes(text: str) -> bytes:
    """The 16 bytes of a ULID's text (either case), or ValueError for anything that is not one."""
    if len(text) != 26 or text[0] not in "01234567":
        raise ValueError("a ULID is 26 base32 characters, the first at most 7")
    number = 0
    for char in text:
        value = _CROCKFORD_VALUES.get(char)
        if value is None:
            raise ValueError("a ULID is 26 base32 characters, the first at most 7")
        number = number << 5 | value
    return number.to_bytes(16, "big")


def receipt_token_for(caller: Caller, key: DedupeKey, secret: bytes) -> str:
    """A bearer token for the report's status page, derived from the report's key under the server secret.

    So a retry that gets the duplicate answer receives the same receipt again, with or without a clientToken, and
    only the caller who sent the report (the key includes its principal) can be handed it; only its hash is stored.
    """
    raw = _keyed(secret, "receipt-v2", caller.scope, key.hex)
    return base64.urlsafe_b64encode(raw[:24]).decode().rstrip("=")


def receipt_hash(token: str) -> str:
    return hashlib.sha256(f"receipt-hash-v1\x00{token}".encode()).hexdigest()
