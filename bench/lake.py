"""`make bench`, lake section (issue 16): a million synthetic reports in the lake, and each canned question over them.

What is measured, on this machine, in a temporary directory removed afterwards:
- generating 1,000,000 reports with scripts/synthetic_lake.py (a year, with its change rows), and the lake's bytes
  per report (every table's files over the reports);
- the latest state: DuckDB computes each table's from its change rows once a session, and again for a table whose
  files change (shared/lake/duck.py says why); info;
- each question of infra/queries/: the median of 3 runs in a session, budget 2 s each; in its note, the question
  run one-shot in a fresh session (as `make sql FILE=...` does), which includes computing the tables it reads.

`measure()` is the section's entry point for bench/__main__.py.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.table import Figure

REPORTS = 1_000_000
RUNS = 3
BUDGET_SECONDS = 2.0
# A fixed year's end: the figures do not move with the day they are measured on (the 30-day and overdue questions
# are relative to the clock, and see the last month of the year as recent as any).
END = datetime(2026, 12, 1, tzinfo=UTC)


def rows(reports: int = REPORTS, runs: int = RUNS) -> list[tuple[str, float, float | None]]:
    """(name, value, budget) per figure: generation seconds and bytes per report (no budget), the open, then each
    canned question's median seconds against its 2 s budget."""
    return [(figure.name, figure.value, figure.budget) for figure in measure(reports, runs)]


def measure(reports: int = REPORTS, runs: int = RUNS) -> list[Figure]:
    from scripts.synthetic_lake import generate
    from shared.lake.duck import Lake, canned_queries

    directory = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    try:
        summary = generate(directory, reports, end=END)
        print(f"bench: lake generated in {summary.seconds:.0f} s", file=sys.stderr, flush=True)
        label = f"{reports:,}"
        figures = [
            Figure(
                f"lake: generate {label} reports",
                summary.seconds,
                "s",
                note=f"{summary.files:,} files, {sum(summary.rows.values()):,} change rows",
            ),
            Figure(
                "lake: bytes per report",
                summary.bytes / reports,
                "B",
                digits=0,
                note=f"{summary.bytes / 1e6:,.0f} MB, all tables, zstd Parquet",
            ),
        ]
        # One-shot (`make sql FILE=...`): a fresh session, which computes the latest state of the tables it reads.
        one_shot = {}
        for name, path in canned_queries().items():
            began = time.perf_counter()
            with Lake(directory) as lake:
                lake.run_file(path)
            one_shot[name] = time.perf_counter() - began
        started = time.perf_counter()
        with Lake(directory) as lake:
            lake.refresh()
            figures.append(
                Figure(
                    f"lake: latest state of {label}, all tables",
                    time.perf_counter() - started,
                    "s",
                    note="once a session, again on new files",
                )
            )
            for name, path in canned_queries().items():
                sql = path.read_text()
                times = []
                for _ in range(runs):
                    began = time.perf_counter()
                    answer = lake.run(sql)
                    times.append(time.perf_counter() - began)
                figures.append(
                    Figure(
                        f"lake: {name}",
                        statistics.median(times),
                        "s",
                        budget=BUDGET_SECONDS,
                        note=f"{len(answer.rows):,} rows; one-shot {one_shot[name]:.1f} s",
                    )
                )
        return figures
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    from bench.table import render

    print(render(measure(int(sys.argv[1]) if len(sys.argv) > 1 else REPORTS)))
