"""Domain errors: what went wrong, in terms a reporter or an integrator can act on.

Each class knows the HTTP status and the reason code it answers with, so every app maps any of them in one exception
handler and no route decides a status. No error carries report content, so any of them can be logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


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

    status: ClassVar[int] = 400
    code: ClassVar[str] = "rule.request.refused"

    def __init__(self, message: str, requirements: list[UnmetRequirement] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.requirements = requirements or []


class MalformedBody(DomainError):
    """The body is not one JSON object (bad syntax, duplicate keys, wrong encoding)."""

    status = 400
    code = "rule.body.malformed"


class ReportNotFound(DomainError):
    """No report with that id that this caller may see (the two are not told apart)."""

    status = 404
    code = "rule.report.not_found"


class TokenConflict(DomainError):
    """A clientToken the caller already used came back with different content."""

    status = 409
    code = "rule.client_token.reused"


class PayloadTooLarge(DomainError):
    """The body is larger than the service accepts."""

    status = 413
    code = "rule.body.too_large"


class UnsupportedMediaType(DomainError):
    """The body is not sent as application/json."""

    status = 415
    code = "rule.body.media_type"


class InvalidReport(DomainError):
    """The body parsed, but the report breaks one or more rules."""

    status = 422
    code = "rule.report.invalid"


class StoreUnavailable(Exception):
    """Storage did not take the write or answer the read after its retries: nothing was accepted, try again."""

    status: ClassVar[int] = 503
    retry_after_seconds: ClassVar[int] = 1


def requirement(path: str, code: str, message: str) -> UnmetRequirement:
    return UnmetRequirement(path=path, code=code, message=message)
