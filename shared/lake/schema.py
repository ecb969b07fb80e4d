"""The lake: the tables analysts query with SQL (Athena on AWS, DuckDB on a laptop), column by column.

This module is the contract between whoever writes the lake (the stream consumer, the synthetic generator) and
whoever reads it (infra/queries/*.sql, shared.lake.duck, Glue). Pure: no AWS, no I/O, no clock. pyarrow is imported
only by `Table.arrow_schema`, so reading the definitions costs nothing.

Rows are change rows: every write of the reports table's stream that touches an entity becomes one row with the
entity's state after the write, its `changed_at` and the stream's `sequence` number. The raw rows are the table
`<name>_changes`; the view `<name>` keeps the newest row per key (latest state), so `select count(*) from reports`
counts reports, not writes. The view's text is the same for both engines (`latest_view_sql`).

Layout: `lake/<table>/dt=YYYY-MM-DD/<first sequence number of the batch>.parquet`, one file per table per stream
batch, `dt` the UTC day of the batch's first row. A redelivered batch has the same first sequence number, so its
file replaces the earlier one instead of adding a second copy. A local writer writes `<name>.parquet.tmp` and renames
it, so a reader never sees half a file (readers only list `*.parquet`).

Columns are only ever added, at the end and nullable; readers take each file's columns by name. DuckDB reads the
files without `union_by_name` (it costs a footer read per file per scan), so a writer that adds a column rewrites
the older files or the reader turns it on (shared.lake.duck).

Never in the lake: a reporter's email, name, organisation, domain or IP, a report's description or extension fields,
evidence bytes. A reporter is a partner's name, or a keyed hash of the principal (`reporter_label`); anonymous
reporters are null. Timestamps are UTC, millisecond precision, stored without a zone (Parquet TIMESTAMP_MILLIS):
both engines read them as plain timestamps, and Excel takes them as they are.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Literal

from shared.domain.callers import TrustTier
from shared.domain.statements import TYPE_CLASSIFICATION, UNKNOWN_TYPE

if TYPE_CHECKING:
    import pyarrow  # type: ignore[import-untyped]

Kind = Literal["string", "timestamp", "bigint", "boolean"]

LAKE_PREFIX = "lake"
PARTITION = "dt"
FILE_SUFFIX = ".parquet"
TEMPORARY_SUFFIX = ".parquet.tmp"

# The column types each engine calls them by; Glue's names are Athena's.
GLUE_TYPES: dict[str, str] = {"string": "string", "timestamp": "timestamp", "bigint": "bigint", "boolean": "boolean"}
DUCKDB_TYPES: dict[str, str] = {"string": "VARCHAR", "timestamp": "TIMESTAMP", "bigint": "BIGINT", "boolean": "BOOLEAN"}

# A report's reporter tier as the lake spells it: words an analyst reads, not the enum's numbers.
TIER_NAMES: dict[TrustTier, str] = {tier: tier.name.lower() for tier in TrustTier}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    meaning: str


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]  # what "one entity" is: the latest-state view keeps one row per key
    meaning: str
    own_columns: tuple[Column, ...]

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.own_columns + CHANGE_COLUMNS

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def changes_name(self) -> str:
        return f"{self.name}_changes"

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def arrow_schema(self) -> pyarrow.Schema:
        import pyarrow as pa

        arrow_types = {
            "string": pa.string(),
            "timestamp": pa.timestamp("ms"),
            "bigint": pa.int64(),
            "boolean": pa.bool_(),
        }
        return pa.schema(
            [pa.field(c.name, arrow_types[c.kind], metadata={"meaning": c.meaning}) for c in self.columns],
            metadata={"table": self.name, "key": ",".join(self.key)},
        )


CHANGE_COLUMNS = (
    Column("changed_at", "timestamp", "when the write this row records happened (the stream record's time)"),
    Column("sequence", "string", "the stream record's sequence number (decimal digits): orders writes of one key"),
)

REPORTS = Table(
    name="reports",
    key=("report_id",),
    meaning="one row per report, as stored after each write (intake, dispatcher, completion)",
    own_columns=(
        Column("report_id", "string", "the report's id (a ULID), as its reporter was told"),
        Column("received_at", "timestamp", "when intake accepted the report"),
        Column("category", "string", "XARF category (content, connection, messaging, ...)"),
        Column("type", "string", "XARF type within the category (phishing, ddos, csam, ...)"),
        Column("dsa_category", "string", "the DSA statement category of the type (shared.domain.statements)"),
        Column("case_id", "string", "the case the report was counted into; null until the dispatcher counts it"),
        Column("status", "string", "QUEUED, PROCESSING or COMPLETED"),
        Column("reason_code", "string", "why the report was completed (ACTIONED, ...); null until then"),
        Column("reporter", "string", "the partner's name, or a keyed hash of the principal; null when anonymous"),
        Column("reporter_tier", "string", "public, authenticated, partner or trusted_flagger"),
        Column("source_format", "string", "what the report came as: xarf4, xarf3 or form"),
        Column("stale", "boolean", "the incident was over a year old when reported"),
    ),
)

CASES = Table(
    name="cases",
    key=("case_id",),
    meaning="one row per case, as stored after each dispatcher batch or decision that changed it",
    own_columns=(
        Column("case_id", "string", "the case's id (32 hex digits of the family and the resource)"),
        Column("severity", "string", "P0 (child safety) to P3; only ever rises"),
        Column("category", "string", "XARF category of the case's reports"),
        Column("type", "string", "the case's leading type: the most severe its reports named"),
        Column("family", "string", "the category, or child_safety for CSAM and CSEM"),
        Column("resource", "string", "the canonical resource the case is about (s3 object, URL, domain or IP)"),
        Column("resource_kind", "string", "object, url, domain or ip"),
        Column("host", "string", "where the resource lives: the bucket, the URL's host, the domain or the IP"),
        Column("report_count", "bigint", "reports counted into the case"),
        Column("reporter_count", "bigint", "distinct reporters (saturates at the case's sample bound)"),
        Column("first_seen", "timestamp", "receipt of the case's earliest report"),
        Column("last_seen", "timestamp", "receipt of the case's latest report"),
        Column("due_at", "timestamp", "when a decision is due by the severity's SLA (the analysts' queue order)"),
        Column("status", "string", "OPEN (someone has to look) or DECIDED"),
        Column("decided_at", "timestamp", "time of the latest decision; null while never decided"),
        Column("reason_code", "string", "the latest decision's reason code"),
        Column("action", "string", "the latest decision's action: RESTRICT, RELEASE or NONE"),
    ),
)

DECISIONS = Table(
    name="decisions",
    key=("decision_id",),
    meaning="one row per decision an analyst took on a case (decisions are never changed once taken)",
    own_columns=(
        Column("decision_id", "string", "the decision's id (a ULID)"),
        Column("case_id", "string", "the case decided"),
        Column("decided_at", "timestamp", "when the decision was taken"),
        Column("reason_code", "string", "ACTIONED, REVIEWED_NO_AWS_ACTION, NEED_MORE_INFORMATION, ..."),
        Column("action", "string", "RESTRICT, RELEASE or NONE"),
        Column("analyst", "string", "the analyst's user name (staff, not a reporter); null for an automated one"),
    ),
)

CUSTODY_EVENTS = Table(
    name="custody_events",
    key=("object_id", "step", "occurrence"),
    meaning="one row per entry of an object version's chain of custody (never the object's bytes)",
    own_columns=(
        Column("object_id", "string", "the source object version: <bucket>/<sha256 of key>/<version>"),
        Column("step", "string", "preserved, held, verified, restricted, released, destroyed, absent or reported"),
        Column("at", "timestamp", "when the step happened"),
        Column("by", "string", "the function and request id, or the analyst, that took the step"),
        Column("case_id", "string", "the case the object belongs to"),
        Column("report_id", "string", "the report that asked for the step"),
        Column("sha256", "string", "the copy's SHA-256, hex"),
        Column("size", "bigint", "the copy's size in bytes"),
        Column("occurrence", "string", "for steps that recur: the report or NCMEC report id; empty otherwise"),
    ),
)

NCMEC_FILINGS = Table(
    name="ncmec_filings",
    key=("case_id",),
    meaning="one row per CyberTipline filing (one per child-safety case), as stored after each step",
    own_columns=(
        Column("case_id", "string", "the child-safety case the filing reports"),
        Column("stage", "string", "NEW, SUBMITTING, SUBMITTED, RETRACTING, FINISHED, FAILED or IN_DOUBT"),
        Column("report_id", "string", "NCMEC's report id, once /submit answered"),
        Column("started_at", "timestamp", "when the filer started the filing"),
        Column("opened_at", "timestamp", "when NCMEC's report id was recorded (it lapses 24 h later unfinished)"),
        Column("finished_at", "timestamp", "when the filing reached FINISHED; null before"),
        Column("files", "bigint", "files the filing carries"),
        Column("submissions", "bigint", "/submit attempts made"),
        Column("problem_code", "bigint", "NCMEC's code of the last problem (FAILED, IN_DOUBT or a retryable fault)"),
    ),
)

TABLES: dict[str, Table] = {table.name: table for table in (REPORTS, CASES, DECISIONS, CUSTODY_EVENTS, NCMEC_FILINGS)}


def quoted(name: str) -> str:
    """An identifier as both engines take it: `by`, `at`, `type` and `size` are keywords to one or the other."""
    return '"' + name.replace('"', '""') + '"'


def latest_view_sql(table: Table) -> str:
    """The latest-state view over `<name>_changes`, in SQL both DuckDB and Athena accept: the newest row per key.

    Sequence numbers are decimal strings of varying length, so they are ordered by length first, which is numeric
    order; changed_at comes first because sequence numbers are only ordered within one stream shard.
    """
    columns = ", ".join(quoted(name) for name in table.column_names)
    key = ", ".join(quoted(name) for name in table.key)
    return (
        f"select {columns} from (select *, row_number() over (partition by {key} "
        f'order by "changed_at" desc, length("sequence") desc, "sequence" desc) as "row_rank" '
        f'from {table.changes_name}) as newest where "row_rank" = 1'
    )


def partition_day(changed_at: datetime) -> date:
    """The `dt` of a batch: the UTC day of its first row."""
    moment = changed_at if changed_at.tzinfo is None else changed_at.astimezone(UTC).replace(tzinfo=None)
    return moment.date()


def batch_path(table: str, day: date, first_sequence: str) -> str:
    """Where a batch's rows of one table go, relative to the lake's root (the S3 key is LAKE_PREFIX + "/" + this)."""
    if table not in TABLES:
        raise KeyError(table)
    if not first_sequence.isdigit():
        raise ValueError("a stream sequence number is decimal digits")
    return f"{table}/{PARTITION}={day.isoformat()}/{first_sequence}{FILE_SUFFIX}"


def object_key(table: str, day: date, first_sequence: str) -> str:
    return f"{LAKE_PREFIX}/{batch_path(table, day, first_sequence)}"


def reporter_label(principal: str | None, partner: str | None, key: bytes) -> str | None:
    """How a reporter appears in the lake: a partner by name (they are organisations we have an agreement with),
    anyone else signed by 16 hex digits of an HMAC of the principal (stable, so a reporter's volume and accuracy
    can be counted, and not reversible without the key), the anonymous as null."""
    if partner:
        return partner
    if not principal:
        return None
    return hmac.new(key, principal.encode(), hashlib.sha256).hexdigest()[:16]


def dsa_category_of(type_: str) -> str:
    """A report's `dsa_category`: the DSA Transparency Database's statement category of its XARF type."""
    return TYPE_CLASSIFICATION.get(type_, UNKNOWN_TYPE).category
