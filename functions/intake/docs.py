"""The API docs page (GET /v1/docs): functions/intake/openapi.py's document rendered for people from
templates/docs.html, and the headers it is served with.

Imported only by the route that serves it, so neither Jinja2 nor the schema generation weighs on a reporter's cold
start.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from functions.intake.openapi import document
from shared.domain.webform import SECURITY_HEADERS

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)


def _style_hash() -> str:
    # The page's one inline style, allowed by its hash: no 'unsafe-inline', so an injected style would not apply.
    digest = hashlib.sha256(TEMPLATES.get_template("docs.css").render().encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


@cache
def docs_page() -> str:
    return TEMPLATES.get_template("docs.html").render(spec=document())


@cache
def docs_headers() -> dict[str, str]:
    """The web form's security headers (HSTS, no framing, no sniffing, ...) with a policy that allows no script and
    only the page's own style; the page changes only with a deployment, so it may be cached a little."""
    policy = (
        f"default-src 'none'; style-src {_style_hash()}; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    )
    return {**SECURITY_HEADERS, "Content-Security-Policy": policy, "Cache-Control": "public, max-age=300"}
