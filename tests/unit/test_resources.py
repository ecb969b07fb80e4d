"""One spelling per resource, and a machine-readable reason for every refusal (shared/domain/resources.py)."""

from __future__ import annotations

import pickle
import string
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.resources import (
    MAX_RESOURCE_LENGTH,
    InvalidResource,
    Resource,
    ResourceKind,
    canonicalize,
    canonicalize_host,
    canonicalize_ip,
    canonicalize_url,
)

PROPERTY_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def refusal_code(raw: str) -> str:
    with pytest.raises(InvalidResource) as caught:
        canonicalize(raw)
    return caught.value.code


# --- S3 objects -----------------------------------------------------------------------------------------------

SAME_OBJECT = "s3://my-bucket/reports/photo%201.jpg"


@pytest.mark.parametrize(
    "spelling",
    [
        "s3://my-bucket/reports/photo 1.jpg",
        "s3://my-bucket/reports/photo%201.jpg",
        "S3://my-bucket/reports/photo%201.jpg",
        "https://my-bucket.s3.amazonaws.com/reports/photo%201.jpg",
        "http://my-bucket.s3.amazonaws.com/reports/photo%201.jpg",
        "https://my-bucket.s3.us-east-1.amazonaws.com/reports/photo%201.jpg",
        "https://my-bucket.s3-eu-west-1.amazonaws.com/reports/photo%201.jpg",
        "https://my-bucket.s3.dualstack.ap-southeast-2.amazonaws.com/reports/photo%201.jpg",
        "https://my-bucket.s3-fips.us-gov-west-1.amazonaws.com/reports/photo%201.jpg",
        "https://my-bucket.s3.cn-north-1.amazonaws.com.cn/reports/photo%201.jpg",
        "https://s3.amazonaws.com/my-bucket/reports/photo%201.jpg",
        "https://s3.us-west-2.amazonaws.com/my-bucket/reports/photo%201.jpg",
        "https://s3-us-west-2.amazonaws.com/my-bucket/reports/photo%201.jpg",
        "https://s3-external-1.amazonaws.com/my-bucket/reports/photo%201.jpg",
        "https://s3.dualstack.eu-central-1.amazonaws.com/my-bucket/reports/photo%201.jpg",
        "https://s3.cn-northwest-1.amazonaws.com.cn/my-bucket/reports/photo%201.jpg",
        "https://My-Bucket.S3.Amazonaws.COM:443/reports/photo%201.jpg#preview",
        "https://user:secret@my-bucket.s3.amazonaws.com/reports/photo%201.jpg",
        "https://my-bucket.s3-website-us-east-1.amazonaws.com/reports/photo%201.jpg",
        "https://my-bucket.s3-website.eu-west-1.amazonaws.com/reports/photo%201.jpg",
        "  s3://my-bucket/reports/photo%201.jpg\n",
    ],
)
def test_every_s3_spelling_names_the_same_object(spelling):
    resource = canonicalize(spelling)

    assert resource == Resource(ResourceKind.S3_OBJECT, SAME_OBJECT, bucket="my-bucket", key="reports/photo 1.jpg")


def test_virtual_hosted_and_path_style_urls_name_the_same_object():
    virtual = canonicalize_url("https://evidence-src.s3.eu-west-1.amazonaws.com/a/b.png")
    path_style = canonicalize_url("https://s3.eu-west-1.amazonaws.com/evidence-src/a/b.png")

    assert virtual == path_style
    assert virtual.canonical == "s3://evidence-src/a/b.png"


def test_a_dotted_bucket_name_in_a_virtual_hosted_url_is_kept_whole():
    resource = canonicalize("https://www.example.com.s3.amazonaws.com/index.html")

    assert (resource.bucket, resource.key) == ("www.example.com", "index.html")
    assert resource.canonical == "s3://www.example.com/index.html"


def test_a_version_id_is_kept_and_spelled_the_same_way_in_every_form():
    uri = canonicalize("s3://my-bucket/k.txt?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH")
    url = canonicalize("https://my-bucket.s3.amazonaws.com/k.txt?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH")

    assert uri == url
    assert uri.version_id == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"
    assert uri.canonical == "s3://my-bucket/k.txt?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"


