"""The linters that `make gates` runs catch what we rely on them for, on resources the template does not have yet.

checkov runs only the checks named in tools.mk, and a check whose resource type is absent does not run: on today's
template half of them are idle. Here they all run, on the template plus the correct fragment (all must pass), then
on a copy broken once for each check (each must fail, naming the resource). checkov lives in its own venv
(`make checkov` makes it; `make test` and `make gates` run that first); without it these tests fail and say so.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]

from tests.template.test_template_policies import Body, props, with_fragment

pytestmark = pytest.mark.template

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"


def named_checks() -> list[str]:
    found = re.search(r"^CHECKOV_CHECKS := (\S+)$", (ROOT / "tools.mk").read_text(encoding="utf-8"), re.MULTILINE)
    assert found, "tools.mk no longer defines CHECKOV_CHECKS"
    return found.group(1).split(",")


def checkov(body: Body, tmp_path: Path) -> dict[str, set[str]]:
    """check id -> resources, for passed and for failed checks (keys "passed" and "failed")."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV.relative_to(ROOT)} is missing: run `make checkov` (make test and make gates do)")
    template = tmp_path / "template.json"
    template.write_text(json.dumps(body), encoding="utf-8")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "offline", "AWS_SECRET_ACCESS_KEY": "offline"}
    command = [str(CHECKOV), "--skip-download", "--framework", "cloudformation", "--output", "json"]
    command += ["--check", ",".join(named_checks()), "-f", str(template)]
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    try:
        report: Any = json.loads(run.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no report (exit {run.returncode}): {run.stderr[-2000:]}")
    results = report["results"] if isinstance(report, dict) and "results" in report else {}
    outcome: dict[str, set[str]] = {"passed": set(), "failed": set()}
    for key in outcome:
        for check in results.get(f"{key}_checks", []):
            outcome[key].add(f"{check['check_id']} {check['resource'].split('.', 1)[1]}")
    return outcome


def break_each_named_check(body: Body) -> None:
    props(body, "FragmentQueue").pop("KmsMasterKeyId")  # CKV_AWS_27
    props(body, "FragmentEvidenceBucket")["VersioningConfiguration"]["Status"] = "Suspended"  # CKV_AWS_21
    block = props(body, "FragmentEvidenceBucket")["PublicAccessBlockConfiguration"]
    for flag in block:  # CKV_AWS_53, 54, 55, 56
        block[flag] = False
    props(body, "ReportsTable")["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] = False  # _28
    props(body, "Api")["TracingEnabled"] = False  # CKV_AWS_73
    props(body, "Api").pop("AccessLogSetting")  # CKV_AWS_76
    body["Globals"]["Function"].pop("ReservedConcurrentExecutions", None)  # CKV_AWS_115
    props(body, "IntakeFunction").pop("ReservedConcurrentExecutions", None)


def test_fragment_makes_a_template_cfn_lint_accepts() -> None:
    matches = lint(json.dumps(with_fragment()), config=ManualArgs(regions=["us-east-1"]))
    assert [str(match) for match in matches] == []


def test_checkov_runs_and_passes_every_named_check_on_the_fragment(tmp_path: Path) -> None:
    outcome = checkov(with_fragment(), tmp_path)

    assert outcome["failed"] == set()
    ran = {entry.split()[0] for entry in outcome["passed"]}
    assert ran == set(named_checks()), f"named checks that found nothing to check: {set(named_checks()) - ran}"


def test_checkov_fails_each_named_check_on_a_broken_copy(tmp_path: Path) -> None:
    body = with_fragment()
    break_each_named_check(body)

    outcome = checkov(body, tmp_path)

    expected = {
        "CKV_AWS_21 FragmentEvidenceBucket",
        "CKV_AWS_27 FragmentQueue",
        "CKV_AWS_28 ReportsTable",
        "CKV_AWS_53 FragmentEvidenceBucket",
        "CKV_AWS_54 FragmentEvidenceBucket",
        "CKV_AWS_55 FragmentEvidenceBucket",
        "CKV_AWS_56 FragmentEvidenceBucket",
        "CKV_AWS_73 Api",
        "CKV_AWS_76 Api",
        "CKV_AWS_115 IntakeFunction",
    }
    assert expected <= outcome["failed"], f"checkov let these through: {sorted(expected - outcome['failed'])}"
    assert {entry.split()[0] for entry in expected} == set(named_checks())
