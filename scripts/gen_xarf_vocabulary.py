"""Generate shared/domain/xarf_vocabulary.py from the XARF v4 schemas that the `xarf` package ships.

Why generate: the xarf library validates with jsonschema (hundreds of microseconds a report, and 100+ ms to import),
far over the request path's budget. The intake path instead checks each report against these rules with pydantic,
and tests/unit/test_reports.py holds the two verdicts equal on the specification's own cases.

Run `make vocab` after upgrading xarf; the test above fails when the shipped schemas and this file drift apart.
"""

from __future__ import annotations

import json
import pprint
from importlib import metadata
from pathlib import Path
from typing import Any

import xarf

SCHEMAS = Path(xarf.__file__).parent / "schemas"
SIMPLE_KEYWORDS = (
    "type",
    "enum",
    "const",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "maxLength",
    "minLength",
    "maxItems",
    "minItems",
    "uniqueItems",
)


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def field_rule(schema: dict[str, Any]) -> dict[str, Any]:
    rule = {key: schema[key] for key in SIMPLE_KEYWORDS if key in schema}
    # "one of these formats" (destination_ip: ipv4 or ipv6) and the rule every list item follows.
    formats = [alt["format"] for alt in schema.get("anyOf", []) if set(alt) == {"format"}]
    if formats:
        rule["format_any"] = formats
    if isinstance(schema.get("items"), dict) and (items := field_rule(schema["items"])):
        rule["items"] = items
    return rule


def is_ip_condition(condition: dict[str, Any]) -> bool:
    source = condition.get("properties", {}).get("source_identifier", {})
    return {alt.get("format") for alt in source.get("anyOf", [])} == {"ipv4", "ipv6"}


def collect(schema: dict[str, Any], base: Path, rule: dict[str, Any]) -> None:
    """Fold one schema (and the type-level schemas it references, not the core) into `rule`."""
    for part in schema.get("allOf", []):
        ref = part.get("$ref")
        if ref is None:
            collect(part, base, rule)
        elif not ref.endswith("xarf-core.json"):
            collect(load((base / ref).resolve()), base, rule)
    for name, prop in schema.get("properties", {}).items():
        if name not in ("category", "type"):
            rule["fields"][name] = field_rule(prop)
    rule["required"].extend(name for name in schema.get("required", []) if name not in rule["required"])
    condition, then = schema.get("if"), schema.get("then", {})
    if condition and then.get("required"):
        if is_ip_condition(condition):
            rule["required_if_ip_source"] = sorted(then["required"])
        else:
            ((field, test),) = condition["properties"].items()
            rule["required_if"].append([field, test["const"], sorted(then["required"])])
    # The only anyOf the type schemas use has a single branch: a required object with required members.
    for branch in (part for part in schema.get("anyOf", []) if "required" in part):
        rule["required"].extend(name for name in branch["required"] if name not in rule["required"])
        for name, nested in branch.get("properties", {}).items():
            member = rule["fields"].setdefault(name, {"type": "object"})
            if nested.get("required"):
                member["required"] = nested["required"]
            if nested.get("anyOf"):
                member["required_one_of"] = [alt["required"][0] for alt in nested["anyOf"] if alt.get("required")]


def main() -> None:
    core = load(SCHEMAS / "xarf-core.json")
    types: dict[str, dict[str, Any]] = {}
    for path in sorted((SCHEMAS / "types").glob("*.json")):
        schema = load(path)
        type_const = next(
            (
                part["properties"]["type"]["const"]
                for part in schema.get("allOf", [])
                if "type" in part.get("properties", {})
            ),
            None,
        )
        if type_const is None:  # a category's shared base schema, folded into its types
            continue
        category = path.stem.split("-", 1)[0]
        rule: dict[str, Any] = {"required": [], "fields": {}, "required_if_ip_source": [], "required_if": []}
        collect(schema, path.parent, rule)
        types.setdefault(category, {})[type_const] = rule
    header = (
        f'"""XARF v4 vocabulary and per-type rules, generated from the schemas of xarf=={metadata.version("xarf")}.\n\n'
        "Do not edit: run `make vocab`. See scripts/gen_xarf_vocabulary.py for why this is generated.\n"
        '"""\n\n'
        "from typing import Any\n\n"
    )
    body = (
        f"SPEC_VERSION = {xarf.SPEC_VERSION!r}\n"
        f"CORE_REQUIRED: tuple[str, ...] = {tuple(core['required'])!r}\n"
        f"CORE_FIELDS: frozenset[str] = frozenset({sorted(core['properties'])!r})\n"
        f"CATEGORIES: tuple[str, ...] = {tuple(core['properties']['category']['enum'])!r}\n"
        f"TYPES: dict[str, dict[str, dict[str, Any]]] = {pprint.pformat(types, width=110, sort_dicts=True)}\n"
    )
    print(header + body, end="")


if __name__ == "__main__":
    main()
