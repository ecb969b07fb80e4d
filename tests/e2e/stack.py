"""Running `python -m local` for end-to-end tests: a real process on a real socket, synchronised by reading its
output with a deadline, never by sleeping; and a small HTTP client that can sign as a partner would."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REPO = Path(__file__).resolve().parents[2]
STARTUP_DEADLINE_SECONDS = 60.0
STOP_DEADLINE_SECONDS = 30.0  # a clean stop takes about a second; the margin is for a loaded CI machine
ACCESS_KEY_ID = "AKIALOCALTESTCALLER1"


@dataclass
class Endpoint:
    """A moto server that outlives the local stack, as AWS would, recording every request it receives."""

    url: str
    recording: Path

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def requests(self) -> list[dict[str, Any]]:
        if not self.recording.exists():
            return []
        return [json.loads(line) for line in self.recording.read_text().splitlines() if line.strip()]


@contextmanager
def recording_moto(directory: Path) -> Iterator[Endpoint]:
    from moto.moto_api import recorder
    from moto.server import ThreadedMotoServer

    recording = directory / "requests.jsonl"
    recorder._location = str(recording)  # the recorder's file is fixed when moto is imported; point it at ours
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's backends are global to this process, whatever server serves them: start from an empty cloud.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/recorder/start-recording", method="POST"))
    try:
        yield Endpoint(url, recording)
    finally:
        server.stop()


# A moto server in a process of its own, with the DynamoDB fixes `make run` applies to its embedded one.
_MOTO_PROCESS = """
import sys
from local.moto_gaps import serialise_dynamodb
serialise_dynamodb()
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()  # serve until the test closes its end of the pipe (or dies)
server.stop()
"""


@contextmanager
def moto_in_its_own_process() -> Iterator[str]:
    """A moto server process, as AWS is to a deployed stack: outside the stack's process, with a core of its own
    (a stack and its embedded moto share one interpreter lock). Yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-c", _MOTO_PROCESS],
        cwd=REPO,
        env={name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=lambda: lines.put(process.stdout.readline() if process.stdout else ""), daemon=True).start()
    try:
        try:
            url = lines.get(timeout=STARTUP_DEADLINE_SECONDS).strip()
        except queue.Empty:
            pytest.fail(f"the moto server printed no URL within {STARTUP_DEADLINE_SECONDS}s")
        if not url:
            pytest.fail(f"the moto server exited with {process.wait()} before printing its URL")
        yield url
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=STOP_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Running:
    process: subprocess.Popen[str]
    url: str
    stderr: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=STOP_DEADLINE_SECONDS)


def environment(**extra: str) -> dict[str, str]:
    # Nothing AWS-related from the developer's shell: no endpoint (so moto is embedded), no real credentials.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name not in ("HOST", "PORT")
    }
    # Stream checkpoints of these throwaway stacks belong in a throwaway place, not the repository's .local-state/.
    env["LOCAL_STATE_DIR"] = tempfile.mkdtemp(prefix="local-state-")
    env.update(extra)
    return env


T = TypeVar("T")


