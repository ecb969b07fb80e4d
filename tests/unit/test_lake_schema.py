"""The lake's contract (shared/lake/schema.py): the columns the issue names, one definition for every engine, the
layout a rewritten batch replaces, and no reporter's personal data."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from shared.lake.schema import (
    DUCKDB_TYPES,
    GLUE_TYPES,
    TABLES,
    TIER_NAMES,
    batch_path,
    dsa_category_of,
    latest_view_sql,
    object_key,
    partition_day,
    reporter_label,
)

ISSUE_COLUMNS = {
    "reports": (
        "report_id received_at category type case_id status reason_code reporter reporter_tier source_format stale"
    ),
    "cases": "case_id severity category type report_count reporter_count first_seen last_seen decided_at reason_code",
    "decisions": "decision_id case_id decided_at reason_code action analyst",
    "custody_events": "object_id step at by case_id report_id sha256 size occurrence",
    "ncmec_filings": "case_id stage report_id started_at opened_at finished_at files submissions problem_code",
}


@pytest.mark.parametrize("name", sorted(ISSUE_COLUMNS))
def test_every_table_has_the_issues_columns_and_the_change_columns(name: str) -> None:
    table = TABLES[name]
    assert set(ISSUE_COLUMNS[name].split()) <= set(table.column_names)
    assert table.column_names[-2:] == ["changed_at", "sequence"]
    assert table.column("changed_at").kind == "timestamp"
    assert table.column("sequence").kind == "string"
    assert len(table.column_names) == len(set(table.column_names))
    assert set(table.key) <= set(table.column_names)


def test_the_arrow_schema_is_made_from_the_same_definitions() -> None:
    arrow_of = {"string": pa.string(), "timestamp": pa.timestamp("ms"), "bigint": pa.int64(), "boolean": pa.bool_()}
    for table in TABLES.values():
        schema = table.arrow_schema()
        assert schema.names == table.column_names
        for column in table.columns:
            field = schema.field(column.name)
            assert field.type == arrow_of[column.kind]
            assert field.metadata[b"meaning"].decode() == column.meaning
            assert column.meaning.strip(), f"{table.name}.{column.name} says nothing of what it means"
            assert column.kind in GLUE_TYPES and column.kind in DUCKDB_TYPES
        assert schema.metadata[b"key"].decode() == ",".join(table.key)


def test_no_column_can_hold_a_reporters_contact_details_or_a_reports_text() -> None:
    forbidden = ("email", "contact", "name", "ip", "org", "domain", "description", "details", "principal", "evidence")
    for table in TABLES.values():
        for column in table.column_names:
            assert not any(word in column.split("_") for word in forbidden), f"{table.name}.{column}"


def test_a_batch_is_named_by_its_first_sequence_number_under_its_day() -> None:
    assert batch_path("reports", date(2026, 12, 1), "49650000000000000001") == (
        "reports/dt=2026-12-01/49650000000000000001.parquet"
    )
    assert object_key("cases", date(2026, 1, 9), "7") == "lake/cases/dt=2026-01-09/7.parquet"
    with pytest.raises(ValueError):
        batch_path("reports", date(2026, 12, 1), "../../etc")
    with pytest.raises(KeyError):
        batch_path("contacts", date(2026, 12, 1), "1")


def test_the_partition_day_is_the_utc_day() -> None:
    late_in_new_york = datetime(2026, 12, 1, 23, 30, tzinfo=UTC).astimezone(datetime.now().astimezone().tzinfo)
    assert partition_day(late_in_new_york) == date(2026, 12, 1)
    assert partition_day(datetime(2026, 12, 2, 0, 0)) == date(2026, 12, 2)


def test_a_partner_appears_by_name_anyone_else_by_a_keyed_hash_and_the_anonymous_not_at_all() -> None:
    principal = "arn:aws:iam::123456789012:role/reporter"
    assert reporter_label(principal, "Example CERT", b"k") == "Example CERT"
    hashed = reporter_label(principal, None, b"key-1")
    assert hashed is not None and len(hashed) == 16 and "123456789012" not in hashed
    assert reporter_label(principal, None, b"key-1") == hashed, "stable, so a reporter's accuracy can be counted"
    assert reporter_label(principal, None, b"key-2") != hashed, "keyed: not computable without the key"
    assert reporter_label(None, None, b"key-1") is None


def test_tiers_are_spelled_as_words() -> None:
    assert sorted(TIER_NAMES.values()) == ["authenticated", "partner", "public", "trusted_flagger"]


def test_the_latest_view_ranks_each_key_by_time_then_sequence_with_keywords_quoted() -> None:
    sql = latest_view_sql(TABLES["custody_events"])
    assert 'partition by "object_id", "step", "occurrence"' in sql
    assert '"by"' in sql and '"at"' in sql
    assert 'order by "changed_at" desc, length("sequence") desc, "sequence" desc' in sql
    assert "from custody_events_changes" in sql


def test_dsa_categories_come_from_the_statements_table() -> None:
    assert dsa_category_of("csam") == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert dsa_category_of("phishing") == "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
    assert dsa_category_of("no_such_type") == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
