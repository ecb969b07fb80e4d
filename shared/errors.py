"""Domain errors: what went wrong, in terms a reporter or an integrator can act on.

The HTTP mapping lives in one place (functions/intake/handler.py); nothing here knows about status codes, and no
error carries report content, so any of them can be logged.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UnmetRequirement:
    """One reason a request was refused, in the AWS Abuse Signal API's shape."""

    path: str  # a JSON pointer into the request body ("" for the body as a whole)
    code: str  # rule-style, machine-readable: "rule.source_identifier.malformed"
    message: str

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message}


class DomainError(Exception):
    """Base of every refusal the service explains to its caller."""

    def __init__(self, message: str, requirements: list[UnmetRequirement] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.requirements = requirements or []


class InvalidReport(DomainError):
    """The body parsed, but the report breaks one or more rules."""


class MalformedBody(DomainError):
    """The body is not one JSON object (bad syntax, duplicate keys, wrong encoding)."""


class UnsupportedMediaType(DomainError):
    """The body is not sent as application/json."""


class PayloadTooLarge(DomainError):
    """The body is larger than the service accepts."""


class TokenConflict(DomainError):
    """A clientToken the caller already used came back with different content."""


class ReportNotFound(DomainError):
    """No report with that id that this caller may see (the two are not told apart)."""


class StoreUnavailable(Exception):
    """Storage did not take the write or answer the read after its retries: nothing was accepted, try again."""


def requirement(path: str, code: str, message: str) -> UnmetRequirement:
    return UnmetRequirement(path=path, code=code, message=message)
