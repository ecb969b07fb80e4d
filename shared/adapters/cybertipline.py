"""NCMEC's CyberTipline reporting API over HTTPS: one method per call, each an Answer or a Retryable / Final error.

What the calls are and what their answers mean for a filing is shared.domain.cybertipline's business; this module only
speaks the wire format (report.cybertip.org/ispws, test environment exttest.cybertip.org/ispws, `NCMEC_URL`):
- HTTP Basic with NCMEC-issued credentials (the caller passes them in, read from the Secrets Manager secret);
- GET /status; POST /submit and /fileinfo with a `text/xml` body (`report`, `fileDetails`); POST /upload as
  multipart/form-data with `id` (the reportId) and `file`; POST /finish and /retract as a form with `id`;
- every answer is XML: `reportResponse` (responseCode, responseDescription, reportId, fileId, hash) or, from /finish,
  `reportDoneResponse` (responseCode, reportId, files/fileId), with a `Request-ID` header.

How an exchange ends, for the filing: responseCode 0 or 5xxx (ALREADY) -> Answer; 1000/1100/1110/1111/1300 ->
Retryable(lost=False), NCMEC said it did not do it; no connection at all -> Retryable(lost=False), nothing was sent;
a timeout, a dropped connection, an HTTP 5xx from something in between, or an answer we cannot read ->
Retryable(lost=True), NCMEC may have done it; HTTP 401/403 and the final codes -> Final. urllib3's own retries are off:
repeating a POST is the filing's decision (a repeated /submit or /upload is not harmless), never the transport's.

It never logs, and what it raises names the call, NCMEC's code and a short description, never a document or a byte
of a file. Plain HTTP is refused except to a loopback address (the local fake, local/cybertipline.py): credentials and
evidence never travel unencrypted.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from shared.domain.cybertipline import Answer, Call, CodeClass, Final, Retryable, classify

MAX_ANSWER_BYTES = 1 << 20  # NCMEC's answers are a few hundred bytes; a larger one is not NCMEC's and is not parsed
MAX_DESCRIPTION = 200  # responseDescription is shown on the case page: short, and never a whole echoed document
USER_AGENT = "abuse-intake-cybertipline/1"


class CyberTiplineClient:
    """shared.domain.cybertipline.CyberTipline over urllib3 (botocore's own HTTP library: nothing more to load)."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        connect_timeout: float = 5.0,
        timeout: float = 30.0,
        upload_timeout: float = 300.0,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname)):
            raise ValueError("NCMEC_URL must be https (plain http only to a loopback address, for the local fake)")
        self.base_url = base_url.rstrip("/")
        self._headers = urllib3.make_headers(basic_auth=f"{username}:{password}", user_agent=USER_AGENT)
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=timeout)
        # A file of a few hundred MB takes a while to send and to hash at NCMEC before it answers.
        self._upload_timeout = urllib3.Timeout(connect=connect_timeout, read=upload_timeout)
        self._pool = pool or urllib3.PoolManager(retries=False, maxsize=2)

    def status(self) -> Answer:
        return self._exchange(Call.STATUS, "GET", None, None, self._timeout)

    def submit(self, document: bytes) -> Answer:
        answer = self._exchange(Call.SUBMIT, "POST", document, "text/xml; charset=utf-8", self._timeout)
        if answer.code_class == CodeClass.OK and not answer.report_id:
            # Something was done (code 0) and we cannot name it: the same as an answer we never heard.
            raise Retryable(Call.SUBMIT, answer.code, "answer without a reportId", lost=True)
        return answer

    def upload(self, report_id: str, file_name: str, content: bytes) -> Answer:
        body, content_type = urllib3.encode_multipart_formdata(
            {"id": report_id, "file": (file_name, content, "application/octet-stream")}
        )
        answer = self._exchange(Call.UPLOAD, "POST", body, content_type, self._upload_timeout)
        if answer.code_class == CodeClass.OK and not (answer.file_id and answer.md5):
            raise Retryable(Call.UPLOAD, answer.code, "answer without a fileId and hash", lost=True)
        return answer

    def fileinfo(self, document: bytes) -> Answer:
        return self._exchange(Call.FILEINFO, "POST", document, "text/xml; charset=utf-8", self._timeout)

    def finish(self, report_id: str) -> Answer:
        return self._exchange(Call.FINISH, "POST", _form(report_id), "application/x-www-form-urlencoded", self._timeout)

    def retract(self, report_id: str) -> Answer:
        return self._exchange(
            Call.RETRACT, "POST", _form(report_id), "application/x-www-form-urlencoded", self._timeout
        )

    def _exchange(
        self, call: Call, method: str, body: bytes | None, content_type: str | None, timeout: urllib3.Timeout
    ) -> Answer:
        headers = dict(self._headers)
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = self._pool.request(
                method,
                f"{self.base_url}/{call}",
                body=body,
                headers=headers,
                timeout=timeout,
                retries=False,
                redirect=False,
                preload_content=False,
            )
            try:
                raw = response.read(MAX_ANSWER_BYTES + 1)
            except BaseException:
                response.close()
                raise
            if len(raw) > MAX_ANSWER_BYTES:
                response.close()  # the rest is unread: this connection must not serve another request
            else:
                response.release_conn()
        except ConnectTimeoutError as exc:  # refused, unresolvable or too slow to connect (NewConnectionError too)
            raise Retryable(call, None, f"no connection ({type(exc).__name__})", lost=False) from exc
        except SSLError as exc:  # the handshake comes before the request: nothing was sent
            raise Retryable(call, None, f"TLS failed ({type(exc).__name__})", lost=False) from exc
        except Urllib3Timeout as exc:  # the request went; its answer did not come in time
            raise Retryable(call, None, "timed out", lost=True) from exc
        except (ProtocolError, HTTPError, OSError) as exc:  # the connection dropped before the whole answer came
            raise Retryable(call, None, f"no answer ({type(exc).__name__})", lost=True) from exc

        request_id = response.headers.get("Request-ID")
        if response.status in (401, 403):
            raise Final(call, 2000 if response.status == 401 else 3000, f"HTTP {response.status} (credentials)")
        if response.status >= 500:  # a gateway or NCMEC itself failed, perhaps after doing the work
            raise Retryable(call, None, f"HTTP {response.status}", lost=True)
        if response.status != 200:
            raise Final(call, None, f"HTTP {response.status}")
        answer = _parse(call, raw, request_id)
        if answer is None:
            raise Retryable(call, None, "unreadable answer", lost=True)
        code_class = classify(answer.code)
        if code_class == CodeClass.RETRYABLE:
            raise Retryable(call, answer.code, answer.description, lost=False)
        if code_class == CodeClass.FINAL:
            raise Final(call, answer.code, answer.description)
        return answer


