"""Who a caller is: the principal from the request context, the partner registry, and the trust tier."""

from __future__ import annotations

from shared.domain.callers import TrustTier, identify, principal_of
from shared.settings import Partner

REGISTRY = {
    "arn:aws:iam::111111111111:role/cert-intake": Partner(name="Example CERT", tier=TrustTier.TRUSTED_FLAGGER),
    "arn:aws:iam::222222222222:user/vendor": Partner(name="Vendor"),
}


def test_a_registered_role_is_its_partner_whatever_the_session_name():
    principal = principal_of("arn:aws:sts::111111111111:assumed-role/cert-intake/session-4711", "ASIAEXAMPLE")
    caller = identify(principal, REGISTRY)
    assert (caller.partner, caller.tier) == ("Example CERT", TrustTier.TRUSTED_FLAGGER)


def test_a_registered_user_gets_the_default_partner_tier():
    caller = identify(principal_of("arn:aws:iam::222222222222:user/vendor", "AKIAEXAMPLE"), REGISTRY)
    assert (caller.partner, caller.tier) == ("Vendor", TrustTier.PARTNER)


def test_an_unknown_signed_principal_gets_the_lowest_authenticated_tier():
    caller = identify(principal_of("arn:aws:iam::333333333333:user/someone", "AKIAOTHER"), REGISTRY)
    assert (caller.partner, caller.tier, caller.is_anonymous) == (None, TrustTier.AUTHENTICATED, False)


def test_no_principal_is_anonymous_and_public():
    caller = identify(principal_of(None, None), REGISTRY)
    assert caller.is_anonymous and caller.tier is TrustTier.PUBLIC and caller.scope == "anonymous"


def test_the_partner_registry_is_read_from_json_configuration(monkeypatch):
    from shared.settings import Settings

    monkeypatch.setenv("TABLE_NAME", "reports")
    monkeypatch.setenv(
        "PARTNERS", '{"arn:aws:iam::111111111111:role/cert-intake": {"name": "Example CERT", "tier": 3}}'
    )
    monkeypatch.setenv("PROTECTED_BUCKETS", "demo-customer-content, other-bucket")
    configured = Settings()
    assert configured.partners["arn:aws:iam::111111111111:role/cert-intake"].tier is TrustTier.TRUSTED_FLAGGER
    assert configured.protected_buckets == frozenset({"demo-customer-content", "other-bucket"})
