"""Canonical spellings for the resources an abuse report names: URLs, IP addresses, domains and S3 objects.

Why this exists: the intake deduplicates reports and the dispatcher aggregates them into one case per resource
(README.md, "After a report is accepted"). That only works if the same thing always has exactly one
spelling, whatever the reporter typed: `HTTPS://Example.COM:443/a/./b#x` and `https://example.com/a/b` are one
resource, and `https://bucket.s3.us-east-1.amazonaws.com/k` and `s3://bucket/k` are one S3 object. Input that is
hostile or ambiguous (control and bidi characters, numeric IP spellings that browsers read differently, ARNs,
access points, `..` keys) is refused here with a machine-readable `rule.resource.*` code, long before the
quarantine worker (item 4) could act on it.

What this module must never do: fetch anything, resolve a name, touch the network, or import boto3 or any other
AWS library. It is pure string work (the standard library plus `idna`), cheap enough for every request and safe to
property-test. Whether the service may act on a bucket (the allow-list) is decided elsewhere.
"""

from __future__ import annotations

import ipaddress
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar
from urllib.parse import quote, unquote

import idna

MAX_RESOURCE_LENGTH = 2048
_S3_MAX_KEY_BYTES = 1024  # S3's own limit on an object key, in UTF-8 bytes
_MAX_HOST_LENGTH = 253
_MAX_LABEL_LENGTH = 63


class ResourceKind(StrEnum):
    URL = "url"
    IP = "ip"
    DOMAIN = "domain"
    S3_OBJECT = "s3_object"


@dataclass(frozen=True)
class Resource:
    kind: ResourceKind
    canonical: str  # the one spelling; equal strings mean the same resource
    bucket: str | None = None  # S3 only
    key: str | None = None  # S3 only, the decoded object key
    version_id: str | None = None  # S3 only, from ?versionId= if given


class InvalidResource(ValueError):
    """A resource that is refused. `code` is a stable `rule.resource.*` string; `message` is for a human."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)  # both in args, so the exception pickles and reprs faithfully
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# --- Public API -----------------------------------------------------------------------------------------------


def canonicalize(raw: str) -> Resource:
    """Canonicalize any resource: an s3:// URI, an S3 or other http(s) URL, a bare IP address or a bare domain."""
    return _never_raise_anything_else(_canonicalize, raw)


def canonicalize_url(raw: str) -> Resource:
    """Canonicalize something that must be a URL (s3://, http:// or https://). S3 endpoint URLs become S3_OBJECT."""
    return _never_raise_anything_else(_canonicalize_url, raw)


def canonicalize_host(raw: str) -> str:
    """Canonicalize a host name: IDNA/punycode, lowercase, no trailing dot. IPv4 stays dotted; IPv6 is `[...]`."""
    return _never_raise_anything_else(lambda text: _canonical_host(_screen(text)), raw)


def canonicalize_ip(raw: str) -> str:
    """Canonicalize a single IP address: strict dotted-quad IPv4, or compressed lowercase IPv6."""
    return _never_raise_anything_else(_canonicalize_ip, raw)


# --- Error helpers --------------------------------------------------------------------------------------------

_T = TypeVar("_T")


def _never_raise_anything_else(parse: Callable[[str], _T], raw: str) -> _T:
    # The intake promises a 4xx, never a 5xx, for bad input. The standard library's parsers signal bad input with
    # ValueError (UnicodeError included); any case not anticipated below still becomes a rule violation.
    # Programming errors (TypeError, AttributeError...) are deliberately not caught.
    try:
        return parse(raw)
    except InvalidResource:
        raise
    except ValueError as exc:
        raise _malformed("the resource could not be parsed") from exc


def _brief(part: str, limit: int = 40) -> str:
    # Messages may name the offending part, but never echo a whole (possibly huge or hostile) input.
    return repr(part) if len(part) <= limit else repr(part[:limit]) + "..."


def _malformed(message: str) -> InvalidResource:
    return InvalidResource("rule.resource.malformed", message)


def _host_invalid(message: str) -> InvalidResource:
    return InvalidResource("rule.resource.host_invalid", message)


