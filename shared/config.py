"""The service's configuration, read from the environment once, at the first invocation.

A missing or malformed variable fails then, with its name, never deep inside a call. The import of shared.settings
waits until then too, so that a module importing this one for its `settings` reads nothing at import time.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings


@cache
def settings() -> Settings:
    from shared.settings import Settings

    return Settings.from_environment()
