"""Text hygiene and JSON's numbers: one screening function for every string of a report, wherever it sits."""

from __future__ import annotations

import json

import pytest

from shared.domain import webform
from shared.domain.answers import MAX_LISTED, Refusal
from shared.domain.errors import InvalidReport
from shared.domain.text import FREE_TEXT_FIELDS, screen
from shared.domain.xarf import parse_batch, parse_submission
from tests.samples import PARTNER, body, xarf
from tests.unit.test_webform import NOW, filled, refusal

# One of each class the rules are about: (name, character).
CONTROL = [("NUL", "\x00"), ("ESC", "\x1b"), ("DEL", "\x7f"), ("C1 CSI", "\x9b"), ("BEL", "\x07")]
BIDI = [("RLO", "\u202e"), ("LRE", "\u202a"), ("RLI", "\u2067"), ("PDI", "\u2069"), ("ALM", "\u061c")]
BIDI += [("RLM", "\u200f")]
INVISIBLE = [("ZWSP", "\u200b"), ("WJ", "\u2060"), ("BOM", "\ufeff"), ("SHY", "\u00ad"), ("HANGUL FILLER", "\u3164")]
TAGS = [("TAG A", "\U000e0041"), ("CANCEL TAG", "\U000e007f"), ("LANGUAGE TAG", "\U000e0001")]
LINE_BREAKS = [("LF", "\n"), ("CR", "\r"), ("LS", "\u2028"), ("PS", "\u2029")]
EVERY_CLASS = CONTROL + BIDI + INVISIBLE + TAGS
ZWJ = "\u200d"


def refused(raw: bytes) -> list[tuple[str, str]]:
    with pytest.raises(InvalidReport) as caught:
        parse_submission(raw)
    assert caught.value.status == 422
    return [(r.path, r.code) for r in caught.value.requirements]


@pytest.mark.parametrize(("name", "char"), EVERY_CLASS + LINE_BREAKS, ids=[n for n, _ in EVERY_CLASS + LINE_BREAKS])
def test_reporter_contact_with_a_hidden_character_is_refused_with_its_pointer(name: str, char: str) -> None:
    reporter = PARTNER | {"contact": f"abuse{char}@cert.example"}
    assert refused(body(xarf(reporter=reporter))) == [("/report/reporter/contact", "rule.contact.forbidden_characters")]


@pytest.mark.parametrize(("name", "char"), EVERY_CLASS + LINE_BREAKS, ids=[n for n, _ in EVERY_CLASS + LINE_BREAKS])
def test_an_array_member_with_a_hidden_character_is_refused_with_its_pointer(name: str, char: str) -> None:
    raw = body(xarf(credential_fields=["password", f"{char}gnp.exe"]))
    assert refused(raw) == [("/report/credential_fields/1", "rule.credential_fields.forbidden_characters")]


def test_the_issues_own_example_nul_and_rlo_in_credential_fields_is_refused() -> None:
    raw = json.dumps({"report": xarf(credential_fields=["\u0000\u202egnp.exe"])}).encode()
    assert refused(raw) == [("/report/credential_fields/0", "rule.credential_fields.forbidden_characters")]


@pytest.mark.parametrize(("name", "char"), EVERY_CLASS, ids=[n for n, _ in EVERY_CLASS])
def test_free_text_refuses_the_hidden_classes_too(name: str, char: str) -> None:
    assert refused(body(xarf(description=f"pay here {char}exe.txt"))) == [
        ("/report/description", "rule.description.forbidden_characters")
    ]


def test_free_text_keeps_line_breaks_tabs_and_the_joiners_emoji_need() -> None:
    text = "line one\nline two\r\n\tindented\u2028next \U0001f469\u200d\U0001f4bb and \u0646\u200c\u0645"
    assert parse_submission(body(xarf(description=text))).report.description == text


@pytest.mark.parametrize(("name", "char"), LINE_BREAKS, ids=[n for n, _ in LINE_BREAKS])
def test_one_line_fields_refuse_line_breaks_and_separators(name: str, char: str) -> None:
    reporter = PARTNER | {"org": f"Example{char}CERT"}
    assert refused(body(xarf(reporter=reporter))) == [("/report/reporter/org", "rule.org.forbidden_characters")]


def test_nested_extension_objects_and_member_names_are_screened() -> None:
    raw = body(xarf("connection", "ddos", attack={"vectors": [{"note": "ok"}, {"note": "\x1b[2J"}]}))
    assert ("/report/attack/vectors/1/note", "rule.note.forbidden_characters") in refused(raw)
    raw = body(xarf(**{"tag\u202eevil": "x"}))
    assert ("/report/tag\u202eevil", "rule.field_name.forbidden_characters") in refused(raw)