def _too_long(length: int) -> InvalidResource:
    return InvalidResource(
        "rule.resource.too_long", f"the resource is {length} characters long; the limit is {MAX_RESOURCE_LENGTH}"
    )


# --- Screening the raw text -----------------------------------------------------------------------------------

_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"
# C0 and C1 controls, DEL, and the Unicode line/paragraph separators: they split log lines and headers.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _screen(raw: str) -> str:
    text = raw.strip(_ASCII_WHITESPACE)
    if not text:
        raise InvalidResource("rule.resource.empty", "the resource is empty")
    if len(text) > MAX_RESOURCE_LENGTH:
        raise _too_long(len(text))
    _check_characters(text)
    return text


def _check_characters(text: str) -> None:
    control = _CONTROL_RE.search(text)
    if control:
        raise InvalidResource(
            "rule.resource.control_characters",
            f"the resource contains control character U+{ord(control.group()):04X} at position {control.start()}",
        )
    for position, char in enumerate(text):
        if char.isascii():
            continue
        category = unicodedata.category(char)
        # Format characters (Cf) are invisible: bidi overrides and isolates, zero-width space/joiners, word joiner,
        # BOM, soft hyphen, Arabic letter mark... They make two identical-looking strings differ, or reorder what
        # an analyst sees. The whole category is refused, not only the best-known ones.
        if category == "Cf":
            raise InvalidResource(
                "rule.resource.invisible_characters",
                f"the resource contains invisible character U+{ord(char):04X} at position {position}",
            )
        if category == "Cs":  # a lone surrogate cannot be encoded as UTF-8
            raise _malformed(f"the resource contains an unpaired surrogate at position {position}")


# --- Detecting what the text is -------------------------------------------------------------------------------

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*(?=:)")
_URL_SCHEMES = frozenset({"http", "https", "s3"})
_PORT_THEN_PATH_RE = re.compile(r"[0-9]*(?:[/?#].*)?", re.DOTALL)


def _canonicalize(raw: str) -> Resource:
    text = _screen(raw)
    _reject_arn(text)
    scheme = _scheme_of(text)
    if scheme in _URL_SCHEMES:
        return _checked_length(_canonical_url(text, scheme))
    # Bare IPs come before the scheme check: "fe80::1" would otherwise read as the scheme "fe80".
    address = _bare_ip(text)
    if address is not None:
        return Resource(ResourceKind.IP, address)
    if scheme is not None:
        _reject_scheme(text, scheme)
    if any(char in text for char in ":/?#\\"):
        # Guessing https:// for "example.com/path" would invent a resource the reporter may not have meant.
        raise _malformed("a URL needs a scheme: write it as https://host/path or s3://bucket/key")
    host = _canonical_host(text)
    kind = ResourceKind.IP if _DOTTED_QUAD_RE.fullmatch(host) else ResourceKind.DOMAIN
    return Resource(kind, host)


def _canonicalize_url(raw: str) -> Resource:
    text = _screen(raw)
    _reject_arn(text)
    scheme = _scheme_of(text)
    if scheme is None:
        raise _malformed("a URL needs a scheme: http://, https:// or s3://")
    if scheme not in _URL_SCHEMES:
        _reject_scheme(text, scheme)
    return _checked_length(_canonical_url(text, scheme))


def _canonicalize_ip(raw: str) -> str:
    text = _screen(raw)
    address = _bare_ip(text)
    if address is None:
        raise _malformed(f"{_brief(text)} is not an IP address")
    return address


def _scheme_of(text: str) -> str | None:
    match = _SCHEME_RE.match(text)
    return match.group().lower() if match else None


def _reject_arn(text: str) -> None:
    if text[:4].lower() == "arn:":
        raise InvalidResource(
            "rule.resource.s3_arn_not_accepted", "ARNs are not accepted; name an S3 object as s3://bucket/key"
        )


def _reject_scheme(text: str, scheme: str) -> None:
    """Raise for a scheme that is not allowed, or for "host:port" that only looks like a scheme."""
    after_colon = text[len(scheme) + 1 :]
    if ("." in scheme or scheme == "localhost") and _PORT_THEN_PATH_RE.fullmatch(after_colon):
        raise _malformed("a URL needs a scheme: write it as https://host:port/path")
    raise InvalidResource(
        "rule.resource.scheme_not_allowed",
        f"scheme {_brief(scheme, 20)} is not allowed; only http, https and s3 resources are accepted",
    )


