"""The local stack's lifecycle: moto, the template's resources, the functions' environment, HTTP, background workers.

``run()`` starts moto's server in-process (unless AWS_ENDPOINT_URL names another endpoint), creates the template's
resources there (``local.world``) with parameters from the environment (``PARAMETER_OF_VARIABLE``), exports the
functions' environment, creates the analysts' demo users (``local.cognito``), serves the template's API over HTTP
(werkzeug's server; ``local.apigw`` decides every answer), prints each email SES accepts (``local.emails``), prints
the base URL once the socket listens, and on SIGINT/SIGTERM stops in reverse order and returns 0.

It must never reach a real AWS account on its own: with no AWS_ENDPOINT_URL it points boto3 at the embedded moto
and replaces any credentials with dummies. It must never print anything to stdout but the one URL line (handlers may
print their own logs afterwards; what a person should read goes to stderr), and never log request bodies.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from botocore.exceptions import ClientError
from werkzeug.serving import BaseWSGIServer, DechunkedInput, WSGIRequestHandler, make_server

from local import moto_gaps
from local.alarms import on_call_workers
from local.apigw import MAX_REQUEST_BYTES, REQUEST_TOO_LONG, Gateway, HttpRequest, gateway_error
from local.checkpoints import default_state_dir
from local.cognito import (
    DemoSignIn,
    SignInError,
    UserPoolAuthorizer,
    describe_sign_in,
    ensure_demo_users,
    load_user_pools,
)
from local.cybertipline import for_local_stack as cybertipline_fake
from local.demo import DEMO_BUCKET, DEMO_OBJECTS, register_moto_workarounds, seed_demo_bucket
from local.emails import email_printer
from local.pollers import PollerGroup, build_pollers
from local.redrive import advertise
from local.runtime import FunctionRuntime
from local.schedules import build_schedule_callers
from local.template import FUNCTION_TYPES, ApiRoute, Template, api_routes, load_template
from local.world import DEFAULT_STACK_NAME, LOCAL_PARAMETER_DEFAULTS, World, build_world
from shared.adapters import aws

log = logging.getLogger(__name__)

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Settings that could send boto3 somewhere other than the embedded moto, or sign as a real identity.
_UNSAFE_WITH_EMBEDDED_MOTO = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
BODY_TIMEOUT_SECONDS = 10.0  # the most a request body may take to arrive (--body-timeout)
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,8}(;[^\r\n]*)?\r\n")  # 8 hex digits: 4 GB, far over the limit
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "0.0.0.0")  # noqa: S104 - names compared, nothing is bound

# The variables the README documents, and the template parameter each sets (the first one set wins: Powertools
# reads POWERTOOLS_LOG_LEVEL before LOG_LEVEL). The template turns parameters into the functions' environment, so a
# variable set here reaches the functions exactly as a deployed stack's parameter would. --parameter wins over both.
PARAMETER_OF_VARIABLE: dict[str, str] = {
    "PROTECTED_BUCKETS": "ProtectedBuckets",
    "PARTNERS": "PartnerPrincipals",
    "TRUST_SAFETY_EMAIL": "TrustSafetyEmail",
    "MAX_BODY_BYTES": "MaxBodyBytes",
    "CONTACT_RETENTION_DAYS": "ContactRetentionDays",
    "POWERTOOLS_LOG_LEVEL": "LogLevel",
    "LOG_LEVEL": "LogLevel",
    "PARTNER_RATE_LIMIT": "PartnerRateLimit",
    "PARTNER_BURST_LIMIT": "PartnerBurstLimit",
}


def template_parameters(template: Template, explicit: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The parameters to build with (--parameter values, then the variables above, for parameters the template
    declares), and what set each one."""
    chosen, set_by = dict(explicit), dict.fromkeys(explicit, "--parameter")
    for variable, parameter in PARAMETER_OF_VARIABLE.items():
        value = os.environ.get(variable)
        if value and parameter in template.parameters and parameter not in chosen:
            chosen[parameter], set_by[parameter] = (value.upper() if parameter == "LogLevel" else value), variable
    for parameter in LOCAL_PARAMETER_DEFAULTS:  # local.world applies these itself when nothing else set them
        if parameter in template.parameters and parameter not in chosen:
            set_by[parameter] = "local default"
    return chosen, set_by


