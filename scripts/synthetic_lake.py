"""A year of synthetic abuse reports written straight into the lake's layout (shared/lake/schema.py).

`python -m scripts.synthetic_lake --lake DIR --reports N [--seed S] [--end 2026-12-01T00:00:00]`

Deterministic given the seed and the end. What it imitates, because the canned questions are about exactly this:
- a heavy tail of reports per case: most cases have one report, a Zipf tail has hundreds, and a few viral URLs have
  thousands within hours or days;
- bursty reporters: feed partners that dump thousands of reports about distinct resources within an hour;
- repeat offenders: URL hosts and buckets drawn with a power-law popularity, so a few hold many cases;
- reporters of differing accuracy (trusted flaggers mostly right, two signed reporters mostly wrong);
- decisions with log-normal delays by severity (a tail past the SLA, a backlog never decided), reopening after a
  decision that did not restrict, a standing restriction completing later reports at once, a few releases;
- child-safety cases with custody chains and CyberTipline filings (a few failed or in doubt).

Rows are change rows as the stream writer would write them: a report's QUEUED, PROCESSING and COMPLETED states, a
case's state after each hour's batch and each decision, and so on. Each table's rows of one UTC day go into one file
(as a daily compaction would leave them; the stream writer writes smaller ones), named by its first sequence number.
No contact details, names or IPs of reporters exist here to begin with: reporters are partner names or keyed hashes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from shared.domain.callers import TrustTier
from shared.domain.cases import MAX_REPORTERS_KEPT, case_id_for, family_of
from shared.domain.casework import DEFAULT_SLA
from shared.domain.policy import Severity, decide
from shared.domain.quarantine import object_id
from shared.lake.schema import (
    FILE_SUFFIX,
    TABLES,
    TEMPORARY_SUFFIX,
    TIER_NAMES,
    batch_path,
    dsa_category_of,
    reporter_label,
)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
REPORTER_KEY = b"synthetic-lake"  # the keyed hash's key; a real lake's comes from the server secret
CROCKFORD = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", dtype=np.uint8)

# (category, type, share of cases)
TYPE_MIX: tuple[tuple[str, str, float], ...] = (
    ("content", "phishing", 0.24),
    ("content", "malware", 0.08),
    ("content", "fraud", 0.04),
    ("content", "exposed_data", 0.02),
    ("content", "brand_infringement", 0.02),
    ("content", "csam", 0.004),
    ("content", "csem", 0.002),
    ("messaging", "spam", 0.16),
    ("messaging", "bulk_messaging", 0.03),
    ("connection", "ddos", 0.04),
    ("connection", "login_attack", 0.06),
    ("connection", "port_scan", 0.05),
    ("connection", "scraping", 0.02),
    ("copyright", "copyright", 0.08),
    ("copyright", "cyberlocker", 0.02),
    ("infrastructure", "botnet", 0.03),
    ("infrastructure", "compromised_server", 0.03),
    ("vulnerability", "open_service", 0.03),
    ("vulnerability", "cve", 0.01),
    ("reputation", "blocklist", 0.03),
    ("reputation", "threat_intelligence", 0.02),
)
VIRAL_TYPES = ("phishing", "phishing", "malware", "csam", "fraud", "phishing", "brand_infringement", "malware")
BURST_TYPES = (("reputation", "blocklist"), ("connection", "login_attack"), ("vulnerability", "open_service"))
KINDS = ("object", "url", "domain", "ip")
# P(object, url, domain, ip) of a case's resource, by category (child safety apart).
KIND_MIX = {
    "content": (0.15, 0.85, 0.0, 0.0),
    "child_safety": (0.7, 0.3, 0.0, 0.0),
    "copyright": (0.2, 0.8, 0.0, 0.0),
    "messaging": (0.0, 0.4, 0.6, 0.0),
    "reputation": (0.0, 0.0, 0.4, 0.6),
}
IP_ONLY = (0.0, 0.0, 0.0, 1.0)
REASONS = (
    "ACTIONED",
    "REVIEWED_NO_AWS_ACTION",
    "CONTENT_DOWN_OR_INACCESSIBLE",
    "NOT_RESOLVABLE_TO_AWS",
    "NEED_MORE_INFORMATION",
)
NOT_ACTIONED_MIX = (0.6, 0.2, 0.1, 0.1)
# Median hours from first report to decision, by severity; log-normal with sigma 1, so the p90 is 3.6 times it.
DECISION_MEDIAN_HOURS = {Severity.P0: 0.35, Severity.P1: 1.5, Severity.P2: 9.0, Severity.P3: 28.0}
NEVER_DECIDED = {Severity.P0: 0.0, Severity.P1: 0.01, Severity.P2: 0.04, Severity.P3: 0.08}
RELEASE_SHARE = 0.03
CUSTODY_STEP = {"RESTRICT": "restricted", "RELEASE": "released"}
ANALYSTS = tuple(f"analyst-{n:02d}" for n in range(1, 13))
CHILD_SAFETY_ANALYSTS = ("cs-analyst-1", "cs-analyst-2", "cs-analyst-3")
PARTNER_NAMES = tuple(
    f"{first} {second}"
    for first in ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adatum")
    for second in ("CERT", "Security", "Threat Labs", "Brand Protection", "Hotline")
)
TRUSTED_FLAGGERS = 6  # the first partners are trusted flaggers (DSA Art. 22)
FEED_PARTNERS = (7, 8, 9, 10)  # partners whose feeds arrive in bursts
SIGNED_REPORTERS = 2_000
ABUSIVE_SIGNED = (2, 5)  # signed reporters whose notices are almost never founded (DSA Art. 23)


@dataclass
class Summary:
    reports: int
    cases: int
    rows: dict[str, int]
    files: int
    bytes: int
    seconds: float
    tables: dict[str, pa.Table] = field(default_factory=dict)  # every change row written, when asked to keep them


def _ulids(rng: np.random.Generator, ms: np.ndarray) -> pa.Array:
    """ULIDs (Crockford base32: 48 bits of milliseconds, 80 random bits) for the given times, as report ids are."""
    shifts = np.arange(45, -1, -5, dtype=np.int64)
    chars = np.empty((len(ms), 26), dtype=np.uint8)
    chars[:, :10] = CROCKFORD[(ms[:, None] >> shifts[None, :]) & 31]
    chars[:, 10:] = CROCKFORD[rng.integers(0, 32, size=(len(ms), 16))]
    return pa.array(np.ascontiguousarray(chars).view("S26").ravel()).cast(pa.string())


def _strings(names: Sequence[str | None], codes: np.ndarray) -> pa.Array:
    """names[codes], through a dictionary (fast for millions of rows); a code of -1 or a None name is null."""
    dictionary = pa.array([name or "" for name in names], type=pa.string())
    missing = np.array([name is None for name in names])
    mask = (codes < 0) | missing[np.maximum(codes, 0)]
    indices = pa.array(np.maximum(codes, 0).astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())


def _times(ms: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(ms.astype(np.int64), type=pa.timestamp("ms"), mask=mask)


def _sequences(changed_ms: np.ndarray, offset: int) -> pa.Array:
    """Stream-like sequence numbers: decimal, increasing with time, 21 digits (so text order is numeric order)."""
    counter = pa.array((np.arange(len(changed_ms), dtype=np.int64) + offset) % 10_000_000).cast(pa.string())
    moment = pa.array(changed_ms.astype(np.int64)).cast(pa.string())
    return pc.binary_join_element_wise(
        "4", pc.utf8_lpad(moment, width=13, padding="0"), pc.utf8_lpad(counter, width=7, padding="0"), ""
    )


def write_batches(root: Path, name: str, rows: pa.Table) -> tuple[int, int]:
    """The rows of one table, one file per UTC day of changed_at, named by the day's first sequence number; written
    under a temporary name and renamed, so a reader never sees half a file. Returns (files, bytes)."""
    table = TABLES[name]
    rows = rows.select(table.column_names).cast(table.arrow_schema())
    rows = rows.sort_by([("changed_at", "ascending"), ("sequence", "ascending")])
    days = pc.cast(rows["changed_at"], pa.int64()).to_numpy() // DAY_MS
    bounds = np.flatnonzero(np.diff(days)) + 1
    files = written = 0
    for start, stop in zip([0, *bounds.tolist()], [*bounds.tolist(), len(days)], strict=True):
        if start == stop:
            continue
        batch = rows.slice(start, stop - start)
        day = datetime.fromtimestamp(int(days[start]) * 86_400, UTC).date()
        path = root / batch_path(name, day, str(batch["sequence"][0]))
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name.removesuffix(FILE_SUFFIX) + TEMPORARY_SUFFIX)
        pq.write_table(batch, temporary, compression="zstd")
        os.replace(temporary, path)
        files += 1
        written += path.stat().st_size
    return files, written


class _Rows:
    """Columns of one table's change rows, gathered from Python loops and turned into Arrow once."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {}

    def add(self, **values: Any) -> None:
        for name, value in values.items():
            self.columns.setdefault(name, []).append(value)

    def table(self, name: str) -> pa.Table:
        schema = TABLES[name].arrow_schema()
        data = {}
        length = max((len(values) for values in self.columns.values()), default=0)
        for column in schema:
            values = self.columns.get(column.name, [None] * length)
            if column.type == pa.timestamp("ms"):
                data[column.name] = pa.array(values, type=pa.int64()).cast(pa.timestamp("ms"))
            else:
                data[column.name] = pa.array(values, type=column.type)
        return pa.table(data, schema=schema)


