"""`make sql`: SQL over the lake with DuckDB, on a laptop, without Docker or AWS.

    python -m scripts.sql --lake DIR [--query "select ..." | --file infra/queries/x.sql] [--format table|csv|xlsx]
                          [--out FILE]

With a query or a file: the answer as a table for a person (default), CSV (to stdout or --out) or XLSX (--out
required). With neither: a prompt that reads lines until one ends with `;`, runs the statement and prints its table;
`.quit` or end of input leaves. The tables and views are shared.lake.duck's; the canned questions are in
infra/queries/.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

import duckdb

from shared.lake.duck import Lake, Result, canned_queries, to_csv, to_text, to_xlsx
from shared.lake.schema import TABLES

PROMPT, CONTINUATION = "lake> ", "  ... "


def _write(result: Result, output_format: str, out: Path | None, stdout: TextIO) -> None:
    if output_format == "xlsx":
        assert out is not None  # checked when the arguments were read
        to_xlsx(result, out)
        print(f"{len(result.rows):,} rows written to {out}", file=sys.stderr)
    elif output_format == "csv":
        if out is None:
            to_csv(result, stdout)
        else:
            with out.open("w", newline="", encoding="utf-8") as handle:
                to_csv(result, handle)
    else:
        text = to_text(result) + "\n"
        if out is None:
            stdout.write(text)
        else:
            out.write_text(text, encoding="utf-8")


def statements(lines: Iterable[str]) -> Iterable[str]:
    """The statements typed at the prompt: lines gathered until one ends with `;`."""
    pending: list[str] = []
    for line in lines:
        if not pending and line.strip() in (".quit", ".exit", "\\q"):
            return
        pending.append(line.rstrip("\n"))
        if line.rstrip().endswith(";"):
            statement = "\n".join(pending).strip().rstrip(";").strip()
            pending = []
            if statement:
                yield statement
    if "".join(pending).strip():
        yield "\n".join(pending)


def _prompted(stdin: TextIO, stdout: TextIO) -> Iterable[str]:
    interactive = stdin.isatty()
    first = True
    while True:
        if interactive:
            stdout.write(PROMPT if first else CONTINUATION)
            stdout.flush()
        line = stdin.readline()
        if not line:
            return
        first = line.rstrip().endswith(";") or not line.strip()
        yield line


def interactive(lake: Lake, stdin: TextIO, stdout: TextIO) -> int:
    tables = ", ".join(f"{t.name} ({t.changes_name})" for t in TABLES.values())
    print(
        f"tables: {tables}; questions: infra/queries/ ({len(canned_queries())}); end a statement with ;",
        file=sys.stderr,
    )
    for statement in statements(_prompted(stdin, stdout)):
        try:
            stdout.write(to_text(lake.run(statement)) + "\n")
        except duckdb.Error as exc:  # a typo must not end the session
            stdout.write(f"error: {exc}\n")
        stdout.flush()
    return 0


def main(argv: Sequence[str] | None = None, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.sql", description="SQL over the lake with DuckDB")
    parser.add_argument("--lake", type=Path, required=True, help="the lake's root directory (holds reports/, ...)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--query", help="one SQL statement")
    source.add_argument("--file", type=Path, help="a file of SQL, e.g. infra/queries/overdue_cases.sql")
    parser.add_argument("--format", choices=("table", "csv", "xlsx"), default="table")
    parser.add_argument("--out", type=Path, help="write the answer here (required for xlsx)")
    args = parser.parse_args(argv)
    if args.format == "xlsx" and args.out is None:
        parser.error("--format xlsx needs --out FILE.xlsx")
    if not args.lake.is_dir():
        parser.error(f"no lake at {args.lake} (a directory holding reports/, cases/, ...)")
    with Lake(args.lake) as lake:
        if args.query is None and args.file is None:
            return interactive(lake, stdin, stdout)
        sql = args.query if args.query is not None else args.file.read_text(encoding="utf-8")
        try:
            result = lake.run(sql)
        except duckdb.Error as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        _write(result, args.format, args.out, stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
