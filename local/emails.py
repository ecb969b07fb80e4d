"""`make run` prints each email the service sends through SES, as it is sent: from, to, subject and body, on stderr.

Locally no email leaves the machine: moto's SES keeps what SendEmail and SendRawEmail (v1 and v2) accepted. Whoever
tries the service (an analyst decides a case, the completion worker tells the reporters) should see those emails, so
``EmailPrinter`` reads moto's record of them and prints each new one: from the in-process backend with the embedded
moto; with a moto server of one's own, from its ``/moto-api/data.json``, read only when SES's GetSendQuota count has
moved (that endpoint dumps all of moto's state, every table item included). Any other endpoint keeps its emails to
itself and nothing is printed.

It prints addresses and bodies, which the service's own logs never carry: a local convenience for demo data. It
never sends, changes or deletes anything.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import sys
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from local.pollers import Outcome, Poller
from local.world import World

log = logging.getLogger(__name__)

MOTO_SERVER_POLL_SECONDS = 1.0
IN_PROCESS_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class SentEmail:
    message_id: str
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    body: str


Outbox = Callable[[], Sequence[SentEmail]]  # the emails sent since the last call


def _simple(message_id: str, source: str, destinations: Mapping[str, Any], subject: str, body: str) -> SentEmail:
    def addresses(key: str) -> tuple[str, ...]:
        return tuple(str(address) for address in destinations.get(key) or ())

    return SentEmail(
        message_id, source, addresses("ToAddresses"), addresses("CcAddresses"), addresses("BccAddresses"), subject, body
    )


def _raw(message_id: str, source: str, destinations: Sequence[str], raw: str) -> SentEmail:
    parsed = email.message_from_string(raw, policy=email.policy.default)
    part = parsed.get_body(preferencelist=("plain", "html"))
    body = part.get_content() if part is not None else ""
    return SentEmail(
        message_id,
        source or str(parsed.get("From", "")),
        # moto lists the message's own To addresses after the request's Destination: each address once.
        tuple(dict.fromkeys(str(address) for address in destinations)) or (str(parsed.get("To", "")),),
        (),
        (),
        str(parsed.get("Subject", "")),
        str(body),
    )


def in_process_outbox(account_id: str, region: str) -> Outbox:
    """The embedded moto's SES record (the same backend SES v2 writes to), read where the last call stopped."""
    from moto.ses.models import ses_backends  # only with the embedded moto, which has imported moto already

    backend = ses_backends[account_id][region]
    seen = len(backend.sent_messages)  # what was sent before this run's printer started is not news

    def new() -> list[SentEmail]:
        nonlocal seen
        messages = list(backend.sent_messages[seen:])
        seen += len(messages)
        return [sent for sent in (_from_model(vars(message)) for message in messages) if sent is not None]

    return new


def moto_api_outbox(endpoint_url: str, ses: Any) -> Outbox:
    """A moto server's SES record, through its model dump; each message printed once (by message id). ``ses`` is an SES
    (v1) client of that server: moto's GetSendQuota counts every recipient of every email sent so far."""
    url = f"{endpoint_url.rstrip('/')}/moto-api/data.json"
    seen: set[str] | None = None
    counted: float | None = None

    def new() -> list[SentEmail]:
        nonlocal seen, counted
        count = float(ses.get_send_quota()["SentLast24Hours"])
        if count == counted:
            return []
        counted = count
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the configured moto endpoint
            recorded = (json.load(answer).get("ses") or {}) if answer.status == 200 else {}
        models = [*(recorded.get("Message") or []), *(recorded.get("RawMessage") or [])]
        emails = [sent for sent in map(_from_model, models) if sent is not None]
        if seen is None:  # the first look only learns what was sent before this run
            seen = {sent.message_id for sent in emails}
            return []
        fresh = [sent for sent in emails if sent.message_id not in seen]
        seen.update(sent.message_id for sent in fresh)
        return fresh

    return new


def _from_model(attributes: Mapping[str, Any]) -> SentEmail | None:
    # moto's ses Message (id, source, destinations, subject, body) and RawMessage (id, source, destinations, raw_data).
    message_id, source = str(attributes.get("id", "")), str(attributes.get("source") or "")
    if "raw_data" in attributes:
        return _raw(message_id, source, attributes.get("destinations") or [], str(attributes["raw_data"]))
    if "subject" in attributes:
        destinations = attributes.get("destinations") or {}
        return _simple(message_id, source, destinations, str(attributes["subject"]), str(attributes.get("body", "")))
    return None  # a templated or bulk email: moto keeps no text to show


def describe_email(sent: SentEmail) -> str:
    """The lines printed for one email."""
    lines = [
        f"email sent (SES message {sent.message_id})",
        f"  from:    {sent.sender}",
        f"  to:      {', '.join(sent.to)}",
    ]
    if sent.cc:
        lines.append(f"  cc:      {', '.join(sent.cc)}")
    if sent.bcc:
        lines.append(f"  bcc:     {', '.join(sent.bcc)}")
    lines.append(f"  subject: {sent.subject}")
    lines += [f"  | {line}" for line in sent.body.splitlines() or [""]]
    return "\n".join(lines)


class _NoFunction:
    def invoke(self, logical_id: str, event: Any, *, request_id: str | None = None) -> Any:
        raise AssertionError("the email printer invokes no function")


class EmailPrinter(Poller):
    """Prints each email of ``outbox`` as it appears; runs in the pollers' group, stops with them."""

    def __init__(self, outbox: Outbox, *, idle_seconds: float, out: TextIO | None = None) -> None:
        super().__init__("sent emails", _NoFunction())
        self.outbox = outbox
        self.idle_seconds = idle_seconds
        self.out = out

    def poll_once(self) -> Outcome:
        emails = self.outbox()
        for sent in emails:
            print(describe_email(sent), file=self.out or sys.stderr, flush=True)
        return Outcome.DELIVERED if emails else Outcome.IDLE


def email_printer(world: World, endpoint_url: str, *, embedded: bool, is_moto: bool) -> EmailPrinter | None:
    """The printer for this run's endpoint; None (and a log line saying so) when it keeps no record we can read."""
    if embedded:
        return EmailPrinter(in_process_outbox(world.account_id, world.region), idle_seconds=IN_PROCESS_POLL_SECONDS)
    if is_moto:
        outbox = moto_api_outbox(endpoint_url, world.client("ses"))
        return EmailPrinter(outbox, idle_seconds=MOTO_SERVER_POLL_SECONDS)
    log.info("emails sent through %s are not shown: it is not a moto server", endpoint_url)
    return None