@cache
def _severity(category: str, type_: str, reporters: int) -> Severity:
    return decide(category, type_, TrustTier.PUBLIC, reporters).severity


def generate(
    root: Path | str,
    reports: int,
    seed: int = 16,
    end: datetime | None = None,
    keep_rows: bool = False,
    progress: bool = False,
) -> Summary:
    """Write `reports` synthetic reports (and their cases, decisions, custody events and filings) under `root`."""
    started = time.perf_counter()
    root = Path(root)
    rng = np.random.default_rng(seed)
    end = end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    end_ms = int(end.timestamp() * 1000)
    start_ms = end_ms - 365 * DAY_MS

    def say(message: str) -> None:
        if progress:
            print(f"synthetic_lake: {message} ({time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)

    # --- cases and their sizes -------------------------------------------------------------------------------------
    type_weights = np.array([share for _, _, share in TYPE_MIX])
    sizes: list[np.ndarray] = []
    case_types: list[np.ndarray] = []
    case_starts: list[np.ndarray] = []
    case_style: list[np.ndarray] = []  # 0 ordinary, 1 viral, 2 burst
    burst_partner: list[np.ndarray] = []
    type_index = {type_: i for i, (_, type_, _) in enumerate(TYPE_MIX)}

    # Too few reports for a viral URL or a feed's burst: none, rather than more of them than there are reports.
    viral_count = 8 if reports >= 50_000 else min(8, reports // 1_000)
    viral_weights = rng.pareto(1.2, viral_count) + 1
    viral_sizes = np.maximum(20, (0.06 * reports * viral_weights / viral_weights.sum()).astype(np.int64))
    sizes.append(viral_sizes)
    case_types.append(
        np.array([type_index[VIRAL_TYPES[i % len(VIRAL_TYPES)]] for i in range(viral_count)], dtype=np.int64)
    )
    case_starts.append(rng.integers(start_ms + 30 * DAY_MS, end_ms - 20 * DAY_MS, viral_count))
    case_style.append(np.ones(viral_count, dtype=np.int8))
    burst_partner.append(np.full(viral_count, -1))

    burst_count = min(20, reports // 500)
    burst_size = max(4, int(0.004 * reports))
    for burst in range(burst_count):
        category, type_ = BURST_TYPES[burst % len(BURST_TYPES)]
        sizes.append(np.ones(burst_size, dtype=np.int64))
        case_types.append(np.full(burst_size, type_index[type_]))
        moment = int(rng.integers(start_ms, end_ms - HOUR_MS))
        case_starts.append(moment + rng.integers(0, HOUR_MS, burst_size))
        case_style.append(np.full(burst_size, 2, dtype=np.int8))
        burst_partner.append(np.full(burst_size, FEED_PARTNERS[burst % len(FEED_PARTNERS)]))

    remaining = reports - int(sum(int(s.sum()) for s in sizes))
    cap = max(5, min(3_000, reports // 200))
    ordinary = np.minimum(rng.zipf(2.2, size=max(1, remaining)), cap)
    ordinary = ordinary[: int(np.searchsorted(np.cumsum(ordinary), remaining)) + 1]
    ordinary[-1] -= int(ordinary.sum()) - remaining  # the sizes add up to exactly `reports`
    ordinary = ordinary[ordinary > 0]
    sizes.append(ordinary)
    case_types.append(rng.choice(len(TYPE_MIX), size=len(ordinary), p=type_weights / type_weights.sum()))
    days = rng.integers(0, 365, len(ordinary))
    daytime = (rng.normal(14.0, 4.0, len(ordinary)) % 24) * HOUR_MS
    case_starts.append(start_ms + days * DAY_MS + daytime.astype(np.int64))
    case_style.append(np.zeros(len(ordinary), dtype=np.int8))
    burst_partner.append(np.full(len(ordinary), -1))

    size = np.concatenate(sizes)
    ctype = np.concatenate(case_types)
    t0 = np.minimum(np.concatenate(case_starts), end_ms - 60_000)
    style = np.concatenate(case_style)
    feed = np.concatenate(burst_partner)
    n_cases = len(size)
    say(f"{n_cases:,} cases planned")

    # --- reports: case, time, reporter -----------------------------------------------------------------------------
    case_of = np.repeat(np.arange(n_cases), size)
    first = np.zeros(reports, dtype=bool)
    first[np.concatenate([[0], np.cumsum(size)[:-1]])] = True
    viral = style[case_of] == 1
    long_tail = rng.random(reports) < np.where(viral, 0.2, 0.1)
    scale = np.where(
        viral, np.where(long_tail, 5 * DAY_MS, 6 * HOUR_MS), np.where(long_tail, 10 * DAY_MS, 12 * HOUR_MS)
    )
    offset = np.where(first, 0, rng.exponential(1.0, reports) * scale).astype(np.int64)
    room = np.maximum(1, end_ms - 60_000 - t0[case_of])
    received = t0[case_of] + offset % room  # wrap, not clip, so no pile-up at the end

    # Reporter ids: 0 anonymous, 1..P partners (the first TRUSTED_FLAGGERS trusted), then signed principals.
    partners = len(PARTNER_NAMES)
    kind_draw = rng.random(reports)
    anonymous_share, signed_share, partner_share = np.where(viral, 0.5, 0.3), np.where(viral, 0.25, 0.2), 0.38
    partner_rank = np.minimum(rng.zipf(1.8, reports) - 1, partners - TRUSTED_FLAGGERS - 1) + TRUSTED_FLAGGERS + 1
    trusted_rank = rng.integers(1, TRUSTED_FLAGGERS + 1, reports)
    signed_rank = np.minimum(rng.zipf(1.5, reports) - 1, SIGNED_REPORTERS - 1) + partners + 1
    reporter = np.where(
        kind_draw < anonymous_share,
        0,
        np.where(
            kind_draw < anonymous_share + signed_share,
            signed_rank,
            np.where(kind_draw < anonymous_share + signed_share + partner_share, partner_rank, trusted_rank),
        ),
    )
    bursty = feed[case_of] >= 0
    reporter[bursty] = feed[case_of][bursty] + 1
    signed_labels = [
        reporter_label(f"arn:aws:iam::{100000000000 + k}:role/abuse-reporter", None, REPORTER_KEY)
        for k in range(SIGNED_REPORTERS)
    ]
    labels: list[str | None] = [None, *PARTNER_NAMES, *signed_labels]
    tiers = np.array(
        [TrustTier.PUBLIC]
        + [TrustTier.TRUSTED_FLAGGER] * TRUSTED_FLAGGERS
        + [TrustTier.PARTNER] * (partners - TRUSTED_FLAGGERS)
        + [TrustTier.AUTHENTICATED] * SIGNED_REPORTERS
    )
    accuracy = np.concatenate(
        [
            [0.35],
            rng.uniform(0.85, 0.97, TRUSTED_FLAGGERS),
            rng.uniform(0.45, 0.9, partners - TRUSTED_FLAGGERS),
            rng.beta(2.0, 2.0, SIGNED_REPORTERS),
        ]
    )
    for abusive in ABUSIVE_SIGNED:
        accuracy[partners + 1 + abusive] = 0.05
    source = np.where(reporter == 0, 2, np.where(rng.random(reports) < 0.1, 1, 0))  # xarf4, xarf3, form
    stale = rng.random(reports) < 0.01
    dispatched = received + rng.integers(1_000, 15_000, reports)

    # Sorted by case, then time: each case's reports are one slice.
    order = np.lexsort((received, case_of))
    case_of, received, reporter = case_of[order], received[order], reporter[order]
    source, stale, dispatched = source[order], stale[order], dispatched[order]
    bounds = np.concatenate([[0], np.cumsum(size)])
    pair = case_of.astype(np.int64) * (len(labels) + 1) + reporter
    _, first_of_pair = np.unique(pair, return_index=True)
    new_reporter = np.zeros(reports, dtype=np.int64)
    new_reporter[first_of_pair] = 1
    running = np.cumsum(new_reporter)
    running = np.minimum(
        running - np.repeat(running[bounds[:-1]] - new_reporter[bounds[:-1]], size), MAX_REPORTERS_KEPT
    )
    say("reports drawn")

    # --- per case: resource, decisions, the reports' completions, case rows, custody, filings -----------------------
    host_count = max(50, n_cases // 8)
    host_weights = 1.0 / (np.arange(host_count) + 10.0) ** 1.1
    host_of = rng.choice(host_count, size=n_cases, p=host_weights / host_weights.sum())
    kind_draw_case = rng.random(n_cases)
    delay_draw = rng.standard_normal((n_cases, 3))
    uniform = rng.random((n_cases, 8))
    completed = np.full(reports, -1, dtype=np.int64)
    completed_reason = np.full(reports, -1, dtype=np.int64)
    case_ids: list[str] = []
    cases, decisions, custody, filings = _Rows(), _Rows(), _Rows(), _Rows()
    decision_times: list[int] = []

    for c in range(n_cases):
        category, type_, _ = TYPE_MIX[int(ctype[c])]
        family = family_of(category, type_)
        mix = KIND_MIX.get(family if family == "child_safety" else category, IP_ONLY)
        kind = KINDS[int(np.searchsorted(np.cumsum(mix), kind_draw_case[c] * sum(mix), side="right"))]
        if kind == "object":
            host = f"customer-bucket-{host_of[c]:05d}"
            resource = f"s3://{host}/uploads/{c:08d}.bin"
        elif kind == "url":
            host = f"shop-{host_of[c]:05d}.example.net"
            resource = f"https://{host}/{type_}/{c:08d}/index.html"
        elif kind == "domain":
            host = resource = f"mail-{c:08d}.example.org"
        else:
            host = resource = f"52.{(c >> 16) & 255}.{(c >> 8) & 255}.{c & 255}"
        case_id = case_id_for(resource, family)
        case_ids.append(case_id)
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        times = received[lo:hi]
        seen = dispatched[lo:hi]
        final_reporters = int(running[hi - 1])
        severity = _severity(category, type_, min(final_reporters, 5))
        first_reporter = int(reporter[lo])
        child_safety = family == "child_safety"
        # Viral and child-safety reports are nearly always founded; otherwise the case's first reporter decides.
        p_actioned = 0.97 if style[c] == 1 or child_safety else float(accuracy[first_reporter])

        # Decisions: the first after a log-normal delay; a reopening (a report after a decision that did not
        # restrict) gets a second; a restriction is sometimes released later.
        decided: list[tuple[int, int, str, str]] = []  # (time, reason index, action, analyst)
        u = uniform[c]
        if u[0] >= NEVER_DECIDED[severity]:
            # Never before the dispatcher counted the report: a decision is on a case that exists.
            hours = np.exp(np.log(DECISION_MEDIAN_HOURS[severity]) + delay_draw[c, 0])
            d1 = max(int(times[0] + hours * HOUR_MS), int(seen[0]) + 1_000)
            for attempt in range(2):
                if d1 > end_ms:
                    break
                actioned = u[1 + attempt] < p_actioned
                reason = 0 if actioned else 1 + int(np.searchsorted(np.cumsum(NOT_ACTIONED_MIX), u[3 + attempt]))
                action = "RESTRICT" if actioned and kind == "object" else "NONE"
                pool = CHILD_SAFETY_ANALYSTS if child_safety else ANALYSTS
                decided.append((d1, min(reason, 4), action, pool[int(u[5] * len(pool)) % len(pool)]))
                if action == "RESTRICT":
                    release = d1 + int((2 + 8 * u[6]) * DAY_MS)
                    if u[7] < RELEASE_SHARE and release <= end_ms:
                        decided.append((release, 1, "RELEASE", pool[(int(u[5] * len(pool)) + 1) % len(pool)]))
                    break
                later = np.flatnonzero(times > d1)
                if not len(later):
                    break
                hours = np.exp(np.log(DECISION_MEDIAN_HOURS[severity]) + delay_draw[c, 1])
                d1 = max(int(times[later[0]] + hours * HOUR_MS), int(seen[later[0]]) + 1_000)

        # Each report is completed by the first decision after it, or at once while a restriction stands.
        for k in range(lo, hi) if decided else ():
            before = [d for d in decided if d[0] <= received[k]]
            if before and before[-1][2] == "RESTRICT":
                completed[k], completed_reason[k] = dispatched[k] + 500, before[-1][1]
                continue
            after = next((d for d in decided if d[0] > received[k]), None)
            if after is not None and after[0] + 5_000 + (k % 55) * 1_000 <= end_ms:
                completed[k], completed_reason[k] = after[0] + 5_000 + (k % 55) * 1_000, after[1]

        # The case's rows: one per hour of reports (the dispatcher's batches), one per decision.
        events: list[tuple[int, int, int]] = []  # (time, 0 batch / 1 decision, index)
        if hi - lo == 1:
            events.append((int(seen[0]), 0, 0))
        else:
            hours = (times // HOUR_MS).astype(np.int64)
            epoch = np.searchsorted(np.array([d[0] for d in decided], dtype=np.int64), times)
            bucket = hours * 4 + epoch
            last = np.flatnonzero(np.diff(bucket)).tolist() + [hi - lo - 1]
            events += [(int(seen[i]), 0, i) for i in last]
        events += [(moment, 1, j) for j, (moment, *_rest) in enumerate(decided)]
        events.sort()
        status, decided_at, reason_code, action_now = "OPEN", None, None, None
        count = 0
        for moment, what, index in events:
            if moment > end_ms:
                continue
            if what == 0:
                count = index + 1
                if status == "DECIDED" and action_now != "RESTRICT" and times[index] > (decided_at or 0):
                    status = "OPEN"
            else:
                decided_at, reason, action_now, analyst = decided[index]
                reason_code = REASONS[reason]
                status = "DECIDED"
                decision_id = hashlib.sha256(f"{case_id}/{index}".encode()).hexdigest()[:26].upper()
                decisions.add(
                    decision_id=decision_id,
                    case_id=case_id,
                    decided_at=decided_at,
                    reason_code=reason_code,
                    action=action_now,
                    analyst=analyst,
                    changed_at=decided_at,
                )
                decision_times.append(decided_at)
            reporters_now = int(running[lo + count - 1])
            severity_now = _severity(category, type_, min(reporters_now, 5))
            cases.add(
                case_id=case_id,
                severity=str(severity_now),
                category=category,
                type=type_,
                family=family,
                resource=resource,
                resource_kind=kind,
                host=host,
                report_count=count,
                reporter_count=reporters_now,
                first_seen=int(times[0]),
                last_seen=int(times[count - 1]),
                due_at=int(times[0] + DEFAULT_SLA[severity_now].total_seconds() * 1000),
                status=status,
                decided_at=decided_at,
                reason_code=reason_code,
                action=action_now,
                changed_at=moment + 200 * what,
            )

        if kind == "object":
            oid = object_id(host, f"uploads/{c:08d}.bin", f"v{c:08d}")
            digest = hashlib.sha256(oid.encode()).hexdigest()
            object_size = int(2_000 + 400_000 * u[6])
            base = int(seen[0]) + 3_000
            steps = [("preserved", base, ""), ("verified", base + 2_000, "")]
            if child_safety or tiers[first_reporter] >= TrustTier.TRUSTED_FLAGGER:
                steps.append(("restricted", base + 4_000, str(received[lo])))
            for moment, _reason, action, _analyst in decided:
                if action in ("RESTRICT", "RELEASE"):
                    steps.append((CUSTODY_STEP[action], moment + 10_000, f"decision-{moment}"))
            if child_safety:
                opened = base + 60_000 + int(u[4] * 600_000)
                outcome = u[3]
                stage = "FINISHED" if outcome < 0.95 else "FAILED" if outcome < 0.98 else "IN_DOUBT"
                finished = opened + int(np.exp(np.log(8.0) + delay_draw[c, 2]) * 60_000)
                ncmec_id = str(100_000_000 + c)
                rows = [("NEW", base + 30_000), ("SUBMITTED", opened), (stage, finished)]
                for filing_stage, moment in rows:
                    if moment > end_ms:
                        break
                    filings.add(
                        case_id=case_id,
                        stage=filing_stage,
                        report_id=None if filing_stage == "NEW" else ncmec_id,
                        started_at=base + 30_000,
                        opened_at=None if filing_stage == "NEW" else opened,
                        finished_at=finished if filing_stage == "FINISHED" else None,
                        files=1,
                        submissions=0 if filing_stage == "NEW" else 1,
                        problem_code=None if filing_stage in ("NEW", "SUBMITTED", "FINISHED") else 5000 + int(u[2] * 8),
                        changed_at=moment,
                    )
                if stage == "FINISHED" and finished <= end_ms:
                    steps.append(("reported", finished + 1_000, ncmec_id))
            for step, moment, occurrence in steps:
                if moment > end_ms:
                    continue
                custody.add(
                    object_id=oid,
                    step=step,
                    at=moment,
                    by=("CyberTiplineFunction/" if step == "reported" else "QuarantineFunction/") + digest[:12],
                    case_id=case_id,
                    report_id=None,
                    sha256=digest,
                    size=object_size,
                    occurrence=occurrence,
                    changed_at=moment,
                )
    say("cases decided")

    # --- the reports' change rows ----------------------------------------------------------------------------------
    category_names = [category for category, _, _ in TYPE_MIX]
    type_names = [type_ for _, type_, _ in TYPE_MIX]
    report_type = ctype[case_of]
    report_ids = _ulids(rng, received)
    common = {
        "report_id": report_ids,
        "received_at": _times(received),
        "category": _strings(category_names, report_type),
        "type": _strings(type_names, report_type),
        "dsa_category": _strings([dsa_category_of(t) for t in type_names], report_type),
        "reporter": _strings(labels, reporter),
        "reporter_tier": _strings([TIER_NAMES[TrustTier(int(t))] for t in tiers], reporter),
        "source_format": _strings(["xarf4", "xarf3", "form"], source),
        "stale": pa.array(stale),
    }
    nothing = np.full(reports, -1)
    parts = []
    for state, when, case_codes, reasons in (
        ("QUEUED", received, nothing, nothing),
        ("PROCESSING", dispatched, case_of, nothing),
        ("COMPLETED", completed, case_of, completed_reason),
    ):
        keep = (when >= 0) & (when <= end_ms)
        part = pa.table(
            {
                **common,
                "case_id": _strings(case_ids, case_codes),
                "status": pa.array(np.full(reports, state)),
                "reason_code": _strings(list(REASONS), reasons),
                "changed_at": _times(when),
            }
        )
        parts.append(part.filter(pa.array(keep)))
    report_rows = pa.concat_tables(parts)
    say(f"{report_rows.num_rows:,} report rows")

    tables = {
        "reports": report_rows,
        "cases": cases.table("cases"),
        "decisions": decisions.table("decisions"),
        "custody_events": custody.table("custody_events"),
        "ncmec_filings": filings.table("ncmec_filings"),
    }
    files = written = 0
    numbered = 0
    for name, rows in tables.items():
        changed = pc.cast(rows["changed_at"], pa.int64()).to_numpy(zero_copy_only=False)
        if "sequence" in rows.column_names:
            rows = rows.drop_columns(["sequence"])
        rows = rows.append_column("sequence", _sequences(changed, numbered))
        numbered += rows.num_rows
        tables[name] = rows
        table_files, table_bytes = write_batches(root, name, rows)
        files += table_files
        written += table_bytes
    say(f"{files:,} files, {written / 1e6:.1f} MB written")
    return Summary(
        reports=reports,
        cases=n_cases,
        rows={name: rows.num_rows for name, rows in tables.items()},
        files=files,
        bytes=written,
        seconds=time.perf_counter() - started,
        tables=tables if keep_rows else {},
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.synthetic_lake", description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True, help="the lake's root directory (holds reports/, ...)")
    parser.add_argument("--reports", type=int, default=100_000, help="how many reports (default 100,000)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--end", type=datetime.fromisoformat, help="the year's end, UTC (default: this hour)")
    args = parser.parse_args(argv)
    if args.reports < 1:
        parser.error("--reports must be at least 1")
    end = args.end.replace(tzinfo=args.end.tzinfo or UTC) if args.end else None
    summary = generate(args.lake, args.reports, seed=args.seed, end=end, progress=True)
    print(
        f"{summary.reports:,} reports in {summary.cases:,} cases: {summary.files:,} files, "
        f"{summary.bytes:,} bytes ({summary.bytes / summary.reports:.1f} per report) in {summary.seconds:.1f} s; "
        + ", ".join(f"{name} {count:,} rows" for name, count in summary.rows.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