def eventually(probe: Callable[[], T | None], what: str, seconds: float = 60.0) -> T:
    """The probe's first truthy answer within the deadline; the test fails naming what did not happen."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)  # a poll interval with a deadline, not synchronisation by sleeping
    pytest.fail(f"not within {seconds}s: {what}")


@contextmanager
def local_stack(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Running]:
    stderr_path = tmp_path / f"local-{uuid.uuid4().hex[:8]}.stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", "--port", "0", *args],
            cwd=REPO,
            env=env if env is not None else environment(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            # Keep draining stdout for the whole run: handlers log there, and a full pipe would block the server.
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        try:
            try:
                first = lines.get(timeout=STARTUP_DEADLINE_SECONDS)
            except queue.Empty:
                pytest.fail(f"no URL within {STARTUP_DEADLINE_SECONDS}s:\n{stderr_path.read_text()}")
            if first is None:
                pytest.fail(f"exited with {process.wait()} before printing its URL:\n{stderr_path.read_text()}")
            url = first.strip()
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
            yield Running(process, url, stderr_path)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


# Quotas raised so that every request of a load or hostile-input test reaches the service, not the throttle.
UNTHROTTLED = ("--parameter", "PartnerRateLimit=100000", "--parameter", "PartnerBurstLimit=100000")


@contextmanager
def local_stack_on(endpoint: str, directory: Path, *args: str, **extra_env: str) -> Iterator[Running]:
    """`python -m local` against a moto server of the test's own (AWS_ENDPOINT_URL), its state in `directory`."""
    env = environment(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        LOCAL_STATE_DIR=str(directory / "state"),
        **extra_env,
    )
    with local_stack(directory, *args, env=env) as running:
        yield running


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)


# What every answer of the API carries, the gateway's own included (functions/webform/handler.py SECURITY_HEADERS).
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def assert_security_headers(answer: Answer) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert answer.header(name) == [value], (name, answer.status, answer.headers)


def call(
    port: int,
    method: str,
    target: str,
    *,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
    signed: bool = False,
    access_key: str = ACCESS_KEY_ID,
    connection: http.client.HTTPConnection | None = None,
) -> Answer:
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    all_headers = list(headers)
    if signed:
        # Signed as a partner would sign (SigV4, service execute-api); the local stack reads the key id only.
        request = AWSRequest(method=method, url=f"http://127.0.0.1:{port}{target}", data=body)
        SigV4Auth(Credentials(access_key, "not-a-real-secret"), "execute-api", "us-east-1").add_auth(request)
        all_headers += [(name, value) for name, value in request.headers.items() if name.lower() != "host"]
        all_headers.append(("x-api-key", f"key-of-{access_key}"))
    conn.putrequest(method, target)
    for name, value in all_headers:
        conn.putheader(name, value)
    if body:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body or None)
    response = conn.getresponse()
    answer = Answer(response.status, response.getheaders(), response.read())
    if connection is None:
        conn.close()
    return answer


@dataclass
class RawAnswer(Answer):
    closed: bool  # the server closed the connection after answering


def raw_exchange(
    port: int,
    request: bytes,
    *,
    trickle: bytes = b"",
    deadline_seconds: float = 15.0,
    trickle_every: float = 0.2,
    check_closed: bool = True,
) -> RawAnswer:
    """Send ``request`` as is on a fresh socket, then ``trickle`` one byte at a time (a slow client), and read the
    answer, with the socket timeout as the deadline (a test fails, it does not hang, when no answer comes). With
    ``check_closed``, wait (up to the deadline) to see whether the server closes the connection after answering."""
    with socket.create_connection(("127.0.0.1", port), timeout=deadline_seconds) as sock:
        sock.sendall(request)
        stop = threading.Event()

        def send_slowly() -> None:
            for byte in trickle:
                if stop.wait(trickle_every):  # the slow client's own pace, not synchronisation
                    return
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    return  # the server hung up on us: what a slow client should expect

        sender = threading.Thread(target=send_slowly, daemon=True)
        sender.start()
        try:
            response = http.client.HTTPResponse(sock)
            response.begin()
            answer = RawAnswer(response.status, response.getheaders(), response.read(), closed=False)
            try:
                answer.closed = check_closed and sock.recv(1) == b""
            except TimeoutError:
                answer.closed = False
            return answer
        finally:
            stop.set()
            sender.join()


def client(endpoint: str, service: str) -> Any:
    """A boto3 client of a test's own moto server (any credentials do)."""
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )


def evidence_bucket(endpoint: str) -> str:
    """The stack's evidence bucket on that server (its physical name is generated)."""
    (name,) = [b["Name"] for b in client(endpoint, "s3").list_buckets()["Buckets"] if "evidence" in b["Name"].lower()]
    return name
