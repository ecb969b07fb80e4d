"""DuckDB over a synthetic lake (issue 16): every canned question answers with rows a person would believe, the
counts equal what was generated, exports open in Excel's terms, and redelivered batches never count twice."""

from __future__ import annotations

import io
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from scripts import sql as sql_cli
from scripts.synthetic_lake import Summary, generate, write_batches
from shared.domain.casework import DEFAULT_SLA
from shared.lake.duck import Lake, canned_queries, to_csv, to_text, to_xlsx
from shared.lake.schema import TABLES, latest_view_sql

REPORTS = 2_000
# The year ends now (to the hour), so some open cases are overdue and some are not yet due.
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Summary]:
    root = tmp_path_factory.mktemp("lake")
    return root, generate(root, REPORTS, seed=7, end=END, keep_rows=True)


@pytest.fixture(scope="module")
def lake(generated: tuple[Path, Summary]) -> Iterator[Lake]:
    with Lake(generated[0]) as opened:
        yield opened


def latest(summary: Summary, name: str) -> list[dict[str, Any]]:
    """The newest change row per key, computed in Python from the rows the generator wrote."""
    table = TABLES[name]
    newest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in summary.tables[name].to_pylist():
        key = tuple(row[k] for k in table.key)
        order = (row["changed_at"], len(row["sequence"]), row["sequence"])
        if key not in newest or order > newest[key]["_order"]:
            newest[key] = {**row, "_order": order}
    return list(newest.values())


def answer(lake: Lake, name: str) -> list[dict[str, Any]]:
    result = lake.run_file(canned_queries()[name])
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


# What one engine has and the other has not: the question files must run on Athena as they run here.
DIALECT_ONLY = (
    "::",
    " qualify ",
    " exclude ",
    "quantile",
    "median(",
    "strftime",
    "epoch(",
    "datediff(",
    "struct_pack",
    " ilike ",
    "list(",
    "date_part(",
    "current_timestamp",
    "now()",
    "arg_max",
    "max_by",
    "regexp_",
)


def test_the_question_files_keep_to_sql_both_engines_accept() -> None:
    for name, path in canned_queries().items():
        text = path.read_text().lower()
        assert text.startswith("-- "), f"{name} says what it answers in its first line"
        sql = " ".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        assert not [word for word in DIALECT_ONLY if word in f" {sql} "], name
        assert ";" not in sql, "one statement, as an Athena named query is"


def test_every_canned_question_answers_with_rows(lake: Lake) -> None:
    assert len(canned_queries()) == 10
    for name in canned_queries():
        assert answer(lake, name), f"{name} answered nothing over {REPORTS:,} reports"


def test_counts_per_category_equal_the_generated_reports(lake: Lake, generated: tuple[Path, Summary]) -> None:
    reports = latest(generated[1], "reports")
    assert len(reports) == REPORTS
    expected = Counter(row["category"] for row in reports)
    counted = lake.run("select category, count(*) from reports group by 1")
    assert dict(counted.rows) == expected
    per_day = answer(lake, "reports_cases_per_category_per_day")
    assert sum(row["reports"] for row in per_day) == REPORTS
    assert sum(row["new_cases"] for row in per_day) == generated[1].cases
    first_day = min(row["received_at"] for row in reports).date()
    assert per_day[0]["day"] == first_day


def test_case_and_decision_counts_equal_the_generated_ones(lake: Lake, generated: tuple[Path, Summary]) -> None:
    cases = latest(generated[1], "cases")
    assert len(cases) == generated[1].cases
    statuses = dict(lake.run("select status, count(*) from cases group by 1").rows)
    assert statuses == Counter(row["status"] for row in cases)
    decisions = latest(generated[1], "decisions")
    grounds = answer(lake, "dsa_decisions_by_ground_and_automation")
    assert sum(row["decisions"] for row in grounds) == len(decisions)
    actions = Counter(row["action"] for row in decisions)
    for action, count in actions.items():
        assert sum(row["decisions"] for row in grounds if row["action"] == action) == count
    assert {row["automated_decision"] for row in grounds} == {"AUTOMATED_DECISION_NOT_AUTOMATED"}


def test_reports_per_case_adds_up_and_has_a_heavy_tail(lake: Lake, generated: tuple[Path, Summary]) -> None:
    bands = answer(lake, "reports_per_case")
    assert sum(row["cases"] for row in bands) == generated[1].cases
    assert sum(row["reports"] for row in bands) == REPORTS
    assert bands[0]["reports_per_case"] == "1" and bands[0]["cases"] > generated[1].cases / 3
    assert max(row["largest_case"] for row in bands) >= 20, "the viral URLs"