def describe_configuration(world: World, set_by: Mapping[str, str], out: TextIO, *, embedded: bool) -> None:
    """What this run uses, for a person (no secrets): each documented variable's effective value, the demo objects."""
    where = "embedded moto at " if embedded else ""
    lines = [f"  {'AWS_ENDPOINT_URL':<34} {where}{os.environ['AWS_ENDPOINT_URL']} (region {world.region})"]
    for parameter in dict.fromkeys(PARAMETER_OF_VARIABLE.values()):
        if parameter in world.parameters:
            names = " / ".join(v for v, p in PARAMETER_OF_VARIABLE.items() if p == parameter)
            value = world.parameters[parameter]
            shown = ",".join(value) if isinstance(value, list) else value
            lines.append(f"  {names:<34} {shown}  ({set_by.get(parameter, 'template default')}; {parameter})")
    for parameter in LOCAL_PARAMETER_DEFAULTS:
        if parameter in world.parameters and parameter not in PARAMETER_OF_VARIABLE.values():
            value = world.parameters[parameter]
            shown = ",".join(value) if isinstance(value, list) else value
            lines.append(f"  {parameter:<34} {shown}  ({set_by.get(parameter, 'template default')})")
    print("configuration:", *lines, sep="\n", file=out)
    if DEMO_BUCKET in os.environ.get("PROTECTED_BUCKETS", "").split(","):
        print(f"objects to report (bucket {DEMO_BUCKET} is protected; report one, watch it be quarantined):", file=out)
        for key in DEMO_OBJECTS:
            print(f"  s3://{DEMO_BUCKET}/{key}  https://{DEMO_BUCKET}.s3.amazonaws.com/{key}", file=out)
    out.flush()


