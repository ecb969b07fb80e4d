"""The console's session: one cookie holding the Cognito ID token, and the CSRF token derived from it.

The ID token is the session. It lives in an HttpOnly cookie (no script of ours or anyone's reads it), SameSite=Strict
(no other site's page makes the browser send it) and Path=<base>/console (the web form and the API never receive it).
The console never decides anything from the token: it forwards it to the casework API, whose Cognito authorizer
verifies it, so a forged or expired token is refused there, in the one place that verifies tokens. The payload is
read here only to print "Signed in as ..." in the header.

CSRF: every POST but the sign-in carries a hidden field equal to a hash of the session token. A page of another site
cannot read our pages or our cookie, so it cannot know the value; nothing needs to be stored, and the token changes
with each sign-in. The same Origin / Sec-Fetch-Site check as the web form's runs on every POST, the sign-in's too.

Secure: Chromium and Firefox treat http://127.0.0.1 and http://localhost as secure contexts and keep a Secure cookie
set over plain HTTP there (tests/browser/test_console_browser.py signs in through the local stack), so the attribute
is always set, locally too. Nothing here logs a token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain.errors import DomainError, requirement

COOKIE_NAME = "console_session"
CSRF_FIELD = "csrf"
# Why a person is sent to the sign-in page: a fixed set of codes in the URL, never text from the request.
SIGN_IN_REASONS = {
    "required": "Sign in to use the console.",
    "expired": "Your session has ended. Sign in again to continue.",
    "signed_out": "You have signed out.",
}


class CsrfRefused(DomainError):
    """A state-changing request without this session's token: sent from another site's page, or a stale page."""

    status = 403
    code = "rule.request.csrf"


def cookie_path(base: str) -> str:
    return f"{base}/console"


def session_cookie(token: str, *, base: str, max_age: int) -> str:
    return f"{COOKIE_NAME}={token}; Max-Age={max_age}; Path={cookie_path(base)}; HttpOnly; Secure; SameSite=Strict"


def cleared_cookie(*, base: str) -> str:
    return f"{COOKIE_NAME}=; Max-Age=0; Path={cookie_path(base)}; HttpOnly; Secure; SameSite=Strict"


def token_from(cookie_header: str | None) -> str | None:
    """The session token from a Cookie header, or None; a value that is not JWT-shaped is no session."""
    for part in (cookie_header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE_NAME and value and len(value) <= 8192 and value.count(".") == 2:
            return value
    return None


def csrf_token(session_token: str) -> str:
    digest = hashlib.sha256(b"abuse-intake console csrf\x00" + session_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def check_csrf(session_token: str, sent: str | None) -> None:
    if not sent or not hmac.compare_digest(sent.encode(), csrf_token(session_token).encode()):
        raise CsrfRefused(
            "This page has expired or was not sent from the console. Go back, reload the page and try again.",
            [requirement("", "rule.request.csrf", "missing or wrong CSRF token")],
        )


@dataclass(frozen=True)
class Person:
    """Who the header says is signed in. Display only: the casework API decides what they may do."""

    username: str
    groups: frozenset[str]


def person_of(token: str) -> Person:
    try:
        payload_part = token.split(".")[1]
        payload: Mapping[str, Any] = json.loads(base64.urlsafe_b64decode(payload_part + "=" * (-len(payload_part) % 4)))
    except (IndexError, ValueError, TypeError):
        return Person("", frozenset())
    groups = payload.get("cognito:groups") or []
    return Person(str(payload.get("cognito:username") or ""), frozenset(str(g) for g in groups))
