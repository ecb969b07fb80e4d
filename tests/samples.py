"""Well-formed reports to build tests from. Timestamps are relative to now, so the samples never age out."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

PARTNER = {"org": "Example CERT", "contact": "abuse@cert.example", "domain": "cert.example"}


def recent(hours: float = 1) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat(timespec="seconds").replace("+00:00", "Z")


def xarf(category: str = "content", type_: str = "phishing", **fields: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "xarf_version": "4.2.0",
        "report_id": str(uuid.uuid4()),
        "timestamp": recent(),
        "reporter": dict(PARTNER),
        "sender": dict(PARTNER),
        "source_identifier": "203.0.113.7",
        "category": category,
        "type": type_,
    }
    if category == "content":
        report["url"] = "https://login.example.net/account/verify"
    report.update(fields)
    return report


def body(report: dict[str, Any] | None = None, **envelope: Any) -> bytes:
    return json.dumps({**envelope, "report": report if report is not None else xarf()}).encode()


def with_fresh_timestamp(event: dict[str, Any]) -> dict[str, Any]:
    """An events/*.json API event whose report is moved to the last hour (the files themselves are static)."""
    event = copy.deepcopy(event)
    payload = json.loads(event["body"])
    payload["report"]["timestamp"] = recent()
    event["body"] = json.dumps(payload)
    return event


def _schema_properties(category: str, type_: str) -> dict[str, Any]:
    """Every property the XARF schema for category/type declares, with its examples (read from the xarf package)."""
    from pathlib import Path

    import xarf as xarf_library

    types_dir = Path(xarf_library.__file__).parent / "schemas" / "types"
    properties: dict[str, Any] = {}

    def fold(path: Path) -> None:
        schema = json.loads(path.read_text())
        for part in schema.get("allOf", []):
            ref = part.get("$ref")
            if ref and not ref.endswith("xarf-core.json"):
                fold((path.parent / ref).resolve())
            properties.update(part.get("properties", {}))

    for path in types_dir.glob(f"{category}-*.json"):
        schema = json.loads(path.read_text())
        consts = [
            p["properties"]["type"].get("const") for p in schema.get("allOf", []) if "type" in p.get("properties", {})
        ]
        if type_ in consts:
            fold(path)
    return properties


_FALLBACKS: dict[str, Any] = {
    "string": "example",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "array": [],
    "object": {},
}


def example_value(prop: dict[str, Any]) -> Any:
    if "const" in prop:
        return prop["const"]
    if "enum" in prop:
        return prop["enum"][0]
    if prop.get("examples"):
        return prop["examples"][0]
    if prop.get("format") == "email":
        return "sender@bulk.example"
    if prop.get("pattern") == "^[a-fA-F0-9]{40}$":
        return "a3f1" * 10
    if "minimum" in prop:
        return prop["minimum"]
    if prop.get("format") == "uri":
        return "https://files.example.org/shared/item-1234"
    if prop.get("format") == "date-time":
        return recent(2)
    if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
        return [example_value(prop["items"])]
    if prop.get("type") == "object":
        wanted = set(prop.get("required", []))
        wanted |= {branch["required"][0] for branch in prop.get("anyOf", [])[:1] if branch.get("required")}
        return {name: example_value(sub) for name, sub in prop.get("properties", {}).items() if name in wanted}
    return _FALLBACKS.get(prop.get("type", "string"), "example")


def _top_any_of(category: str, type_: str) -> list[dict[str, Any]]:
    from pathlib import Path

    import xarf as xarf_library

    for path in (Path(xarf_library.__file__).parent / "schemas" / "types").glob(f"{category}-*.json"):
        schema = json.loads(path.read_text())
        if any(p.get("properties", {}).get("type", {}).get("const") == type_ for p in schema.get("allOf", [])):
            return [branch for part in schema.get("allOf", []) for branch in part.get("anyOf", [])]
    return []


def well_formed(category: str, type_: str) -> dict[str, Any]:
    """A minimal report of the given XARF type carrying every field its schema requires, from the schema's examples."""
    from shared.domain.xarf_vocabulary import TYPES

    rules = TYPES[category][type_]
    properties = _schema_properties(category, type_)
    report = xarf(category, type_)
    report.pop("url", None)
    nested = {n: b for part in _top_any_of(category, type_) for n, b in part.get("properties", {}).items()}
    for name in rules["required"]:
        report[name] = example_value({**properties.get(name, {}), **nested.get(name, {})})
    for field, value, needs in rules["required_if"]:
        if report.get(field) == value:
            for name in needs:
                report.setdefault(name, 25 if name == "source_port" else example_value(properties.get(name, {})))
    if rules["required_if_ip_source"]:
        report["source_port"] = 443
    for name in ("first_seen", "last_seen", "registration_date"):
        if name in report:
            report[name] = recent(3)
    return report


# The server secret the unit tests key report ids and receipts with (the integration world makes its own).
SERVER_SECRET = b"unit-tests-server-secret-0123456789abcdef"
