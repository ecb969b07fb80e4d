"""In-memory stand-ins for the adapters, so domain tests need neither AWS nor moto."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.domain.reports import ReportRecord


@dataclass
class MemoryReportStore:
    """Behaves like the table's conditional put: the first write of a key wins, later ones get the original."""

    items: dict[str, ReportRecord] = field(default_factory=dict)
    writes: int = 0
    reads: int = 0

    def put_new(self, report: ReportRecord) -> ReportRecord | None:
        self.writes += 1
        existing = self.items.get(report.key_hex)
        if existing is not None:
            return existing
        self.items[report.key_hex] = report
        return None

    def get(self, key_hex: str) -> ReportRecord | None:
        self.reads += 1
        return self.items.get(key_hex)