def test_presigned_url_parameters_are_dropped_but_the_version_is_not():
    presigned = (
        "https://my-bucket.s3.us-east-1.amazonaws.com/k.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLE%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z"
        "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&versionId=v2&X-Amz-Signature=abcdef0123"
    )

    resource = canonicalize(presigned)

    assert resource.canonical == "s3://my-bucket/k.txt?versionId=v2"
    assert (
        canonicalize("https://my-bucket.s3.amazonaws.com/k.txt?X-Amz-Signature=abc").canonical == "s3://my-bucket/k.txt"
    )


def test_an_s3_key_is_percent_decoded_exactly_once():
    resource = canonicalize("https://my-bucket.s3.amazonaws.com/100%2525%20sure.txt")

    assert resource.key == "100%25 sure.txt"
    assert resource.canonical == "s3://my-bucket/100%2525%20sure.txt"


def test_an_s3_key_keeps_empty_segments_and_non_ascii_as_utf8():
    resource = canonicalize("s3://my-bucket//fotos/año.jpg")

    assert resource.key == "/fotos/año.jpg"
    assert resource.canonical == "s3://my-bucket//fotos/a%C3%B1o.jpg"


def test_other_aws_hosts_are_ordinary_urls():
    resource = canonicalize("https://EC2.amazonaws.com/x")

    assert resource == Resource(ResourceKind.URL, "https://ec2.amazonaws.com/x")


# --- Refusals -------------------------------------------------------------------------------------------------