def test_time_to_decision_is_reported_against_each_severitys_sla(lake: Lake) -> None:
    rows = answer(lake, "time_to_decision_by_severity")
    assert [row["severity"] for row in rows] == sorted(row["severity"] for row in rows)
    for row in rows:
        assert row["sla_hours"] == DEFAULT_SLA[row["severity"]].total_seconds() / 3600
        assert 0 < row["median_hours"] <= row["p90_hours"]
        assert 0 <= row["share_within_sla"] <= 1
    p1 = next(row for row in rows if row["severity"] == "P1")
    p3 = next(row for row in rows if row["severity"] == "P3")
    assert p1["median_hours"] < p3["median_hours"], "the severe cases are decided sooner"


def test_overdue_cases_are_the_open_ones_past_due(lake: Lake, generated: tuple[Path, Summary]) -> None:
    cases = latest(generated[1], "cases")

    def overdue_at(moment: datetime) -> set[str]:
        return {c["case_id"] for c in cases if c["status"] == "OPEN" and c["due_at"] < moment}

    before = datetime.now(UTC).replace(tzinfo=None)
    rows = answer(lake, "overdue_cases")
    after = datetime.now(UTC).replace(tzinfo=None)
    listed = {row["case_id"] for row in rows}
    # The question reads the clock itself: what it lists lies between what was overdue before and after it ran.
    assert overdue_at(before) <= listed <= overdue_at(after)
    assert {c["case_id"] for c in cases if c["status"] == "OPEN"} - listed, "some open cases are not due yet"
    assert all(row["hours_overdue"] > 0 for row in rows)


def test_repeat_offenders_count_the_cases_of_the_last_30_days(lake: Lake, generated: tuple[Path, Summary]) -> None:
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30)
    cases = [c for c in latest(generated[1], "cases") if c["first_seen"] >= since + timedelta(minutes=1)]
    rows = answer(lake, "repeat_offenders_30_days")
    assert [row["cases"] for row in rows] == sorted((row["cases"] for row in rows), reverse=True)
    top = rows[0]
    assert top["cases"] == Counter(c["host"] for c in cases).most_common(1)[0][1]
    assert top["kind"] in ("host", "bucket", "ip")


def test_reporter_accuracy_adds_up_and_tells_reporters_apart(lake: Lake) -> None:
    rows = answer(lake, "reporter_accuracy")
    assert sum(row["reports"] for row in rows) == REPORTS
    for row in rows:
        assert row["actioned"] <= row["decided"] <= row["reports"]
        assert row["share_actioned"] is None or 0 <= row["share_actioned"] <= 1

    def share(tier: str) -> float:
        chosen = [r for r in rows if r["reporter_tier"] == tier]
        return sum(r["actioned"] for r in chosen) / sum(r["decided"] for r in chosen)

    assert share("trusted_flagger") > share("public") + 0.1, "trusted flaggers' notices are founded more often"
    assert any(r["reporter"] == "(anonymous)" for r in rows)


def test_cybertips_and_dsa_tables_add_up(lake: Lake, generated: tuple[Path, Summary]) -> None:
    filings = latest(generated[1], "ncmec_filings")
    cybertips = answer(lake, "cybertips_filed")
    assert sum(row["filings"] for row in cybertips) == len(filings) > 0
    assert sum(row["finished"] for row in cybertips) == sum(f["stage"] == "FINISHED" for f in filings)
    notices = answer(lake, "dsa_notices_by_category_and_source")
    assert sum(row["notices"] for row in notices) == REPORTS
    assert {row["source_type"] for row in notices} == {"SOURCE_ARTICLE_16", "SOURCE_TRUSTED_FLAGGER"}
    timed = answer(lake, "dsa_median_time_to_action")
    assert all(row["median_hours_to_decision"] >= 0 for row in timed)
    assert sum(row["notices_decided"] for row in timed) <= REPORTS


def test_latest_state_holds_one_row_per_key_the_same_as_the_portable_view(lake: Lake) -> None:
    for table in TABLES.values():
        key = ", ".join(f'"{k}"' for k in table.key)
        total, distinct = lake.run(f"select count(*), count(distinct ({key})) from {table.name}").rows[0]
        assert total == distinct > 0, table.name
        changes = lake.run(f"select count(*) from {table.changes_name}").rows[0][0]
        assert changes >= total
        # Athena's view (the portable SQL) keeps exactly the rows DuckDB's materialised state does.
        portable = latest_view_sql(table)
        differ = lake.run(
            f"select count(*) from (({portable}) except (select * from {table.name})"
            f" union all (select * from {table.name}) except ({portable}))"
        ).rows[0][0]
        assert differ == 0, table.name


