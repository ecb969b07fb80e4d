"""The official xarf library's verdict is the floor: what `xarf.parse` accepts we accept, what it refuses we refuse
with the same problems as JSON pointers, except where one of our named rules (shared.domain.xarf) says otherwise.

Checked on the XARF project's published samples (tests/fixtures/xarf, one v4 sample per type, and the v3 samples) and
on a corpus generated from the schemas the library ships: every category and type, with and without each optional
field, and with each required field removed or given a value of the wrong kind.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import xarf as xarf_library

from shared.domain.errors import InvalidReport
from shared.domain.xarf import describe_types, parse_submission
from shared.domain.xarf_vocabulary import CORE_REQUIRED, TYPES
from tests.samples import _schema_properties, example_value, recent, well_formed

FIXTURES = Path(__file__).parent.parent / "fixtures" / "xarf"
V4_SAMPLES = sorted((FIXTURES / "v4").glob("*.json"))
V3_SAMPLES = sorted((FIXTURES / "v3").glob("*.json"))


def library(report: dict[str, Any]) -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xarf_library.parse(copy.deepcopy(report)).errors


def library_pointers(errors: list[Any]) -> set[str]:
    """The library's errors as JSON pointers into a submission (its `field` is dotted; a missing property is named
    in the message)."""
    pointers = set()
    for error in errors:
        path = "/report" + "".join(f"/{part}" for part in error.field.split(".") if part)
        missing = re.match(r"'([^']+)' is a required property", error.message)
        pointers.add(f"{path}/{missing.group(1)}" if missing else path)
    return pointers


def ours(report: dict[str, Any]) -> set[str] | None:
    """None when we accept the report, else the pointers of our refusal."""
    try:
        parse_submission(json.dumps({"report": report}))
    except InvalidReport as refusal:
        return {problem.path for problem in refusal.requirements}
    return None


def assert_same_verdict(report: dict[str, Any]) -> None:
    theirs, mine = library(report), ours(report)
    if not theirs:
        assert mine is None, f"the xarf library accepts this report, we refused it at {mine}"
        return
    assert mine is not None, f"the xarf library refuses this report ({theirs}), we accepted it"
    for pointer in library_pointers(theirs):
        # One side may point at an object where the other names the member in it.
        assert any(pointer == p or pointer.startswith(p + "/") or p.startswith(pointer + "/") for p in mine), (
            pointer,
            mine,
        )


def load(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text())
    return report


# ---------------------------------------------------------------------------------------------------------------
# The published samples
# ---------------------------------------------------------------------------------------------------------------


def test_there_is_one_published_v4_sample_for_every_type():
    covered = sorted((load(path)["category"], load(path)["type"]) for path in V4_SAMPLES)
    assert covered == sorted(describe_types()) and len(covered) == 32


@pytest.mark.parametrize("path", V4_SAMPLES, ids=lambda path: path.stem)
def test_every_published_v4_sample_is_accepted_as_it_is(path):
    report = load(path)
    assert library(report) == [], "the xarf library accepts the sample"
    submission = parse_submission(path.read_bytes().join([b'{"report": ', b"}"]))
    assert (submission.report.category, submission.report.type) == (report["category"], report["type"])
    assert submission.report.stale, "the samples are from January 2025: accepted, and marked stale"


@pytest.mark.parametrize("path", V3_SAMPLES, ids=lambda path: path.stem)
def test_every_published_v3_sample_gets_the_libraries_verdict(path):
    report = load(path)
    try:
        errors = library(report)
    except xarf_library.XARFParseError as cannot:
        with pytest.raises(InvalidReport) as refused:
            parse_submission(json.dumps({"report": report}))
        (problem,) = refused.value.requirements
        assert (problem.path, problem.code) == ("/report/Report", "rule.xarf_v3.not_convertible")
        assert str(cannot).split(". Supported", 1)[0] in problem.message, "the library's reason, in its words"
        return
    mine = ours(report)
    if not errors:
        assert mine is None
    else:
        assert mine is not None and library_pointers(errors) <= mine


def test_the_v3_samples_cover_acceptance_refusal_and_a_failed_conversion():
    verdicts = set()
    for path in V3_SAMPLES:
        try:
            verdicts.add("refused" if library(load(path)) else "accepted")
        except xarf_library.XARFParseError:
            verdicts.add("not convertible")
    assert verdicts == {"accepted", "refused", "not convertible"}


SAMPLE_REQUIRED = [
    (path, name)
    for path in V4_SAMPLES
    for name in (*CORE_REQUIRED, *TYPES[load(path)["category"]][load(path)["type"]]["required"])
    if name not in ("category", "type")  # without them there is no type to check the rest against
]


@pytest.mark.parametrize(("path", "name"), SAMPLE_REQUIRED, ids=lambda v: v.stem if isinstance(v, Path) else v)
def test_a_sample_without_a_required_field_is_refused_with_that_fields_pointer(path, name):
    report = load(path)
    del report[name]
    assert library(report), "the xarf library refuses it too"
    mine = ours(report)
    assert mine is not None and f"/report/{name}" in mine


MALFORMED_TIMES = [
    "2025-01-11T10:59:45",
    "2025-01-11 10:59:45Z",
    "11/01/2025 10:59",
    "2025-13-01T00:00:00Z",
    "",
    1736593185,
]


@pytest.mark.parametrize("path", V4_SAMPLES[::4], ids=lambda path: path.stem)
@pytest.mark.parametrize("timestamp", MALFORMED_TIMES)
def test_a_sample_with_a_malformed_timestamp_is_refused_with_its_pointer(path, timestamp):
    report = load(path) | {"timestamp": timestamp}
    assert library(report), "the xarf library refuses it too"
    with pytest.raises(InvalidReport) as refused:
        parse_submission(json.dumps({"report": report}))
    problems = [(p.path, p.code) for p in refused.value.requirements]
    assert ("/report/timestamp", "rule.timestamp.malformed") in problems
    message = next(p.message for p in refused.value.requirements if p.path == "/report/timestamp")
    assert "2025-01-11T10:59:45Z" in message and "^" not in message, "words and an example, not a pattern"


# ---------------------------------------------------------------------------------------------------------------
# A corpus generated from the library's schemas
# ---------------------------------------------------------------------------------------------------------------

ALL_TYPES = sorted(describe_types())


def optional_fields(category: str, type_: str) -> list[tuple[str, Any]]:
    rules = TYPES[category][type_]
    properties = _schema_properties(category, type_)
    fields = []
    for name in sorted(rules["fields"]):
        if name in rules["required"]:
            continue
        value = example_value(properties.get(name, {}))
        if rules["fields"][name].get("format") == "date-time":
            value = recent(2)
        fields.append((name, value))
    return fields


CORPUS = [(c, t, None, None) for c, t in ALL_TYPES] + [
    (c, t, name, value) for c, t in ALL_TYPES for name, value in optional_fields(c, t)
]


@pytest.mark.parametrize(
    ("category", "type_", "name", "value"), CORPUS, ids=[f"{c}/{t}+{n or '-'}" for c, t, n, _ in CORPUS]
)
def test_generated_reports_with_and_without_each_optional_field_get_the_libraries_verdict(category, type_, name, value):
    report = well_formed(category, type_)
    if name is not None:
        report[name] = value
    assert_same_verdict(report)


def wrong_kind(rule: dict[str, Any]) -> Any:
    return {"string": 12, "integer": "twelve", "number": "twelve", "boolean": "yes", "array": "x", "object": "x"}[
        rule["type"]
    ]


MUTATIONS = [
    (c, t, name, wrong_kind(rule))
    for c, t in ALL_TYPES
    for name, rule in sorted(TYPES[c][t]["fields"].items())
    if "type" in rule
] + [
    (c, t, name, bad)
    for c, t in ALL_TYPES
    for name, rule in sorted(TYPES[c][t]["fields"].items())
    for bad, applies in [
        ("not-one-of-them", "enum" in rule),
        ("not-an-address", "format_any" in rule),
        ("2025-01-11 10:59", rule.get("format") == "date-time"),
        ([wrong_kind(rule.get("items", {"type": "string"}))], "type" in rule.get("items", {})),
    ]
    if applies
]


@pytest.mark.parametrize(
    ("category", "type_", "name", "value"), MUTATIONS, ids=[f"{c}/{t}.{n}={v!r}" for c, t, n, v in MUTATIONS]
)
def test_generated_reports_with_a_field_of_the_wrong_kind_get_the_libraries_verdict(category, type_, name, value):
    report = well_formed(category, type_) | {name: value}
    assert_same_verdict(report)


@pytest.mark.parametrize(("category", "type_"), ALL_TYPES)
def test_generated_reports_without_each_required_field_get_the_libraries_verdict(category, type_):
    complete = well_formed(category, type_)
    for name in (*CORE_REQUIRED, *TYPES[category][type_]["required"]):
        if name in ("category", "type"):
            continue
        report = {key: value for key, value in complete.items() if key != name}
        assert_same_verdict(report)
        assert f"/report/{name}" in (ours(report) or set())