REFUSALS = [
    ("", "rule.resource.empty"),
    (" \t\r\n ", "rule.resource.empty"),
    ("https://example.com/" + "a" * MAX_RESOURCE_LENGTH, "rule.resource.too_long"),
    ("https://example.com/a\x00b", "rule.resource.control_characters"),
    ("https://example.com/a\rb", "rule.resource.control_characters"),
    ("https://example.com/a\nSet-Cookie: x", "rule.resource.control_characters"),
    ("https://example.com/a\tb", "rule.resource.control_characters"),
    ("https://example.com/\x7f", "rule.resource.control_characters"),
    ("https://example.com/\x85", "rule.resource.control_characters"),
    ("https://example.com/\u2028", "rule.resource.control_characters"),
    ("https://example.com/\u202egnp.exe", "rule.resource.invisible_characters"),
    ("https://example.com/\u2066x", "rule.resource.invisible_characters"),
    ("https://exam\u200bple.com/", "rule.resource.invisible_characters"),
    ("exam\u200dple.com", "rule.resource.invisible_characters"),
    ("https://example.com/\u200e", "rule.resource.invisible_characters"),
    ("https://example.com/\u061c", "rule.resource.invisible_characters"),
    ("\ufeffhttps://example.com/", "rule.resource.invisible_characters"),
    ("https://exam\u00adple.com/", "rule.resource.invisible_characters"),
    ("https://ex\u2060ample.com/", "rule.resource.invisible_characters"),
    ("https://exa%E2%80%8Bmple.com/", "rule.resource.invisible_characters"),
    ("file:///etc/passwd", "rule.resource.scheme_not_allowed"),
    ("javascript:alert(document.cookie)", "rule.resource.scheme_not_allowed"),
    ("JavaScript:alert(1)", "rule.resource.scheme_not_allowed"),
    ("data:text/html;base64,PHNjcmlwdD4=", "rule.resource.scheme_not_allowed"),
    ("ftp://example.com/x", "rule.resource.scheme_not_allowed"),
    ("mailto:abuse@example.com", "rule.resource.scheme_not_allowed"),
    ("gopher://example.com/", "rule.resource.scheme_not_allowed"),
    ("example.com/path", "rule.resource.malformed"),
    ("example.com:8080", "rule.resource.malformed"),
    ("//example.com/x", "rule.resource.malformed"),
    ("https:example.com", "rule.resource.malformed"),
    ("https://example.com:0/", "rule.resource.malformed"),
    ("https://example.com:65536/", "rule.resource.malformed"),
    ("https://example.com:http/", "rule.resource.malformed"),
    ("https://[2001:db8::1/", "rule.resource.malformed"),
    ("10.0.0.0/8", "rule.resource.malformed"),
    ("2001:db8::/32", "rule.resource.malformed"),
    ("fe80::1%eth0", "rule.resource.malformed"),
    ("2001:db8::g", "rule.resource.malformed"),
    ("\ud800", "rule.resource.malformed"),
    ("s3://my-bucket", "rule.resource.malformed"),
    ("s3://my-bucket/", "rule.resource.malformed"),
    ("https://s3.amazonaws.com/my-bucket", "rule.resource.malformed"),
    ("https://my-bucket.s3.amazonaws.com/", "rule.resource.malformed"),
    ("s3:my-bucket/key", "rule.resource.malformed"),
    ("s3://my-bucket/k?versionId=a&versionId=b", "rule.resource.malformed"),
    ("s3://my-bucket/k?versionId=", "rule.resource.malformed"),
    ("s3://my-bucket/%FF", "rule.resource.malformed"),
    ("https:///path", "rule.resource.host_invalid"),
    ("https://exa_mple.com/", "rule.resource.host_invalid"),
    ("https://-example.com/", "rule.resource.host_invalid"),
    ("https://a..example.com/", "rule.resource.host_invalid"),
    ("https://" + "a" * 64 + ".com/", "rule.resource.host_invalid"),
    ("https://" + ".".join(["abcdefghi"] * 26) + ".com/", "rule.resource.host_invalid"),
    ("https://xn--zz.com/", "rule.resource.host_invalid"),
    ("https://\u0663.com/", "rule.resource.host_invalid"),
    ("https://[v1.fe]/", "rule.resource.host_invalid"),
    ("user@example.com", "rule.resource.host_invalid"),
    ("*.example.com", "rule.resource.host_invalid"),
    ("3232235777", "rule.resource.ambiguous_ip"),
    ("0xC0A80101", "rule.resource.ambiguous_ip"),
    ("0300.0250.1.1", "rule.resource.ambiguous_ip"),
    ("192.168.1", "rule.resource.ambiguous_ip"),
    ("192.168.001.001", "rule.resource.ambiguous_ip"),
    ("256.1.1.1", "rule.resource.ambiguous_ip"),
    ("http://3232235777/", "rule.resource.ambiguous_ip"),
    ("http://0x7f.1/", "rule.resource.ambiguous_ip"),
    ("http://\uff13\uff12\uff13\uff12\uff12\uff13\uff15\uff17\uff17\uff17/", "rule.resource.ambiguous_ip"),
    ("arn:aws:s3:::my-bucket/key", "rule.resource.s3_arn_not_accepted"),
    ("ARN:aws:iam::123456789012:user/x", "rule.resource.s3_arn_not_accepted"),
    ("s3://arn:aws:s3:us-west-2:123456789012:accesspoint/ap/key", "rule.resource.s3_access_point_not_accepted"),
    (
        "https://ap-123456789012.s3-accesspoint.us-west-2.amazonaws.com/key",
        "rule.resource.s3_access_point_not_accepted",
    ),
    (
        "https://ap-1234.s3-accesspoint.dualstack.us-west-2.amazonaws.com/k",
        "rule.resource.s3_access_point_not_accepted",
    ),
    (
        "https://ol-123456789012.s3-object-lambda.us-west-2.amazonaws.com/k",
        "rule.resource.s3_access_point_not_accepted",
    ),
    ("https://mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com/k", "rule.resource.s3_access_point_not_accepted"),
    ("s3://my-ap-hrzrlukc5m36ft7okagglf3gmwluquse1b-s3alias/k", "rule.resource.s3_access_point_not_accepted"),
    ("s3://my-bucket/a/../b", "rule.resource.s3_key_traversal"),
    ("s3://my-bucket/../x", "rule.resource.s3_key_traversal"),
    ("s3://my-bucket/./x", "rule.resource.s3_key_traversal"),
    ("s3://my-bucket/x/..", "rule.resource.s3_key_traversal"),
    ("s3://my-bucket/%2e%2E/x", "rule.resource.s3_key_traversal"),
    ("https://my-bucket.s3.amazonaws.com/a/%2E%2E/b", "rule.resource.s3_key_traversal"),
    ("https://s3.amazonaws.com/my-bucket/../other-bucket/k", "rule.resource.s3_key_traversal"),
    ("s3://my-bucket/a%00b", "rule.resource.s3_key_traversal"),
    ("s3://ab/key", "rule.resource.s3_bucket_invalid"),
    ("s3://" + "b" * 64 + "/key", "rule.resource.s3_bucket_invalid"),
    ("s3://My-Bucket/key", "rule.resource.s3_bucket_invalid"),
    ("s3://my_bucket/key", "rule.resource.s3_bucket_invalid"),
    ("s3://-my-bucket/key", "rule.resource.s3_bucket_invalid"),
    ("s3://my..bucket/key", "rule.resource.s3_bucket_invalid"),
    ("s3://192.168.5.4/key", "rule.resource.s3_bucket_invalid"),
    ("s3://my-bucket:443/key", "rule.resource.s3_bucket_invalid"),
    ("https://xn--bcher-kva.s3.amazonaws.com/key", "rule.resource.s3_bucket_invalid"),
]


