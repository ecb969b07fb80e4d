"""The static files a function serves itself (stylesheet, script, icon), under content-hashed URLs.

A page names each file as `<prefix>/<name>?v=<first 12 hex digits of its SHA-256>`, so the answer may be cached for a
year: a changed file has a new URL. The web form and the analysts' console each have one of these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from aws_lambda_powertools.event_handler import Response

YEAR_IMMUTABLE = "public, max-age=31536000, immutable"


class StaticAssets:
    def __init__(self, directory: Path, types: Mapping[str, str], prefix: str) -> None:
        self.types = dict(types)  # name -> Content-Type
        self.content: Mapping[str, bytes] = {name: (directory / name).read_bytes() for name in types}
        self.versions = {name: hashlib.sha256(body).hexdigest()[:12] for name, body in self.content.items()}
        self.prefix = prefix  # the path under the stage's base: "/assets", "/console/assets"

    def url(self, base: str, name: str) -> str:
        return f"{base}{self.prefix}/{name}?v={self.versions[name]}"

    def response(self, name: str, headers: Mapping[str, str]) -> Response[str] | None:
        """The file with the page's security headers and a year's caching; None for a name that is not one."""
        body = self.content.get(name)
        if body is None:
            return None
        return Response(
            status_code=200,
            content_type=self.types[name],
            body=body.decode("utf-8"),
            headers={**headers, "Cache-Control": YEAR_IMMUTABLE},
        )