def _checked_length(resource: Resource) -> Resource:
    # Percent-encoding can make the canonical form longer than the input. Refusing it here keeps the promise that a
    # canonical form is itself accepted input (canonicalize is idempotent).
    if len(resource.canonical) > MAX_RESOURCE_LENGTH:
        raise _too_long(len(resource.canonical))
    return resource


# --- IP addresses ---------------------------------------------------------------------------------------------

# WHATWG URL's "ends in a number" rule: a host whose last label is numeric is parsed as IPv4 by browsers.
_NUMERIC_LABEL_RE = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
_DOTTED_QUAD_RE = re.compile(r"[0-9]+(?:\.[0-9]+){3}")
_IPV6_LIKE_RE = re.compile(r"[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%.*)?", re.DOTALL)


def _bare_ip(text: str) -> str | None:
    """The canonical address if `text` is a bare IP; None if it is not IP-shaped at all. Raises for bad IPs."""
    if text.startswith("[") and text.endswith("]"):
        return _ipv6(text[1:-1], code="rule.resource.malformed")
    if "/" in text:
        if _is_network(text):
            raise _malformed("CIDR ranges are not accepted; name a single IP address")
        return None
    if ":" in text:
        return _ipv6(text, code="rule.resource.malformed") if _IPV6_LIKE_RE.fullmatch(text) else None
    candidate = text.removesuffix(".")
    # Non-ASCII text (full-width digits...) is left to the host path, which maps it with UTS #46 first.
    if candidate.isascii() and _NUMERIC_LABEL_RE.fullmatch(candidate.rsplit(".", 1)[-1]):
        return _strict_ipv4(candidate)
    return None


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _strict_ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        # 3232235777, 0xC0A80101, 0300.0250.1.1, 192.168.1, 010.1.1.1: browsers and libraries read these
        # differently (decimal, hex, octal, shortened), so no single address can be named with confidence.
        raise InvalidResource(
            "rule.resource.ambiguous_ip",
            f"numeric host {_brief(text)} is not a strict dotted-quad IPv4 address (like 192.0.2.1)",
        ) from None


def _ipv6(text: str, *, code: str) -> str:
    """Compressed lowercase IPv6, or dotted IPv4 for an IPv4-mapped address (it names that IPv4 host)."""
    if "%" in text:
        raise InvalidResource(code, "IPv6 zone identifiers are local to one machine and are not accepted")
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        raise InvalidResource(code, f"{_brief(text)} is not a valid IPv6 address") from None
    mapped = address.ipv4_mapped
    return str(mapped) if mapped is not None else address.compressed


# --- Host names -----------------------------------------------------------------------------------------------

_LDH_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


def _canonical_host(host: str) -> str:
    if host.startswith("["):
        if not host.endswith("]"):
            raise _host_invalid("an IPv6 host must be enclosed in [ ]")
        address = _ipv6(host[1:-1], code="rule.resource.host_invalid")
        return address if "." in address else f"[{address}]"
    return _canonical_name(host)


def _canonical_name(name: str) -> str:
    """A DNS name (or dotted IPv4) as lowercase ASCII: UTS #46 mapping, then punycode for non-ASCII labels."""
    try:
        # Maps case, full-width forms and ideographic full stops ("。") the way browsers do before resolving.
        mapped = idna.uts46_remap(name, std3_rules=False, transitional=False)
    except (idna.IDNAError, UnicodeError):
        raise _host_invalid(f"host {_brief(name)} is not a valid internationalized domain name") from None
    mapped = mapped.removesuffix(".")  # the root label: "example.com." and "example.com" are the same name
    if not mapped:
        raise _host_invalid("the host is empty")
    labels = mapped.split(".")
    if _NUMERIC_LABEL_RE.fullmatch(labels[-1]):
        return _strict_ipv4(mapped)
    host = ".".join(_ascii_label(label) for label in labels)
    if len(host) > _MAX_HOST_LENGTH:
        raise _host_invalid(f"the host is {len(host)} characters long; DNS allows {_MAX_HOST_LENGTH}")
    return host