def _parse(call: Call, raw: bytes, request_id: str | None) -> Answer | None:
    """The answer document, or None when it is not one NCMEC would send (too large, a DTD, not XML, no code).

    Anything declaring a DTD is refused before parsing: NCMEC's answers never carry one, and ElementTree's expat
    parser, while it never fetches external entities, does expand internal ones (bounded only by expat's
    amplification limits). Without a DTD there is nothing to expand.
    """
    if len(raw) > MAX_ANSWER_BYTES or b"<!doctype" in raw.lower() or b"<!entity" in raw.lower():
        return None
    try:
        root = ET.fromstring(raw)
    except ET.ParseError:
        return None
    if root.tag not in ("reportResponse", "reportDoneResponse"):
        return None
    code_text = (root.findtext("responseCode") or "").strip()
    if not code_text.lstrip("-").isdigit():
        return None
    file_ids = tuple(
        (element.text or "").strip()
        for element in [*root.findall("files/fileId"), *root.findall("fileId")]
        if root.tag == "reportDoneResponse" and (element.text or "").strip()
    )
    return Answer(
        call=call,
        code=int(code_text),
        description=(root.findtext("responseDescription") or "").strip()[:MAX_DESCRIPTION],
        report_id=_text(root, "reportId"),
        file_id=_text(root, "fileId") if root.tag == "reportResponse" else None,
        md5=(_text(root, "hash") or "").lower() or None,
        file_ids=file_ids,
        request_id=request_id,
        document=raw.decode("utf-8", errors="replace") if call == Call.FINISH else "",
    )


def _text(root: ET.Element, tag: str) -> str | None:
    return (root.findtext(tag) or "").strip() or None


def _form(report_id: str) -> bytes:
    return urlencode({"id": report_id}).encode()


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