@pytest.mark.parametrize(("raw", "code"), REFUSALS)
def test_each_refusal_has_its_rule_code(raw, code):
    assert refusal_code(raw) == code


def test_every_documented_rule_code_is_exercised():
    documented = {
        "empty", "too_long", "control_characters", "invisible_characters", "scheme_not_allowed", "malformed",
        "host_invalid", "ambiguous_ip", "s3_arn_not_accepted", "s3_access_point_not_accepted", "s3_key_traversal",
        "s3_bucket_invalid",
    }  # fmt: skip

    assert {code for _, code in REFUSALS} == {f"rule.resource.{name}" for name in documented}


@pytest.mark.parametrize(
    "hostile",
    [
        "javascript:" + "alert(1);" * 220,
        "https://" + "a" * 2000 + ".com/",
        "s3://" + "B" * 2000 + "/k",
        "https://example.com:" + "9" * 2000,
        "x" * 100_000,
    ],
)
def test_a_refusal_message_never_echoes_the_whole_input(hostile):
    with pytest.raises(InvalidResource) as caught:
        canonicalize(hostile)

    assert len(caught.value.message) < 250
    assert hostile not in caught.value.message
    assert str(caught.value).startswith(caught.value.code + ": ")


def test_only_urls_are_accepted_where_a_url_is_required():
    with pytest.raises(InvalidResource) as caught:
        canonicalize_url("example.com")

    assert caught.value.code == "rule.resource.malformed"
    assert canonicalize_url("s3://my-bucket/k").kind is ResourceKind.S3_OBJECT


# --- URLs and hosts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTPS://WWW.Example.COM/Path", "https://www.example.com/Path"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com?q=1", "https://example.com/?q=1"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com:/a", "https://example.com/a"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://user:pass@example.com/a", "https://example.com/a"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/a/b/..", "https://example.com/a/"),
        ("https://example.com/../../x", "https://example.com/x"),
        ("https://example.com/a/%2e%2E/b", "https://example.com/b"),
        ("https://example.com/%7euser/%41%62%2d%5F", "https://example.com/~user/Ab-_"),
        ("https://example.com/a%2fb%3f", "https://example.com/a%2Fb%3F"),
        ("https://example.com/caf\u00e9 menu", "https://example.com/caf%C3%A9%20menu"),
        ("https://example.com/?q=caf\u00e9&z=1&a=2", "https://example.com/?q=caf%C3%A9&z=1&a=2"),
        ("https://example.com/?q=a+b&x=%7e", "https://example.com/?q=a+b&x=~"),
        ("https://example.com/100%", "https://example.com/100%25"),
        ("https://example.com/a|b", "https://example.com/a%7Cb"),
        ("https://example.com/?", "https://example.com/?"),
        ("https://%65xample.com/", "https://example.com/"),
        ("https://\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\u3002com/", "https://example.com/"),
        ("https://evil.example\\@good.example/", "https://evil.example/@good.example/"),
        ("https://evil.example@good.example/", "https://good.example/"),
        ("https://r3---sn-abc.googlevideo.com/v", "https://r3---sn-abc.googlevideo.com/v"),
        ("http://localhost:3000/", "http://localhost:3000/"),
        ("http://192.168.1.1:80/", "http://192.168.1.1/"),
        ("http://[2001:DB8:0:0:0:0:0:1]:8080/x", "http://[2001:db8::1]:8080/x"),
        ("http://[::FFFF:192.0.2.1]/", "http://192.0.2.1/"),
    ],
)
def test_equivalent_url_spellings_collapse_to_one(raw, canonical):
    assert canonicalize(raw) == Resource(ResourceKind.URL, canonical)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("https://p\u0430ypal.com/login", "https://xn--pypal-4ve.com/login"),
        ("https://b\u00fccher.example/", "https://xn--bcher-kva.example/"),
        ("https://B\u00dcCHER.example/", "https://xn--bcher-kva.example/"),
        ("https://b%C3%BCcher.example/", "https://xn--bcher-kva.example/"),
        ("https://XN--BCHER-KVA.example/", "https://xn--bcher-kva.example/"),
    ],
)
def test_a_homoglyph_or_idn_host_is_accepted_and_punycoded(raw, canonical):
    assert canonicalize(raw).canonical == canonical


