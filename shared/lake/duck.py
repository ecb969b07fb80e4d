"""DuckDB over a lake directory on a laptop: the tables and views Athena has, the canned questions, and exports.

`Lake(root)` opens an in-memory DuckDB whose `<table>_changes` views read `root/<table>/dt=*/*.parquet` with DuckDB's
built-in Parquet reader (hive partitioning gives `dt`), and whose `<table>` tables hold the latest state: the newest
change row per key. Athena computes that state with a view at every query (shared.lake.schema.latest_view_sql, run
on many machines); on a laptop's two cores recomputing it per question costs seconds at a million reports, so here
it is computed with DuckDB's arg_max (the same rows as the portable view; a test holds them equal) when a query
first names the table, and again whenever the table's files change (listed before every query): a query always
sees what a running writer has written, and a one-shot question pays only for the tables it reads. Extensions are
never installed or auto-loaded (parquet and icu are built in): no network, no httpfs.

The one dialect shim: Athena's `approx_percentile(x, p)` is a DuckDB macro over `quantile_cont`, so the query files
are the same text for both engines.

Exports: a text table for a person, CSV, and XLSX (openpyxl) with a header row and typed cells (numbers, dates and
times as Excel's own, so a pivot table or a chart works on them without conversion).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import duckdb

from shared.lake.schema import DUCKDB_TYPES, FILE_SUFFIX, PARTITION, TABLES, Table, quoted

QUERIES = Path(__file__).resolve().parents[2] / "infra" / "queries"

SHIMS = ("create or replace macro approx_percentile(x, p) as quantile_cont(x, p)",)


@dataclass(frozen=True)
class Result:
    columns: tuple[str, ...]
    types: tuple[str, ...]  # DuckDB's type names (BIGINT, DOUBLE, TIMESTAMP, VARCHAR, ...)
    rows: list[tuple[Any, ...]]


def latest_sql(table: Table) -> str:
    """DuckDB's form of the latest-state view: per key, the row whose (changed_at, sequence length, sequence) is the
    greatest, as one arg_max over the row as a struct. Same order as the portable view, so the same rows; about
    twice as fast as ranking with a window (it keeps one row per key instead of sorting every row)."""
    columns = ", ".join(quoted(name) for name in table.column_names)
    key = ", ".join(quoted(name) for name in table.key)
    return (
        f"select unnest(arg_max(struct_pack({columns}), "
        f'row("changed_at", length("sequence"), "sequence"))) from {table.changes_name} group by {key}'
    )


def _stamp(path: Path) -> tuple[int, int]:
    try:
        status = path.stat()
    except FileNotFoundError:  # replaced between the listing and the look: the next refresh sees its successor
        return (-1, -1)
    return (status.st_size, status.st_mtime_ns)


def canned_queries(directory: Path = QUERIES) -> dict[str, Path]:
    """The canned questions by name (the file's stem)."""
    return {path.stem: path for path in sorted(directory.glob("*.sql"))}


class Lake:
    """One DuckDB session over the lake at `root` (the directory holding `reports/`, `cases/`, ...)."""

    def __init__(self, root: Path | str, threads: int | None = None) -> None:
        self.root = Path(root)
        config: dict[str, Any] = {
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        if threads:
            config["threads"] = threads
        self.connection = duckdb.connect(":memory:", config=config)
        # The lake's timestamps are UTC; current_timestamp and casts to date must agree with them, whatever the
        # laptop's zone (Athena's session zone is UTC too).
        self.connection.execute("set TimeZone = 'UTC'")
        self.connection.execute("set enable_progress_bar = false")  # the answer is the output: nothing mixed in
        for shim in SHIMS:
            self.connection.execute(shim)
        self._signatures: dict[str, tuple[tuple[str, int, int], ...]] = {}
        self._materialised: dict[str, tuple[tuple[str, int, int], ...]] = {}
        self.refresh(names=())

    def refresh(self, names: Iterable[str] | None = None) -> list[str]:
        """Point every `<table>_changes` view at the files there are now, and recompute the latest state of the tables
        in `names` (all when None) whose files changed (added, rewritten or removed) since it was last computed;
        returns the names recomputed. A table with no file yet reads as no rows of the right types (read_parquet
        refuses a glob that matches nothing)."""
        wanted = set(TABLES if names is None else names)
        changed = []
        for table in TABLES.values():
            files = sorted(self._directory(table).glob(f"{PARTITION}=*/*{FILE_SUFFIX}"))
            signature = tuple((str(path), *_stamp(path)) for path in files)
            if self._signatures.get(table.name) != signature:
                source = self._source(table, bool(files))
                self.connection.execute(f"create or replace view {table.changes_name} as {source}")
                self._signatures[table.name] = signature
            if table.name in wanted and self._materialised.get(table.name) != signature:
                self.connection.execute(f"create or replace table {table.name} as {latest_sql(table)}")
                self._materialised[table.name] = signature
                changed.append(table.name)
        return changed

    def _directory(self, table: Table) -> Path:
        return self.root / table.name

    def _source(self, table: Table, readable: bool) -> str:
        columns = ", ".join(quoted(c.name) for c in table.columns)
        if not readable:
            typed = ", ".join(f"cast(null as {DUCKDB_TYPES[c.kind]}) as {quoted(c.name)}" for c in table.columns)
            return f"select {typed}, cast(null as VARCHAR) as {PARTITION} where false"
        pattern = str(self._directory(table) / f"{PARTITION}=*" / f"*{FILE_SUFFIX}").replace("'", "''")
        # Not union_by_name: it reads every file's footer before each scan (twice the time of a scan at a million
        # reports). A column added later needs it, or the old files rewritten; shared.lake.schema says so.
        return (
            f"select {columns}, {PARTITION} from read_parquet('{pattern}', hive_partitioning = true, "
            f"hive_types = {{'{PARTITION}': 'VARCHAR'}})"
        )

    def run(self, sql: str) -> Result:
        try:
            named = self.connection.get_table_names(sql) & set(TABLES)
        except duckdb.Error:  # not SQL DuckDB can parse: running it says what is wrong
            named = set(TABLES)
        self.refresh(names=named)
        relation = self.connection.sql(sql)
        if relation is None:  # a statement with no result (set, create view, ...)
            return Result((), (), [])
        return Result(tuple(relation.columns), tuple(str(t) for t in relation.types), relation.fetchall())

    def run_file(self, path: Path | str) -> Result:
        return self.run(Path(path).read_text())

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# --- exports -------------------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="milliseconds" if value.microsecond else "seconds")
    return str(value)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def to_text(result: Result) -> str:
    """A table for a person: a header, a rule, numbers right-aligned, and the row count."""
    if not result.columns:
        return "ok"
    cells = [[_text(value) for value in row] for row in result.rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(result.columns)]
    right = [any(_numeric(row[i]) for row in result.rows) for i in range(len(result.columns))]

    def line(values: Sequence[str]) -> str:
        padded = (v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True))
        return " | ".join(padded).rstrip()

    lines = [line(result.columns), "-+-".join("-" * w for w in widths)]
    lines += [line(row) for row in cells]
    lines.append(f"({len(result.rows):,} row{'s' if len(result.rows) != 1 else ''})")
    return "\n".join(lines)


def to_csv(result: Result, out: TextIO) -> None:
    """RFC 4180 CSV with a header row; times in ISO 8601, nulls empty."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["" if v is None else v.isoformat() if isinstance(v, dt.date) else v for v in row])


_EXCEL_FORMATS = {
    "TIMESTAMP": "yyyy-mm-dd hh:mm:ss",
    "TIMESTAMP WITH TIME ZONE": "yyyy-mm-dd hh:mm:ss",
    "DATE": "yyyy-mm-dd",
    "DOUBLE": "0.00##",
    "BIGINT": "#,##0",
    "HUGEINT": "#,##0",
    "INTEGER": "#,##0",
}


def _excel(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        # Excel has no time zones: the lake's times are UTC, written as UTC wall-clock times.
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, list | dict | tuple):
        return str(value)
    return value


def to_xlsx(result: Result, path: Path | str, sheet: str = "result") -> None:
    """One sheet: a bold, frozen header row and one typed cell per value (number formats by column type)."""
    from openpyxl import Workbook  # type: ignore[import-untyped]

    workbook = Workbook()
    worksheet = workbook.active
    assert worksheet is not None  # a new workbook always has its first sheet
    write_sheet(worksheet, result, sheet)
    workbook.save(path)


def write_sheet(worksheet: Any, result: Result, sheet: str) -> None:
    """`result` into an openpyxl worksheet as `to_xlsx` lays it out (a workbook of many questions uses it per sheet)."""
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    worksheet.title = sheet[:31]  # Excel's limit on a sheet's name
    worksheet.append(list(result.columns))
    for cell in worksheet[1]:
        cell.font = Font(bold=True)
    worksheet.freeze_panes = "A2"
    for row in result.rows:
        worksheet.append([_excel(value) for value in row])
    for index, type_name in enumerate(result.types, start=1):
        number_format = _EXCEL_FORMATS.get(type_name.upper().split("(")[0].strip())
        if number_format is None and type_name.upper().startswith("DECIMAL"):
            number_format = "0.00##"
        letter = worksheet.cell(row=1, column=index).column_letter
        widest = max([len(result.columns[index - 1]), *(len(_text(row[index - 1])) for row in result.rows[:200])])
        worksheet.column_dimensions[letter].width = min(60, widest + 2)
        if number_format:
            for (cell,) in worksheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = number_format