def _ascii_label(label: str) -> str:
    if not label:
        raise _host_invalid("the host has an empty label (two dots in a row, or a leading dot)")
    if label.isascii() and not label.startswith("xn--"):
        # Plain LDH labels skip IDNA2008's hyphen rule: real hosts such as "r3---sn-abc.googlevideo.com" have
        # "--" in positions 3-4, and DNS and browsers accept them.
        ascii_label = label
    else:
        try:
            # Homoglyph and other IDN hosts are valid and must be reportable: they become their xn-- form.
            ascii_label = idna.alabel(label).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise _host_invalid(f"host label {_brief(label)} is not a valid internationalized label") from None
    if len(ascii_label) > _MAX_LABEL_LENGTH:
        raise _host_invalid(f"host label {_brief(ascii_label)} is longer than {_MAX_LABEL_LENGTH} characters")
    if not _LDH_LABEL_RE.fullmatch(ascii_label):
        raise _host_invalid(f"host label {_brief(ascii_label)} may only hold letters, digits and inner hyphens")
    return ascii_label


# --- URLs -----------------------------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
# Characters RFC 3986 allows unencoded in a path or query: unreserved, sub-delims, ":", "@", "/", "?" and the
# brackets (reserved, so encoding them could change the meaning). Everything else is percent-encoded.
_URI_CHARS = _UNRESERVED | frozenset("!$&'()*+,;=:@/?[]")
_PERCENT_OR_CHAR_RE = re.compile(r"%[0-9A-Fa-f]{2}|.", re.DOTALL)
_AFTER_SCHEME_RE = re.compile(r"(?P<authority>[^/?]*)(?P<path>[^?]*)(?:\?(?P<query>.*))?", re.DOTALL)
_PORT_RE = re.compile(r"[0-9]+")


def _canonical_url(text: str, scheme: str) -> Resource:
    after_scheme = text[len(scheme) + 1 :]
    if scheme == "s3":
        return _canonical_s3_uri(after_scheme)
    if not after_scheme.startswith("//"):
        raise _malformed(f"a {scheme} URL needs // and a host after the scheme")
    authority, path, query = _split_after_scheme(_backslashes_as_slashes(after_scheme[2:]))
    host_text, port = _split_authority(authority)
    host = _canonical_url_host(host_text)
    s3_object = _s3_object_from_http(host, path, query)
    if s3_object is not None:
        return s3_object
    port_part = "" if port is None or port == _DEFAULT_PORTS[scheme] else f":{port}"
    canonical_path = _remove_dot_segments(_normalize_percent_encoding(path)) or "/"
    query_part = "" if query is None else "?" + _normalize_percent_encoding(query)
    return Resource(ResourceKind.URL, f"{scheme}://{host}{port_part}{canonical_path}{query_part}")


def _backslashes_as_slashes(rest: str) -> str:
    # Browsers treat "\" as "/" before the query of an http(s) URL. Without this, "https://evil.example\@good.example"
    # would canonicalize to good.example while every browser visits evil.example.
    end = min((i for i in (rest.find("?"), rest.find("#")) if i != -1), default=len(rest))
    return rest[:end].replace("\\", "/") + rest[end:]


def _split_after_scheme(rest: str) -> tuple[str, str, str | None]:
    """(authority, path, query or None) of what follows "scheme://". The fragment is dropped: it never leaves the
    browser, so it does not change the resource."""
    without_fragment = rest.split("#", 1)[0]
    match = _AFTER_SCHEME_RE.fullmatch(without_fragment)
    assert match is not None  # every string matches: each group may be empty
    return match["authority"], match["path"], match["query"]


def _split_authority(authority: str) -> tuple[str, int | None]:
    # Userinfo names a login, not the resource, and is dropped. Browsers split at the last "@", and so do we.
    host_port = authority.rpartition("@")[2]
    if host_port.startswith("["):
        end = host_port.find("]")
        if end == -1:
            raise _malformed("an IPv6 host is missing its closing ]")
        host, after_host = host_port[: end + 1], host_port[end + 1 :]
        if after_host and not after_host.startswith(":"):
            raise _malformed("unexpected text after the IPv6 host")
        port_text = after_host[1:] if after_host else None
    else:
        host, colon, port_text_or_empty = host_port.partition(":")
        port_text = port_text_or_empty if colon else None
    if not host:
        raise _host_invalid("the URL has no host")
    return host, _parse_port(port_text)