def test_a_rewritten_batch_replaces_its_file_and_a_replayed_one_is_not_counted_twice(
    generated: tuple[Path, Summary], tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    shutil.copytree(generated[0], root)
    with Lake(root) as lake:
        lake.refresh()
        before = lake.run("select count(*) from reports_changes").rows[0][0]
        batch = sorted((root / "reports").glob("dt=*/*.parquet"))[len(list((root / "reports").glob("dt=*"))) // 2]
        rows = pq.read_table(batch)
        # A redelivered stream batch: the same first sequence number, so the same file, written again.
        write_batches(root, "reports", rows)
        assert lake.refresh() == ["reports"], "the rewritten file is noticed (and no other table recomputed)"
        assert lake.run("select count(*) from reports_changes").rows[0][0] == before
        assert lake.run("select count(*) from reports").rows[0][0] == REPORTS
        # A replay under another name (a bisected redelivery starting later): more change rows, the same reports.
        replay = rows.set_column(
            rows.schema.get_field_index("sequence"),
            "sequence",
            pa.array([s[:-1] + "9" for s in rows["sequence"].to_pylist()]),
        )
        pq.write_table(replay, batch.with_name("9" + batch.name))
        assert lake.run("select count(*) from reports_changes").rows[0][0] == before + rows.num_rows
        assert lake.run("select count(*), count(distinct report_id) from reports").rows[0] == (REPORTS, REPORTS)


def test_a_batch_written_after_the_lake_was_opened_is_seen_by_the_next_query(
    generated: tuple[Path, Summary], tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    shutil.copytree(generated[0], root, ignore=shutil.ignore_patterns("ncmec_filings"))
    with Lake(root) as lake:
        assert lake.run("select count(*) from ncmec_filings").rows[0][0] == 0, "no files yet: no rows, no error"
        write_batches(root, "ncmec_filings", generated[1].tables["ncmec_filings"])
        assert lake.run("select count(*) from ncmec_filings").rows[0][0] == len(latest(generated[1], "ncmec_filings"))


def test_the_xlsx_export_opens_with_the_same_rows_and_typed_cells(lake: Lake, tmp_path: Path) -> None:
    result = lake.run_file(canned_queries()["overdue_cases"])
    path = tmp_path / "overdue.xlsx"
    to_xlsx(result, path)
    sheet = load_workbook(path).active
    assert sheet is not None
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[0] == result.columns
    assert len(cells) - 1 == len(result.rows)
    for written, row in zip(cells[1:], result.rows, strict=True):
        assert written[0] == row[0]
        assert isinstance(written[5], int) and written[5] == row[5]  # report_count: a number, not text
        assert isinstance(written[6], datetime) and abs(written[6] - row[6]) < timedelta(milliseconds=1)
        # hours_overdue: a number (Excel keeps no int/float apart, so a whole one reads back as an int).
        assert isinstance(written[8], int | float) and written[8] == pytest.approx(row[8])
    assert sheet.freeze_panes == "A2"


def test_csv_and_text_exports_carry_a_header_and_every_row(lake: Lake) -> None:
    result = lake.run_file(canned_queries()["reports_per_case"])
    out = io.StringIO()
    to_csv(result, out)
    lines = out.getvalue().splitlines()
    assert lines[0] == ",".join(result.columns)
    assert len(lines) == len(result.rows) + 1
    text = to_text(result)
    assert text.splitlines()[0].split(" | ")[0].strip() == "reports_per_case"
    assert text.endswith(f"({len(result.rows)} rows)")


def test_the_cli_prints_a_query_writes_csv_and_xlsx_and_reads_statements_at_a_prompt(
    generated: tuple[Path, Summary], tmp_path: Path
) -> None:
    root = str(generated[0])
    printed = io.StringIO()
    assert sql_cli.main(["--lake", root, "--query", "select count(*) as n from reports"], stdout=printed) == 0
    assert f"{REPORTS:,}" in printed.getvalue()
    out = tmp_path / "cases.csv"
    query = "infra/queries/reports_per_case.sql"
    assert sql_cli.main(["--lake", root, "--file", query, "--format", "csv", "--out", str(out)]) == 0
    assert out.read_text().splitlines()[0] == "reports_per_case,cases,reports,largest_case"
    xlsx = tmp_path / "cases.xlsx"
    assert sql_cli.main(["--lake", root, "--file", query, "--format", "xlsx", "--out", str(xlsx)]) == 0
    assert load_workbook(xlsx).active is not None
    with pytest.raises(SystemExit):
        sql_cli.main(["--lake", root, "--query", "select 1", "--format", "xlsx"])
    typed = io.StringIO("select count(*) as n\nfrom cases;\nselect nonsense;\nselect 41 + 1 as answer;\n")
    shown = io.StringIO()
    assert sql_cli.main(["--lake", root], stdin=typed, stdout=shown) == 0
    assert "error:" in shown.getvalue() and "42" in shown.getvalue()
    assert f"{len(latest(generated[1], 'cases')):,}" in shown.getvalue()