@contextmanager
def embedded_moto() -> Iterator[str]:
    """Moto's server on 127.0.0.1 (free port) in this process, with boto3 pointed at it via the environment."""
    from moto.server import ThreadedMotoServer  # heavy: only imported when no endpoint was given

    moto_gaps.serialise_dynamodb()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name in [*_UNSAFE_WITH_EMBEDDED_MOTO, *(n for n in os.environ if n.startswith("AWS_ENDPOINT_URL_"))]:
            os.environ.pop(name, None)
        # Dummies even when real credentials are set: a local run must not be able to sign as anyone real.
        os.environ.update(DUMMY_CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
        # moto's Cognito accepts any TOTP code unless told to check them; Cognito checks them.
        os.environ["MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP"] = "true"
        yield endpoint
    finally:
        server.stop()


def _prepare_external_endpoint(endpoint: str) -> None:
    # A local endpoint (a moto server, LocalStack...) checks no signature: dummies spare the user exporting any.
    if urlsplit(endpoint).hostname in _LOOPBACK and not os.environ.get("AWS_ACCESS_KEY_ID"):
        os.environ.update(DUMMY_CREDENTIALS)
        log.info("no AWS credentials set; using dummy ones for the local endpoint %s", endpoint)


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
            if merged.setdefault(name, value) != value:
                log.warning(
                    "%s differs between %s and %s; all use %s's value", name, owner[name], function, owner[name]
                )
            owner.setdefault(name, function)
    return merged


class _BodyReader:
    """``read`` and ``readline`` on the connection's buffered reader, all within one deadline: each call waits for at
    most one recv (``peek``), with the socket's timeout set to the time left."""

    def __init__(self, rfile: Any, connection: socket.socket, deadline: float) -> None:
        self._rfile, self._connection, self._deadline = rfile, connection, deadline

    def _buffered(self) -> bytes:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request body too slow")
        self._connection.settimeout(left)
        data: bytes = self._rfile.peek(1)
        if not data:
            raise ValueError("connection closed mid-body")
        return data

    def read(self, size: int) -> bytes:
        parts = []
        while size > 0:
            part = self._rfile.read(min(size, len(self._buffered())))
            parts.append(part)
            size -= len(part)
        return b"".join(parts)

    def readline(self, limit: int) -> bytes:
        line = b""
        while len(line) < limit and not line.endswith(b"\n"):
            data = self._buffered()[: limit - len(line)]
            line += self._rfile.read(data.find(b"\n") + 1 or len(data))
        return line


class _StrictDechunkedInput(DechunkedInput):
    """werkzeug's decoder reads a chunk size with int(line, 16), which takes `0x1f`, `-1` or `1_0`: HTTP allows hex
    digits only (and chunk extensions, ignored)."""

    def __init__(self, reader: _BodyReader) -> None:
        super().__init__(reader)  # type: ignore[arg-type]
        self._reader = reader

    def read_chunk_len(self) -> int:
        line = self._reader.readline(1024)
        if not _CHUNK_SIZE.fullmatch(line):
            raise ValueError("malformed chunk size")
        return int(line.split(b";")[0], 16)


class ApiRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler with the gateway's answers. werkzeug sends every method, TRACE and PROPFIND
    included, to ``run_wsgi``, so the gateway answers them as API Gateway does, never http.server's 501."""

    protocol_version = "HTTP/1.1"  # keep-alive; every response carries an exact Content-Length
    disable_nagle_algorithm = True  # else a keep-alive client waits ~40 ms (delayed ACK) for each small response
    gateway: Gateway  # set on the subclass each server makes, with body_timeout
    body_timeout: float = BODY_TIMEOUT_SECONDS

    def run_wsgi(self) -> None:
        # Not werkzeug's own run_wsgi: it closes every connection (its server does no keep-alive) and then waits
        # 10 ms for stray body bytes. API Gateway keeps connections open, so the framing here is ours.
        started = time.monotonic()
        try:
            body = self._read_body()
        except TimeoutError:  # the whole body did not arrive within body_timeout
            body, response = None, gateway_error(408, b'{"message":"Request Timeout"}', "-")
        except (ValueError, OSError):  # a Content-Length or chunk size that is not a number, a broken chunk
            body, response = None, gateway_error(400, b'{"message":"Bad Request"}', "-")
        else:
            response = (
                gateway_error(413, REQUEST_TOO_LONG, "-")
                if body is None
                else self.gateway.handle(
                    HttpRequest(
                        method=self.command,
                        target=self.path,
                        headers=list(self.headers.items()),
                        body=body,
                        source_ip=self.client_address[0],
                        server_port=self.connection.getsockname()[1],
                        protocol=self.request_version,
                    )
                )
            )
        self.close_connection = self.close_connection or body is None  # the rest of the body is still on the socket
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        # Method, path without query, status: never bodies, never query strings (they may carry receipt tokens).
        duration_ms = (time.monotonic() - started) * 1000
        log.info("%s %s %d %.1fms", self.command, self.path.partition("?")[0], response.status, duration_ms)

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over API Gateway's limit (nothing more is read then). All of it
        within ``body_timeout`` seconds, or TimeoutError: a client trickling its body must not hold a thread."""
        reader = _BodyReader(self.rfile, self.connection, time.monotonic() + self.body_timeout)
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                body: bytes = _StrictDechunkedInput(reader).read(MAX_REQUEST_BYTES + 1)
                return None if len(body) > MAX_REQUEST_BYTES else body
            length = self.headers.get("Content-Length") or "0"
            if not length.isdigit():  # int() would take "-1", "+5" or " 5"
                raise ValueError("malformed Content-Length")
            return None if int(length) > MAX_REQUEST_BYTES else reader.read(int(length))
        finally:
            self.connection.settimeout(self.timeout)

    def version_string(self) -> str:
        return "abuse-intake-local"  # no Python or werkzeug version in the Server header

    def log_request(self, *args: Any) -> None:
        pass  # run_wsgi logs each request, without its query string


def _never_called(environ: Any, start_response: Any) -> list[bytes]:
    raise AssertionError("ApiRequestHandler answers every request itself")


@contextmanager
def http_server(
    host: str, port: int, gateway: Gateway, body_timeout: float = BODY_TIMEOUT_SECONDS
) -> Iterator[BaseWSGIServer]:
    """Serve ``gateway`` on (host, port) from a background thread; the socket is listening when this yields."""
    # The WSGI app is never called (ApiRequestHandler answers); a burst of partners' parallel retries must not be
    # reset at connect, so werkzeug's listen backlog (128) stands.
    handler = type("BoundApiRequestHandler", (ApiRequestHandler,), {"gateway": gateway, "body_timeout": body_timeout})
    httpd = make_server(host, port, app=_never_called, threaded=True, request_handler=handler)
    thread = threading.Thread(target=httpd.serve_forever, name="http", daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def seed_demo_world(*, moto: bool) -> None:
    """The demo bucket the service protects by default (PROTECTED_BUCKETS), with a few objects to report.

    On moto the quarantine path needs moto's gaps written around (local/demo.py), and the bucket policy is left
    out: moto would deny every read under it.
    """
    s3 = aws.s3()
    if moto:
        register_moto_workarounds(s3)
        moto_gaps.install(s3)
    if DEMO_BUCKET in {name.strip() for name in os.environ.get("PROTECTED_BUCKETS", "").split(",")}:
        seed_demo_bucket(s3, DEMO_BUCKET, install_policy=not moto)


def user_pools_and_demo_users(
    world: World, routes: list[ApiRoute], endpoint: str, state_dir: Path
) -> tuple[UserPoolAuthorizer, list[DemoSignIn]]:
    """The gateway's Cognito authorizer for the pools the routes name, and a demo user per group in each pool. A pool
    whose keys cannot be fetched is left out (its routes answer 401); demo users that cannot be made are skipped."""
    pools = sorted({route.user_pool for route in routes if route.user_pool})
    try:
        authorizer = load_user_pools(world, pools, endpoint)
    except (OSError, ValueError) as error:
        log.warning("the user pools' keys are not available at %s (%s): Cognito routes answer 401", endpoint, error)
        authorizer = UserPoolAuthorizer({})
    demos = []
    for pool in pools:
        try:
            demo = ensure_demo_users(world, pool, endpoint, state_dir)
        except (ClientError, SignInError) as error:
            log.warning("no demo users in %s: %s", pool, error)
            continue
        if demo is not None:
            demos.append(demo)
    return authorizer, demos


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
    body_timeout: float = BODY_TIMEOUT_SECONDS,
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
            external = os.environ.get("AWS_ENDPOINT_URL")
            if external:
                _prepare_external_endpoint(external)
            else:
                stack.enter_context(embedded_moto())
            _set_default_region()
            template = load_template(template_path)
            chosen, set_by = template_parameters(template, parameters or {})
            world = build_world(template, stack_name=stack_name, parameters=chosen)
            own_ncmec_url = os.environ.get("NCMEC_URL")
            os.environ.update(functions_environment(world))
            state = state_dir or default_state_dir()
            if own_ncmec_url:
                os.environ["NCMEC_URL"] = own_ncmec_url
            elif os.environ.get("CYBERTIPLINE_SECRET_ARN"):
                # A CyberTipline of our own (local.cybertipline), so that nothing ever reaches NCMEC from a laptop.
                fake = stack.enter_context(cybertipline_fake(os.environ["CYBERTIPLINE_SECRET_ARN"], state))
                os.environ["NCMEC_URL"] = fake.base_url
                print(
                    f"CyberTipline (local fake): {fake.base_url}, what is filed: {fake.state_file}",
                    file=sys.stderr,
                    flush=True,
                )
            is_moto = not external or _is_moto(external)
            seed_demo_world(moto=is_moto)
            runtime = FunctionRuntime.from_world(world)
            routes = api_routes(template, world.resolve)
            endpoint = os.environ["AWS_ENDPOINT_URL"]
            user_pools, demo_sign_ins = user_pools_and_demo_users(world, routes, endpoint, state)
            gateway = Gateway(
                routes,
                lambda function, event, request_id: runtime.invoke(function, event, request_id=request_id),
                api_ids={route.api: str(world.ref(route.api)) for route in routes},
                account_id=world.account_id,
                user_pools=user_pools,
            )
            # The stream and queue pollers (local.pollers), the on-call workers (local.alarms) and the email printer
            # (local.emails), one thread each, started before HTTP serves.
            pollers = build_pollers(world, runtime, state_dir=state) + on_call_workers(world)
            pollers += build_schedule_callers(world, runtime)  # Schedule events (local.schedules)
            printer = email_printer(world, endpoint, embedded=not external, is_moto=is_moto)
            pollers += [printer] if printer else []
            for poller in pollers:
                log.info("polling for %s", poller.name)
            group = PollerGroup(pollers)
            group.start()
            stack.callback(group.stop)
            stack.callback(advertise(world, state))  # for `make redrive`
            httpd = stack.enter_context(http_server(host, port, gateway, body_timeout))
            describe_configuration(world, set_by, sys.stderr, embedded=not external)
            for demo in demo_sign_ins:
                describe_sign_in(demo, sys.stderr)
            print(f"http://{host}:{httpd.server_address[1]}", file=out, flush=True)
            threading.Event().wait()  # until a signal raises _StopRequested
    except _StopRequested:
        log.info("stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