def test_the_envelope_and_every_batch_item_are_screened() -> None:
    assert refused(body(correlationId="a\u200bb")) == [("/correlationId", "rule.correlationId.forbidden_characters")]
    items = [{"report": xarf()}, {"report": xarf(reporter=PARTNER | {"contact": "a\x00@b.example"})}]
    first, second = parse_batch(json.dumps({"reports": items}).encode())
    assert not isinstance(first, InvalidReport)
    assert isinstance(second, InvalidReport)
    assert [(r.path, r.code) for r in second.requirements] == [
        ("/reports/1/report/reporter/contact", "rule.contact.forbidden_characters")
    ]


def test_a_refusal_names_the_character_class_and_position_never_the_text() -> None:
    with pytest.raises(InvalidReport) as caught:
        parse_submission(body(xarf(reporter=PARTNER | {"contact": "secret\u202e@cert.example"})))
    (problem,) = caught.value.requirements
    assert problem.message == "a text-direction character (U+202E) at position 6"
    assert "secret" not in problem.message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_numbers_json_does_not_have_are_refused_with_422_and_their_pointer(constant: str) -> None:
    raw = body(xarf()).replace(b'"category"', f'"confidence": {constant}, "category"'.encode())
    assert refused(raw) == [("/report/confidence", "rule.confidence.not_a_number")]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_numbers_in_extension_fields_are_refused_whatever_their_bounds(constant: str) -> None:
    # NaN compares false with every bound, so a min/max check alone lets it through.
    raw = body(xarf("connection", "ddos", amplification_factor=2.5)).replace(b"2.5", constant.encode())
    assert ("/report/amplification_factor", "rule.amplification_factor.not_a_number") in refused(raw)


def test_a_body_full_of_bad_strings_gets_a_bounded_answer_that_counts_every_one() -> None:
    with pytest.raises(InvalidReport) as caught:
        parse_submission(body(xarf(credential_fields=["\x00"] * 10_000)))
    answer = Refusal.of(caught.value).as_json()
    listed = answer["unmetRequirements"]
    assert isinstance(listed, list) and len(listed) == MAX_LISTED
    # The list as a whole is over the extension budget; then each of its 10,000 members is told, in order.
    assert [item["code"] for item in listed[:1]] == ["rule.extensions.too_large"]
    assert [item["path"] for item in listed[1:3]] == ["/report/credential_fields/0", "/report/credential_fields/1"]
    assert answer["omittedRequirements"] == 1 + 10_000 - MAX_LISTED


def test_hidden_characters_are_told_together_with_every_other_problem() -> None:
    report = xarf(reporter=PARTNER | {"contact": "abuse\u200b@cert.example"}, timestamp="yesterday")
    del report["url"]
    problems = refused(body(report))
    assert ("/report/reporter/contact", "rule.contact.forbidden_characters") in problems
    assert {path for path, _ in problems} >= {"/report/reporter/contact", "/report/timestamp", "/report/url"}
    assert [code for path, code in problems if path == "/report/reporter/contact"] == [
        "rule.contact.forbidden_characters"
    ]


def test_screen_walks_any_depth_without_recursion() -> None:
    deep: object = "\x00"
    for _ in range(5_000):
        deep = [deep]
    ((path, code),) = [(p.path, p.code) for p in screen({"a": deep})]
    assert path == "/a" + "/0" * 5_000 and code == "rule.a.forbidden_characters"
    assert "description" in FREE_TEXT_FIELDS


# --- the web form: the same function ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "char"), EVERY_CLASS, ids=[n for n, _ in EVERY_CLASS])
def test_the_form_refuses_hidden_characters_in_name_email_and_explanation(name: str, char: str) -> None:
    problems = refusal(filled(name=f"Eve{char}", email=f"eve{char}@example.com", explanation=f"see {char}here"))
    assert problems["/name"][0] == "rule.name.forbidden_characters"
    assert problems["/email"][0] == "rule.email.forbidden_characters"
    assert problems["/explanation"][0] == "rule.explanation.forbidden_characters"


def test_the_form_tells_a_person_what_to_do_in_field_order() -> None:
    with pytest.raises(InvalidReport) as caught:
        webform.to_submission(filled(urls="https://a.example/\u202e", name="A\U000e0041", good_faith=False), now=NOW)
    paths = [r.path for r in caught.value.requirements]
    assert paths == ["/urls", "/name", "/good_faith"]
    assert caught.value.requirements[1].message.startswith("The name contains a tag character")


def test_the_form_keeps_line_breaks_in_the_explanation_and_refuses_them_in_the_name() -> None:
    assert webform.to_submission(filled(explanation="one\r\ntwo\u2028three"), now=NOW).report.description
    assert refusal(filled(name="Eve\nAdmin"))["/name"][0] == "rule.name.forbidden_characters"