def test_a_bare_homoglyph_domain_is_a_domain_in_punycode():
    assert canonicalize("p\u0430ypal.com") == Resource(ResourceKind.DOMAIN, "xn--pypal-4ve.com")
    assert canonicalize_host("P\u0430yPal.COM.") == "xn--pypal-4ve.com"


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("Example.COM.", "example.com"), ("localhost", "localhost"), ("b\u00fccher.example", "xn--bcher-kva.example")],
)
def test_a_bare_domain_is_lowercased_punycoded_and_loses_its_trailing_dot(raw, canonical):
    assert canonicalize(raw) == Resource(ResourceKind.DOMAIN, canonical)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("192.0.2.1.", "192.0.2.1"),
        ("2001:DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("::1", "::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("\uff11\uff19\uff12.0.2.1", "192.0.2.1"),
    ],
)
def test_a_bare_ip_is_normalized_and_ipv6_is_compressed(raw, canonical):
    assert canonicalize(raw) == Resource(ResourceKind.IP, canonical)


def test_the_narrow_helpers_agree_with_canonicalize():
    assert canonicalize_ip("2001:DB8::0:1") == "2001:db8::1"
    assert canonicalize_host("[2001:DB8::1]") == "[2001:db8::1]"
    assert canonicalize_host("WWW.Example.com") == "www.example.com"
    with pytest.raises(InvalidResource) as caught:
        canonicalize_ip("example.com")
    assert caught.value.code == "rule.resource.malformed"
    with pytest.raises(InvalidResource) as caught:
        canonicalize_host("0x7f000001")
    assert caught.value.code == "rule.resource.ambiguous_ip"


def test_a_refusal_is_a_value_error_that_survives_pickling():
    error = InvalidResource("rule.resource.empty", "the resource is empty")

    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, ValueError) and isinstance(copy, InvalidResource)
    assert (copy.code, copy.message) == (error.code, error.message)


# --- Properties -----------------------------------------------------------------------------------------------

_ascii_labels = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10)
_idn_labels = st.sampled_from(
    ["b\u00fccher", "p\u0430ypal", "m\u00fcnchen", "\u4f8b\u3048", "\u03b4\u03bf\u03ba\u03b9\u03bc\u03ae"]
)
_tlds = st.text(string.ascii_lowercase, min_size=2, max_size=6)
domains = st.builds(
    lambda labels, tld: ".".join([*labels, tld]), st.lists(_ascii_labels | _idn_labels, min_size=1, max_size=3), _tlds
)
ip_texts = st.ip_addresses().map(str)
url_hosts = domains | st.ip_addresses(v=4).map(str) | st.ip_addresses(v=6).map(lambda ip: f"[{ip}]")

_path_pieces = st.sampled_from(
    [*"abcXYZ019-._~!$&'()*+,;=:@[]|\"%", " ", "\u00e9", "\u65e5", "%41", "%7e", "%2F", "%2f", "%e2%82%ac", "%25"]
)
_segments = st.lists(_path_pieces, max_size=6).map("".join) | st.sampled_from([".", ".."])
_paths = st.lists(_segments, max_size=4).map(lambda segments: "".join("/" + segment for segment in segments))
_queries = st.none() | st.lists(_path_pieces | st.sampled_from(["=", "&", "?", "/"]), max_size=8).map("".join)
_fragments = st.none() | st.text(string.ascii_letters + "#?/", max_size=6)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    host = draw(url_hosts)
    port = draw(st.none() | st.integers(1, 65535))
    query = draw(_queries)
    fragment = draw(_fragments)
    return (
        f"{scheme}://{host}{'' if port is None else f':{port}'}{draw(_paths)}"
        f"{'' if query is None else '?' + query}{'' if fragment is None else '#' + fragment}"
    )


_buckets = st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True).filter(
    lambda bucket: not bucket.startswith(("xn--", "sthree-")) and not bucket.endswith(("-s3alias", "--ol-s3"))
)
_key_segments = st.text(
    st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp", "Zs"), exclude_characters="/?#%\\"),
    min_size=1,
    max_size=8,
).filter(lambda segment: segment not in (".", ".."))
_keys = st.lists(_key_segments, min_size=1, max_size=4).map("/".join)
_versions = st.none() | st.text(string.ascii_letters + string.digits + "._", min_size=1, max_size=20)


