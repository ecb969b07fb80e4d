"""The casework API, called over HTTP by the console's backend with the signed-in person's ID token.

Why HTTP and not the casework domain in-process: every rule about who may see, claim, decide and view lives behind
the API's Cognito authorizer and functions/casework/handler.py, and so does every audit entry. Calling the API as the
person keeps that one place; the console adds pages, not permissions, and needs no DynamoDB or S3 access at all.

Where the API is: the stage the console itself was reached on (same origin), built from API Gateway's own
requestContext.domainName and the stage's base path, so it works on the execute-api host, on a custom domain and
under `make run` (127.0.0.1:<port>) alike; CONSOLE_API_URL overrides it. The template cannot pass the API's URL in
an environment variable: the API's definition already refers to the function, so the reverse is a circular
dependency. Plain http is used only for a loopback host (the local stack); anything else is https, so a token never
travels in clear text. Locally domainName is the request's Host header; a client that lies about it can only send
its own token elsewhere.

Never logs a token or an answer's body.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

TIMEOUT_SECONDS = 8.0  # inside the function's 10 s, leaving time to render the page
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
MAX_TEXT_EVIDENCE_BYTES = 64 * 1024


class SessionEnded(Exception):
    """The API refused the token (401): expired, revoked or never valid. The person signs in again."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "refused")
        self.expired = expired


@dataclass
class ApiRefusal(Exception):
    """A 4xx/5xx the casework API explained: its status and message, shown to the person as they are."""

    status: int
    message: str


def api_url(domain_name: str | None, base: str) -> str:
    configured = os.environ.get("CONSOLE_API_URL", "").rstrip("/")
    if configured:
        return configured
    host = (domain_name or "").strip().lower()
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]", 1)[0] + "]"
    scheme = "http" if name in LOOPBACK_HOSTS else "https"
    return f"{scheme}://{host}{base}"


class CaseworkApi:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)  # noqa: S310 (https or loopback)
        request.add_header("Authorization", self.token)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
                parsed: dict[str, Any] = json.load(answer)
                return parsed
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                sent = json.loads(text) if text else {}
            except ValueError:
                sent = {}
            message = str(sent.get("message") or "") if isinstance(sent, dict) else ""
            if error.code == 401:
                raise SessionEnded(expired="expired" in message) from None
            raise ApiRefusal(error.code, _explained(message, sent)) from None
        except (urllib.error.URLError, TimeoutError) as error:
            raise ApiRefusal(503, "The casework service did not answer. Try again in a moment.") from error

    def queue(self, **query: str) -> dict[str, Any]:
        sent = {name: value for name, value in query.items() if value}
        return self._call("GET", "/v1/cases" + (f"?{urlencode(sent)}" if sent else ""))

    def case(self, case_id: str, *, reveal_contacts: bool = False) -> dict[str, Any]:
        # The API writes the audit entry of a reveal before it answers: asking for contacts is itself the record.
        query = "?reveal=contacts" if reveal_contacts else ""
        return self._call("GET", f"/v1/cases/{quote(case_id, safe='')}{query}")

    def claim(self, case_id: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/cases/{quote(case_id, safe='')}/claim")

    def release_claim(self, case_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/cases/{quote(case_id, safe='')}/claim")

    def decide(self, case_id: str, decision: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/v1/cases/{quote(case_id, safe='')}/decisions", decision)

    def view_evidence(self, evidence_id: str, purpose: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/evidence/{quote(evidence_id, safe='')}/views", {"purpose": purpose})


def _explained(message: str, sent: Any) -> str:
    details = [
        str(item.get("message"))
        for item in (sent.get("unmetRequirements") or [] if isinstance(sent, dict) else [])
        if isinstance(item, dict) and item.get("message")
    ]
    return "; ".join([message, *details] if message else details) or "The casework service refused this request."


def fetch_text_evidence(url: str) -> str:
    """A non-image evidence item's first 64 KB as text, from the API's presigned URL, for the page to show escaped."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310 (the API's presigned URL)
        return answer.read(MAX_TEXT_EVIDENCE_BYTES).decode("utf-8", errors="replace")
