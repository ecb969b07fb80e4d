"""`make report`: the metrics report over a lake, for the people who decide, as one self-contained HTML page and one
XLSX workbook (a sheet per canned question).

Every canned question of infra/queries runs once (shared.lake.duck, the same text Athena runs); four of them get a
chart (matplotlib, drawn to PNG and embedded as data: URLs, so the page opens anywhere, offline, and can be mailed):
reports per week by category, time to decision against the SLA by severity, the resources with the most cases, and
reporters' accuracy against their volume. Each question's first rows follow as a table. The page says when it was
made and over which lake. Progress goes to stderr while it builds.

    python -m scripts.report --lake DIR --out DIR
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from shared.lake.duck import Lake, Result, canned_queries, write_sheet

ROWS_SHOWN = 15  # of each question on the page; the workbook has them all

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>abuse-intake metrics, {{ made }}</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem; color: #1b1b1b; }
  h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
  .meta { color: #555; margin-top: 0; }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; }
  figure { margin: 0; border: 1px solid #ddd; padding: .5rem; } figure img { width: 100%; height: auto; }
  figcaption { font-weight: 600; margin-bottom: .3rem; }
  .scroll { overflow-x: auto; } .scroll:focus { outline: 3px solid #1d70b8; }
  table { border-collapse: collapse; font-size: .85rem; }
  th, td { border-bottom: 1px solid #e3e3e3; padding: .25rem .5rem; text-align: left; white-space: nowrap; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
</style>
</head>
<body>
<main>
<h1>abuse-intake metrics</h1>
<p class="meta">Made {{ made }} (UTC) over the lake at <code>{{ lake }}</code>:
{{ questions | length }} canned questions, the workbook <code>{{ workbook }}</code> holds every row.</p>
<section aria-labelledby="charts"><h2 id="charts">Charts</h2>
<div class="charts">
{% for chart in charts %}<figure><figcaption>{{ chart.title }}</figcaption>
<img src="{{ chart.src }}" alt="{{ chart.alt }}"></figure>
{% endfor %}</div></section>
{% for q in questions %}<section aria-labelledby="{{ q.name }}"><h2 id="{{ q.name }}">{{ q.title }}</h2>
<p class="meta">{{ q.count }} rows{% if q.count > q.rows | length %}, the first {{ q.rows | length }} shown{% endif %}
 (<code>infra/queries/{{ q.name }}.sql</code>)</p>
<div class="scroll" tabindex="0" role="region" aria-label="{{ q.title }}, rows">
<table><thead><tr>{% for c in q.columns %}<th scope="col">{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in q.rows %}<tr>{% for cell in row %}<td{% if cell.number %} class="n"{% endif %}>{{ cell.text }}</td>
{% endfor %}</tr>{% endfor %}</tbody></table></div></section>
{% endfor %}</main>
</body>
</html>
"""


