"""What a report sets in motion: severity, whether to preserve, restrict at once, and escalate.

Table-driven so that T&S can read and change it in one place. Two rules are not negotiable and are enforced in code
after the table: CSAM and CSEM are P0, preserved, restricted at once and escalated whoever reports them; and one
public (anonymous or unknown) report never restricts anyone's content otherwise, because weaponized takedowns are real.
This module is pure: no AWS, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.domain.callers import TrustTier


class Severity(StrEnum):
    P0 = "P0"  # child safety: act now, report to NCMEC
    P1 = "P1"  # active harm to people: phishing, malware, botnets
    P2 = "P2"  # harm to systems: attacks, compromised hosts, exposed data
    P3 = "P3"  # everything else: spam, copyright, reputation, vulnerabilities


@dataclass(frozen=True)
class Rule:
    severity: Severity
    restrict_tier: TrustTier | None  # the lowest reporter tier whose report alone restricts the original; None: never
    escalate_tier: TrustTier | None  # the lowest reporter tier whose report escalates to on-call; None: never


@dataclass(frozen=True)
class Decision:
    severity: Severity
    preserve: bool  # copy named objects into the evidence bucket under legal hold
    restrict_now: bool  # restrict the original as soon as a verified copy exists
    escalate: bool  # notify on-call (and, for child safety, draft the CyberTipline report)
    child_safety: bool


CHILD_SAFETY_TYPES = frozenset({("content", "csam"), ("content", "csem")})
_TRUSTED = TrustTier.TRUSTED_FLAGGER
_PARTNER = TrustTier.PARTNER

# (category, type) or (category, "*"). The first match wins; unlisted categories fall back to DEFAULT.
RULES: dict[tuple[str, str], Rule] = {
    ("content", "csam"): Rule(Severity.P0, TrustTier.PUBLIC, TrustTier.PUBLIC),
    ("content", "csem"): Rule(Severity.P0, TrustTier.PUBLIC, TrustTier.PUBLIC),
    ("content", "phishing"): Rule(Severity.P1, _TRUSTED, _PARTNER),
    ("content", "malware"): Rule(Severity.P1, _TRUSTED, _PARTNER),
    ("content", "remote_compromise"): Rule(Severity.P1, _TRUSTED, _PARTNER),
    ("content", "fraud"): Rule(Severity.P2, _TRUSTED, _TRUSTED),
    ("content", "exposed_data"): Rule(Severity.P2, _TRUSTED, _PARTNER),
    ("content", "*"): Rule(Severity.P2, _TRUSTED, _TRUSTED),
    ("infrastructure", "*"): Rule(Severity.P1, None, _PARTNER),
    ("connection", "ddos"): Rule(Severity.P2, None, _PARTNER),
    ("connection", "*"): Rule(Severity.P2, None, _TRUSTED),
    ("vulnerability", "*"): Rule(Severity.P3, None, None),
    ("copyright", "*"): Rule(Severity.P3, None, None),  # notice-and-action goes through analysts, never automatic
    ("messaging", "*"): Rule(Severity.P3, None, None),
    ("reputation", "*"): Rule(Severity.P3, None, None),
}
DEFAULT = Rule(Severity.P3, None, None)

# Many independent reporters of one case raise it one level (never to P0: that is reserved for child safety).
CORROBORATION_REPORTERS = 5


def rule_for(category: str, type_: str) -> Rule:
    return RULES.get((category, type_)) or RULES.get((category, "*")) or DEFAULT


def decide(category: str, type_: str, tier: TrustTier, distinct_reporters: int = 1) -> Decision:
    rule = rule_for(category, type_)
    child_safety = (category, type_) in CHILD_SAFETY_TYPES
    severity = rule.severity
    if not child_safety and distinct_reporters >= CORROBORATION_REPORTERS and severity > Severity.P1:
        severity = Severity(f"P{int(severity.value[1]) - 1}")
    restrict = rule.restrict_tier is not None and tier >= rule.restrict_tier
    if not child_safety and tier <= TrustTier.AUTHENTICATED:
        restrict = False  # one public report never takes anyone's content down, except child safety
    return Decision(
        severity=Severity.P0 if child_safety else severity,
        preserve=True,
        restrict_now=child_safety or restrict,
        escalate=child_safety or (rule.escalate_tier is not None and tier >= rule.escalate_tier),
        child_safety=child_safety,
    )
