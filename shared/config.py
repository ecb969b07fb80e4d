"""The service's configuration, read from the environment once, at the first invocation.

A missing or malformed variable fails then, with its name, never deep inside a call. pydantic-settings costs about
30 ms to import (a fifth of the cold-start budget), and nothing needs it before the first invocation reads the
configuration, so the import waits until then; `make bench` reports the first response with it included.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings


@cache
def settings() -> Settings:
    from shared.settings import Settings

    return Settings()
