"""The local stack's lifecycle and HTTP plumbing: moto, resources, environment, HTTP server, background workers.

``run()`` starts moto's server in-process (unless AWS_ENDPOINT_URL names another endpoint), creates the template's
resources there (``local.world``), exports the functions' environment, serves the template's API routes over HTTP
(``local.apigw`` shapes the events, ``local.runtime`` calls the handlers), prints the base URL once the socket accepts
connections, and on SIGINT/SIGTERM stops everything in reverse order and returns 0.

It must never reach a real AWS account on its own: with no AWS_ENDPOINT_URL it points boto3 at the embedded moto
and replaces any credentials in the environment with dummies. It must never print anything to stdout but the one URL
line (handlers may print their own logs afterwards), and never log request bodies.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, TextIO

from local import moto_gaps
from local.apigw import MAX_REQUEST_BYTES, REQUEST_TOO_LONG, Gateway, HttpRequest, HttpResponse, gateway_error
from local.checkpoints import default_state_dir
from local.demo import DEMO_BUCKET, register_moto_workarounds, seed_demo_bucket
from local.pollers import PollerGroup, build_pollers
from local.runtime import FunctionRuntime
from local.template import FUNCTION_TYPES, api_routes, load_template
from local.world import DEFAULT_STACK_NAME, World, build_world
from shared.adapters import aws

log = logging.getLogger(__name__)

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Settings that could send boto3 somewhere other than the embedded moto, or sign as a real identity.
_UNSAFE_WITH_EMBEDDED_MOTO = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


class BackgroundWorker(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


def background_workers(
    world: World, runtime: FunctionRuntime, *, state_dir: Path | None = None
) -> list[BackgroundWorker]:
    """The workers that run beside the HTTP server: started before it serves, stopped after it has stopped.

    The DynamoDB stream -> function and SQS queue -> function pollers (``local.pollers``): one per enabled entry of
    ``local.template.event_sources(world.template, world.resolve)``, each calling ``runtime.invoke`` with Lambda's
    event shapes, batch sizes and partial-failure semantics. They run as one group, so stopping them all takes as
    long as the slowest, not the sum. Stream positions are kept in ``state_dir`` (default: $LOCAL_STATE_DIR, else
    the repository's .local-state/).
    """
    pollers = build_pollers(world, runtime, state_dir=state_dir or default_state_dir())
    for poller in pollers:
        log.info("polling for %s", poller.name)
    return [PollerGroup(pollers)] if pollers else []


@contextmanager
def embedded_moto() -> Iterator[str]:
    """Moto's server on 127.0.0.1 (free port) in this process, with boto3 pointed at it via the environment."""
    from moto.server import ThreadedMotoServer  # heavy: only imported when no endpoint was given

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name in [*_UNSAFE_WITH_EMBEDDED_MOTO, *(n for n in os.environ if n.startswith("AWS_ENDPOINT_URL_"))]:
            os.environ.pop(name, None)
        # Dummies even when real credentials are set: a local run must not be able to sign as anyone real.
        os.environ.update(DUMMY_CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
        yield endpoint
    finally:
        server.stop()


def _set_default_region() -> None:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ.setdefault("AWS_REGION", region)  # what Lambda sets, and what handler code may read


def functions_environment(world: World) -> dict[str, str]:
    """Union of every function's environment: they share this one process, so a clash can only be reported."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for function in world.template.resources_of_type(*FUNCTION_TYPES):
        for name, value in world.function_environment(function).items():
            if name in merged and merged[name] != value:
                log.warning(
                    "%s differs between %s and %s; all use %s's value", name, owner[name], function, owner[name]
                )
                continue
            merged.setdefault(name, value)
            owner.setdefault(name, function)
    return merged


class ApiRequestHandler(BaseHTTPRequestHandler):
    """Bytes on the wire <-> HttpRequest/HttpResponse; everything API Gateway-like happens in ``gateway``."""

    protocol_version = "HTTP/1.1"  # keep-alive; every response carries an exact Content-Length
    disable_nagle_algorithm = True  # else a keep-alive client waits ~40 ms (delayed ACK) for each small response
    server_version = "abuse-intake-local"
    gateway: Gateway  # set on the subclass each server makes

    def _serve(self) -> None:
        started = time.monotonic()
        try:
            body = self._read_body()
        except ValueError:  # a Content-Length or chunk size that is not a number
            self.close_connection = True
            self.send_error(400, "Bad Request")
            return
        if body is None:
            response = gateway_error(413, REQUEST_TOO_LONG, "-")
            self.close_connection = True  # the unread body is still on the socket
        else:
            request = HttpRequest(
                method=self.command,
                target=self.path,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                server_port=self.connection.getsockname()[1],
                protocol=self.request_version,
            )
            response = self.gateway.handle(request)
        self._send(response)
        # Method, path without query, status: never bodies, never query strings (they may carry receipt tokens).
        duration_ms = (time.monotonic() - started) * 1000
        log.info("%s %s %d %.1fms", self.command, self.path.partition("?")[0], response.status, duration_ms)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over API Gateway's limit (nothing more is read then)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError(length)
        return None if length > MAX_REQUEST_BYTES else self.rfile.read(length)

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while size := int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16):
            total += size
            if total > MAX_REQUEST_BYTES:
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # the CRLF that ends the chunk
        while self.rfile.readline(8192).strip():  # trailers, up to the blank line
            pass
        return b"".join(chunks)

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        log.debug(format, *args)  # http.server's own lines (malformed requests...); requests are logged in _serve


class _GatewayServer(ThreadingHTTPServer):
    # socketserver's default backlog is 5: a burst of partners' parallel retries would be reset at connect, where
    # API Gateway accepts them (and throttles, if it must, with a 429).
    request_queue_size = 256
    daemon_threads = True


@contextmanager
def http_server(host: str, port: int, gateway: Gateway) -> Iterator[ThreadingHTTPServer]:
    """Serve ``gateway`` on (host, port) from a background thread; the socket is listening when this yields."""
    handler = type("BoundApiRequestHandler", (ApiRequestHandler,), {"gateway": gateway})
    httpd = _GatewayServer((host, port), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="http", daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def seed_demo_world(*, embedded: bool) -> None:
    """The demo bucket the service protects by default (PROTECTED_BUCKETS), with a few objects to report.

    On moto (embedded, or a moto server behind AWS_ENDPOINT_URL) the quarantine path needs moto's gaps written
    around (local/demo.py), and the bucket policy is left out: moto would deny every read under it.
    """
    moto = embedded or _is_moto(os.environ.get("AWS_ENDPOINT_URL", ""))
    s3 = aws.s3()
    if moto:
        register_moto_workarounds(s3)
        moto_gaps.install(s3)
    protected = {name.strip() for name in os.environ.get("PROTECTED_BUCKETS", "").split(",")}
    if DEMO_BUCKET in protected:
        seed_demo_bucket(s3, DEMO_BUCKET, install_policy=not moto)


def _is_moto(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/moto-api/data.json", timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, ValueError):
        return False


class _StopRequested(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM; a BaseException so no `except Exception` on the way swallows it."""


def _request_stop(signum: int, frame: Any) -> None:
    # Raising (rather than setting a flag the main thread waits on) interrupts any blocking call, including a slow
    # start-up, and takes no lock inside a signal handler. A second signal while stopping gets the default behaviour.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise _StopRequested


def run(
    host: str,
    port: int,
    *,
    template_path: Path | None = None,
    parameters: Mapping[str, str] | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
    state_dir: Path | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run the local stack until SIGINT or SIGTERM; 0 on a clean stop. Call from the main thread.

    ``state_dir`` keeps what must outlive the process (stream pollers' checkpoints); default: $LOCAL_STATE_DIR, else
    the repository's .local-state/.
    """
    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every AWS call otherwise
    try:
        # Exit runs in reverse: HTTP stops first, then the workers, then moto.
        with ExitStack() as stack:
            external = bool(os.environ.get("AWS_ENDPOINT_URL"))
            if not external:
                stack.enter_context(embedded_moto())
            _set_default_region()
            template = load_template(template_path)
            world = build_world(template, stack_name=stack_name, parameters=parameters)
            os.environ.update(functions_environment(world))
            seed_demo_world(embedded=not external)
            runtime = FunctionRuntime.from_world(world)
            routes = api_routes(template, world.resolve)
            gateway = Gateway(
                routes,
                lambda function, event, request_id: runtime.invoke(function, event, request_id=request_id),
                api_ids={route.api: str(world.ref(route.api)) for route in routes},
                account_id=world.account_id,
            )
            for worker in background_workers(world, runtime, state_dir=state_dir):
                worker.start()
                stack.callback(worker.stop)
            httpd = stack.enter_context(http_server(host, port, gateway))
            print(f"http://{host}:{httpd.server_address[1]}", file=out, flush=True)
            threading.Event().wait()  # until a signal raises _StopRequested
    except _StopRequested:
        log.info("stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
