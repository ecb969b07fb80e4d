"""Outcome emails through SES v2: one SendEmail per reporter and decision, Simple content, plain text only.

What SES's answer means for the email, and so for the record that sent it:
- accepted: Sent, with SES's message id (kept on the outcome marker, so a bounce or complaint can be traced back);
- refused for this message (MessageRejected, BadRequestException: an address SES will not take, or the sandbox's
  unverified recipient): NotSent with the code, recorded on its marker and never tried again, since it would be
  refused again. MessageRejected is also SES's answer to an unverified sender; the NotSent count on every email is
  how that shows (the OutcomeEmailsNotSent metric);
- anything else (throttling and 5xx after botocore's standard retries, the sending account paused or suspended, a
  connection that failed): MailUnavailable, so the record is retried and no reporter is written off for a fault
  that is the service's. A send whose answer was lost after SES took it cannot be told from one that never arrived
  (SendEmail takes no idempotency token): it is retried, and that is the one way an email can go twice.

The client is botocore's, created on first use and cached (clear() for tests). It is made here rather than in
shared.adapters.aws, whose session only loads the models of the services listed there; SES is the completion
worker's alone. This module never logs, and an error it raises names SES's code, never the address.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.session import Session

from shared.domain.outcomes import Delivery, MailUnavailable, NotSent, OutcomeEmail, Sent

# As shared.adapters.aws configures every client: fail fast, standard retries (throttling and transient faults, with
# backoff). The pool matches the domain's concurrent sends with room to spare.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 3},
    tcp_keepalive=True,
)

REFUSED_FOR_GOOD = frozenset({"MessageRejected", "BadRequestException"})
CHARSET = "UTF-8"


@cache
def sesv2() -> Any:  # SendEmail only: no stubs package pinned for SES v2
    return Session().create_client("sesv2", config=_CONFIG)


def clear() -> None:
    sesv2.cache_clear()


class SesMailer:
    """shared.domain.outcomes.Mailer through SES v2, from one verified sender identity."""

    def __init__(self, sender: str, *, reply_to: str | None = None, client: Any | None = None) -> None:
        self.sender = sender
        self.reply_to = reply_to
        self._client = client

    @property
    def client(self) -> Any:
        return self._client or sesv2()

    def send(self, to: str, email: OutcomeEmail) -> Delivery:
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": email.subject, "Charset": CHARSET},
                    "Body": {"Text": {"Data": email.text, "Charset": CHARSET}},
                }
            },
        }
        if self.reply_to:  # a reply contests the decision: it goes to the people who can look at it again
            request["ReplyToAddresses"] = [self.reply_to]
        try:
            answer = self.client.send_email(**request)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if code in REFUSED_FOR_GOOD:
                return NotSent(reason=code)
            raise MailUnavailable(code) from None  # from None: SES's message may quote the address
        except Exception as exc:
            raise MailUnavailable(type(exc).__name__) from None
        return Sent(message_id=str(answer["MessageId"]))