@st.composite
def s3_spellings(draw: st.DrawFn) -> str:
    bucket, key, version = draw(_buckets), draw(_keys), draw(_versions)
    query = "" if version is None else f"?versionId={version}"
    forms = [
        f"s3://{bucket}/{key}{query}",
        f"https://{bucket}.s3.amazonaws.com/{quote(key)}{query}",
        f"https://s3.eu-west-1.amazonaws.com/{bucket}/{quote(key)}{query}",
    ]
    return draw(st.sampled_from(forms))


@PROPERTY_SETTINGS
@given(st.one_of(urls(), ip_texts, domains, s3_spellings()))
def test_canonicalizing_a_canonical_form_changes_nothing(raw):
    resource = canonicalize(raw)

    assert canonicalize(resource.canonical) == resource


@PROPERTY_SETTINGS
@given(bucket=_buckets, key=_keys, version=_versions)
def test_an_s3_uri_and_its_virtual_hosted_url_name_the_same_object(bucket, key, version):
    query = "" if version is None else f"?versionId={version}"

    uri = canonicalize(f"s3://{bucket}/{quote(key)}{query}")
    url = canonicalize(f"https://{bucket}.s3.us-east-2.amazonaws.com/{quote(key)}{query}")

    assert uri == url
    assert (uri.bucket, uri.key, uri.version_id) == (bucket, key, version)


def _flip_case(text: str, flips: list[bool]) -> str:
    return "".join(char.upper() if flip else char for char, flip in zip(text, flips, strict=False))


def _percent_encode_some(text: str, choices: list[bool], uppercase_hex: bool) -> str:
    encoded = []
    for char, encode in zip(text, choices, strict=False):
        escape = f"%{ord(char):02X}" if uppercase_hex else f"%{ord(char):02x}"
        encoded.append(escape if encode and char != "/" else char)
    return "".join(encoded) + text[len(choices) :]


_unreserved_paths = st.lists(st.text(string.ascii_letters + string.digits + "-._~", min_size=1, max_size=8), max_size=4)
_caseless_idn_labels = st.sampled_from(["b\u00fccher", "p\u0430ypal", "\u4f8b\u3048"])
_plain_domains = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(_ascii_labels | _caseless_idn_labels, min_size=1, max_size=3),
    _tlds,
)


@PROPERTY_SETTINGS
@given(
    scheme=st.sampled_from(["http", "https"]),
    host=_plain_domains,
    segments=_unreserved_paths,
    data=st.data(),
)
def test_equivalent_spellings_give_the_same_canonical(scheme, host, segments, data):
    path = "/" + "/".join(segments)
    plain = canonicalize(f"{scheme}://{host}{path}")

    flips = data.draw(st.lists(st.booleans(), min_size=len(host) + len(scheme), max_size=len(host) + len(scheme)))
    variant_scheme = _flip_case(scheme, flips[: len(scheme)])
    variant_host = _flip_case(host, flips[len(scheme) :]) + data.draw(st.sampled_from(["", "."]))
    port = data.draw(st.sampled_from(["", ":80" if scheme == "http" else ":443"]))
    encodes = data.draw(st.lists(st.booleans(), max_size=len(path)))
    variant_path = _percent_encode_some(path, encodes, data.draw(st.booleans()))
    fragment = data.draw(st.sampled_from(["", "#", "#top", "#a/b?c"]))

    variant = canonicalize(f"{variant_scheme}://{variant_host}{port}{variant_path}{fragment}")

    assert variant == plain


_fuzz_prefixes = st.sampled_from(
    [
        "",
        "http://",
        "https://",
        "s3://",
        "s3://my-bucket/",
        "https://my-bucket.s3.amazonaws.com/",
        "https://s3.amazonaws.com/",
        "https://[",
        "arn:",
        "xn--",
        "0x",
        "::",
    ]
)


@PROPERTY_SETTINGS
@given(
    st.one_of(
        st.text(), st.text(st.characters(exclude_categories=())), st.tuples(_fuzz_prefixes, st.text()).map("".join)
    )
)
def test_any_text_yields_a_resource_or_a_rule_violation_and_nothing_else(raw):
    try:
        resource = canonicalize(raw)
    except InvalidResource as refused:
        assert refused.code.startswith("rule.resource.")
        assert refused.message
        return

    assert isinstance(resource, Resource)
    assert canonicalize(resource.canonical) == resource