def _png(draw: Callable[[Any], None]) -> str:
    """A chart drawn on a fresh figure, as a data: URL (Agg: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=110)
    try:
        draw(axes)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _records(result: Result) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def _weekly_by_category(result: Result) -> Callable[[Any], None]:
    weeks: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for record in _records(result):
        day = record["day"]
        weeks[record["category"]][day - timedelta(days=day.weekday())] += int(record["reports"] or 0)

    def draw(axes: Any) -> None:
        for category, counts in sorted(weeks.items(), key=lambda item: -sum(item[1].values())):
            axes.plot(sorted(counts), [counts[week] for week in sorted(counts)], label=category, linewidth=1.4)
        axes.set_ylabel("reports per week")
        axes.legend(fontsize=7, ncol=2)

    return draw


def _time_to_decision(result: Result) -> Callable[[Any], None]:
    records = sorted(_records(result), key=lambda record: str(record["severity"]))

    def draw(axes: Any) -> None:
        names = [str(record["severity"]) for record in records]
        places = range(len(names))
        axes.bar([p - 0.27 for p in places], [float(r["median_hours"] or 0) for r in records], 0.27, label="median")
        axes.bar(list(places), [float(r["p90_hours"] or 0) for r in records], 0.27, label="p90")
        axes.bar([p + 0.27 for p in places], [float(r["sla_hours"] or 0) for r in records], 0.27, label="SLA")
        axes.set_xticks(list(places), names)
        axes.set_ylabel("hours from first report to decision")
        axes.set_yscale("symlog")
        axes.legend(fontsize=8)

    return draw


def _top_resources(result: Result) -> Callable[[Any], None]:
    records = _records(result)[:10][::-1]

    def draw(axes: Any) -> None:
        labels = [f"{record['kind']} {str(record['host'] or '')[:36]}" for record in records]
        axes.barh(labels, [int(record["cases"]) for record in records])
        axes.set_xlabel("cases in the last 30 days")
        axes.tick_params(axis="y", labelsize=7)

    return draw


def _reporter_accuracy(result: Result) -> Callable[[Any], None]:
    records = [record for record in _records(result) if record.get("share_actioned") is not None]

    def draw(axes: Any) -> None:
        axes.scatter([int(r["reports"]) for r in records], [float(r["share_actioned"]) for r in records], s=12)
        axes.set_xscale("log")
        axes.set_xlabel("reports sent")
        axes.set_ylabel("share actioned")
        axes.set_ylim(-0.05, 1.05)

    return draw


# Which question each chart draws, its title, and the words a screen reader gets instead of the picture.
CHARTS: Mapping[str, tuple[str, str, Callable[[Result], Callable[[Any], None]]]] = {
    "reports_cases_per_category_per_day": (
        "Reports per week, by category",
        "Line chart of weekly report counts, one line per category",
        _weekly_by_category,
    ),
    "time_to_decision_by_severity": (
        "Time to decision against the SLA, by severity",
        "Bar chart of median and 90th-percentile hours to decision beside each severity's SLA",
        _time_to_decision,
    ),
    "repeat_offenders_30_days": (
        "Resources with the most cases, last 30 days",
        "Horizontal bar chart of the ten resources with the most cases",
        _top_resources,
    ),
    "reporter_accuracy": (
        "Reporters: volume against share actioned",
        "Scatter plot of each reporter's report count against the share of their reports actioned",
        _reporter_accuracy,
    ),
}


def _cell(value: Any) -> dict[str, Any]:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    text = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}" if number else "" if value is None else value
    return {"text": str(text), "number": number}


def build(lake_dir: Path, out_dir: Path, say: Callable[[str], None] = lambda _: None) -> tuple[Path, Path]:
    """Run every canned question over the lake and write report.html and report.xlsx into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Result] = {}
    queries = canned_queries()
    with Lake(lake_dir) as lake:
        for number, (name, path) in enumerate(sorted(queries.items()), start=1):
            say(f"report: question {number} of {len(queries)}: {name}")
            results[name] = lake.run_file(path)
    workbook = out_dir / "report.xlsx"
    _workbook(results, workbook)
    charts = []
    for name, (title, alt, chart) in CHARTS.items():
        if name in results:
            say(f"report: chart {title}")
            charts.append({"title": title, "alt": alt, "src": Markup(_png(chart(results[name])))})
    questions = [
        {
            "name": name,
            "title": name.replace("_", " ").capitalize(),
            "columns": result.columns,
            "rows": [[_cell(value) for value in row] for row in result.rows[:ROWS_SHOWN]],
            "count": len(result.rows),
        }
        for name, result in sorted(results.items())
    ]
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    page = Environment(autoescape=True, undefined=StrictUndefined).from_string(PAGE)
    html = out_dir / "report.html"
    html.write_text(
        page.render(made=made, lake=str(lake_dir), workbook=workbook.name, charts=charts, questions=questions),
        encoding="utf-8",
    )
    say(f"report: {html} and {workbook}")
    return html, workbook


def _workbook(results: Mapping[str, Result], path: Path) -> None:
    """One sheet a question, each laid out as `make sql FORMAT=xlsx` lays its one sheet out."""
    from openpyxl import Workbook  # type: ignore[import-untyped]

    workbook = Workbook()
    first = workbook.active
    for number, (name, result) in enumerate(sorted(results.items())):
        write_sheet(first if number == 0 else workbook.create_sheet(), result, name)
    workbook.save(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.report", description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("report"))
    args = parser.parse_args(argv)
    if not args.lake.is_dir():
        parser.error(f"no lake at {args.lake}")
    build(args.lake, args.out, say=lambda message: print(message, file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