def _parse_port(port_text: str | None) -> int | None:
    if not port_text:  # "https://example.com:/" has an empty port, which means the default
        return None
    if not _PORT_RE.fullmatch(port_text):
        raise _malformed(f"port {_brief(port_text, 10)} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise _malformed(f"port {_brief(port_text, 10)} is outside 1-65535")
    return port


def _canonical_url_host(host: str) -> str:
    if host.startswith("["):
        return _canonical_host(host)
    # Browsers percent-decode a host before IDNA, so "%65xample.com" is example.com. The decoded text is screened
    # again: an encoded zero-width space must not slip past the check the raw input got.
    decoded = _percent_decode(host, "host")
    _check_characters(decoded)
    if decoded.startswith("["):
        raise _host_invalid("an IPv6 host must not be percent-encoded")
    return _canonical_name(decoded)


def _percent_decode(text: str, what: str) -> str:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise _malformed(f"the {what} is not valid UTF-8 once percent-decoded") from None


def _normalize_percent_encoding(component: str) -> str:
    """Uppercase hex in escapes, decode escaped unreserved characters, encode what RFC 3986 does not allow raw
    (space, non-ASCII as UTF-8, a "%" that starts no escape). Reserved characters keep their raw or escaped form:
    "a/b" and "a%2Fb" are different paths."""
    return _PERCENT_OR_CHAR_RE.sub(_normalize_token, component)


def _normalize_token(match: re.Match[str]) -> str:
    token = match.group()
    if len(token) == 3:  # an escape, %XX
        char = chr(int(token[1:], 16))
        return char if char in _UNRESERVED else token.upper()
    return token if token in _URI_CHARS else quote(token, safe="")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 for the absolute (or empty) path of a URL with a host."""
    if not path:
        return path
    segments = path.split("/")[1:]
    output: list[str] = []
    for index, segment in enumerate(segments):
        is_last = index == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and output:
                output.pop()
            if is_last:  # "/a/b/.." is the directory "/a/", not the file "/a"
                output.append("")
            continue
        output.append(segment)
    return "/" + "/".join(output)


# --- S3 -------------------------------------------------------------------------------------------------------

_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}"  # us-east-1, us-gov-west-1, cn-north-1...
_AWS_DOMAIN = r"amazonaws\.com(?:\.cn)?"
_S3_ENDPOINT = rf"s3|s3-external-1|s3-{_REGION}|s3(?:-fips)?(?:\.dualstack)?\.{_REGION}"
_S3_WEBSITE_ENDPOINT = rf"s3-website[.-]{_REGION}"
_AWS_HOST_RE = re.compile(rf"(?:.+\.)?{_AWS_DOMAIN}")
_PATH_STYLE_HOST_RE = re.compile(rf"(?:{_S3_ENDPOINT})\.{_AWS_DOMAIN}")
_VIRTUAL_HOSTED_RE = re.compile(rf"(?P<bucket>.+)\.(?:{_S3_ENDPOINT}|{_S3_WEBSITE_ENDPOINT})\.{_AWS_DOMAIN}")
_ACCESS_POINT_HOST_RE = re.compile(
    rf"(?:.+\.)?(?:s3-accesspoint|s3-object-lambda)(?:-fips)?\..+|.+\.accesspoint\.s3-global\.{_AWS_DOMAIN}"
)
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_VERSION_ID_RE = re.compile(r"[\x21-\x7e]{1,1024}")  # printable ASCII; real version ids are a subset


def _access_point_not_accepted(what: str) -> InvalidResource:
    return InvalidResource(
        "rule.resource.s3_access_point_not_accepted",
        f"{what} is not accepted; name the object in its bucket as s3://bucket/key",
    )


def _canonical_s3_uri(after_scheme: str) -> Resource:
    # s3:// URIs are read with URL syntax, like the canonical form they must round-trip with: "%" escapes are
    # decoded once, "?" starts the query and "#" the fragment. A key holding a literal %, ? or # is written escaped.
    if not after_scheme.startswith("//"):
        raise _malformed("an S3 URI is written s3://bucket/key")
    body = after_scheme[2:]
    if body[:4].lower() == "arn:":
        raise _access_point_not_accepted("an access point ARN")
    bucket, path, query = _split_after_scheme(body)
    return _s3_object(bucket, path[1:], query)


def _s3_object_from_http(host: str, path: str, query: str | None) -> Resource | None:
    """The S3 object an http(s) URL names, or None if the host is not an S3 endpoint."""
    if not _AWS_HOST_RE.fullmatch(host):
        return None
    if _ACCESS_POINT_HOST_RE.fullmatch(host):
        raise _access_point_not_accepted("an access point or Object Lambda endpoint")
    if _PATH_STYLE_HOST_RE.fullmatch(host):
        bucket_text, _, key_text = path[1:].partition("/")
        bucket = _percent_decode(bucket_text, "bucket")
        if not bucket:
            raise _malformed("the S3 URL names no bucket")
        return _s3_object(bucket, key_text, query)
    virtual_hosted = _VIRTUAL_HOSTED_RE.fullmatch(host)
    if virtual_hosted:
        # Website endpoints are included: the path is the key. The index document is not inferred, since that
        # depends on bucket configuration this module never looks up.
        return _s3_object(virtual_hosted["bucket"], path[1:], query)
    return None  # some other AWS service: an ordinary URL


def _s3_object(bucket: str, key_text: str, query: str | None) -> Resource:
    _check_bucket(bucket)
    key = _percent_decode(key_text, "key")
    _check_key(key)
    version_id = _version_id(query)  # other parameters (presigned-URL signatures...) do not change the object
    canonical = f"s3://{bucket}/{quote(key, safe='/')}"
    if version_id is not None:
        canonical += f"?versionId={quote(version_id, safe='')}"
    return Resource(ResourceKind.S3_OBJECT, canonical, bucket=bucket, key=key, version_id=version_id)


def _check_bucket(bucket: str) -> None:
    # Access point aliases look like bucket names; their suffixes give them away.
    if bucket.endswith(("-s3alias", "--ol-s3", ".mrap")):
        raise _access_point_not_accepted("an access point alias")
    if not _BUCKET_RE.fullmatch(bucket):
        raise InvalidResource(
            "rule.resource.s3_bucket_invalid",
            f"bucket {_brief(bucket, 63)} is not a valid S3 bucket name: 3-63 lowercase letters, digits, dots and"
            " hyphens, starting and ending with a letter or digit",
        )
    if ".." in bucket or _DOTTED_QUAD_RE.fullmatch(bucket) or bucket.startswith(("xn--", "sthree-")):
        raise InvalidResource(
            "rule.resource.s3_bucket_invalid",
            f"bucket {_brief(bucket, 63)} is not a valid S3 bucket name (adjacent dots, IP form or reserved prefix)",
        )


def _check_key(key: str) -> None:
    if not key:
        raise _malformed("an S3 resource must name an object key, not only a bucket")
    # S3 itself treats "." and ".." as plain characters, but anything that later maps keys onto paths would not.
    # Such keys are refused rather than resolved, so a report can never point outside what it literally names.
    if "\x00" in key:
        raise InvalidResource("rule.resource.s3_key_traversal", "the S3 key contains a NUL character")
    if any(segment in (".", "..") for segment in key.split("/")):
        raise InvalidResource("rule.resource.s3_key_traversal", "the S3 key contains a '.' or '..' path segment")
    if len(key.encode("utf-8")) > _S3_MAX_KEY_BYTES:
        raise _malformed(f"the S3 key is longer than S3's limit of {_S3_MAX_KEY_BYTES} bytes")


def _version_id(query: str | None) -> str | None:
    if query is None:
        return None
    versions = [
        _percent_decode(value, "versionId")
        for name, _, value in (parameter.partition("=") for parameter in query.split("&"))
        if _percent_decode(name, "query") == "versionId"
    ]
    if not versions:
        return None
    if len(versions) > 1:
        raise _malformed("the S3 URL gives more than one versionId")
    if not _VERSION_ID_RE.fullmatch(versions[0]):
        raise _malformed("the S3 versionId must be 1-1024 printable ASCII characters")
    return versions[0]
