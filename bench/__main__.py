"""`make bench`: the performance table, one line per figure, and a non-zero exit when any budget is MISSED.

Counts are deterministic (botocore event hooks under moto); times are medians of fresh runs, judged as ratios to a
floor measured in the same run on the same machine. Budgets come from DESIGN.md. Nothing but the table goes to
stdout: the functions' own output (their log lines and metrics, as on Lambda) is dropped, progress goes to stderr.

A section is a module with `measure() -> list[bench.table.Figure]`; add one by naming it in SECTIONS.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.quiet import quiet_environment
from bench.table import Figure, missed, render

SECTIONS = (
    "bench.request_path",
    "bench.cold_start",
    "bench.webform",
    "bench.local_stack",
    "bench.pipeline",
    "bench.hotcase",
    "bench.quarantine",
    "bench.hostile",
    "bench.casework",
    "bench.lake",
)


@contextmanager
def _stdout_dropped() -> Iterator[int]:
    """Point file descriptor 1 at /dev/null (so subprocesses and loggers made earlier are covered too); yield a
    descriptor for the real stdout."""
    sys.stdout.flush()
    real = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        yield real
    finally:
        sys.stdout.flush()
        os.dup2(real, 1)
        os.close(real)


def main() -> int:
    quiet_environment()
    figures: list[Figure] = []
    with _stdout_dropped():
        for name in SECTIONS:
            started = time.perf_counter()
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            figures += importlib.import_module(name).measure()
            print(f"bench: {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print(render(figures))
    if failed := missed(figures):
        print(f"bench: {len(failed)} budget(s) MISSED: {', '.join(f.name for f in failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
