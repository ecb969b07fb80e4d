"""`make bench`, local-stack section: requests per second `make run`'s stack serves to one keep-alive client.

For reference only (no budget): it measures moto and the local gateway as much as the product.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter

from bench.fresh_process import ROOT, environment
from bench.table import Figure

# The local gateway reads the key id of a SigV4 header and does not verify it (there is no secret).
HEADERS = {
    "Content-Type": "application/json",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIABENCHPARTNER0001/20261126/us-east-1/execute-api/"
    "aws4_request, SignedHeaders=host, Signature=0",
    "x-api-key": "bench",
}


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM stops the stack cleanly (pollers, then the server); on a loaded machine that can take a while, and a
    bench that hangs on it helps nobody: after a grace period, kill it."""
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        print("bench: the local stack did not stop on SIGTERM within 60 s; killed", file=sys.stderr)
        process.kill()
        process.wait()


def measure(seconds: float = 3.0) -> list[Figure]:
    from tests.samples import body

    env = environment()
    del env["TABLE_NAME"]
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryFile("w+") as log:
        command = [sys.executable, "-m", "local", "--port", "0", "--state-dir", state]
        # The partners' quota raised: this measures the stack, not the throttle. Its log goes to a file, shown on error.
        for parameter in ("PartnerRateLimit=1000000", "PartnerBurstLimit=1000000", "LogLevel=ERROR"):
            command += ["--parameter", parameter]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        connection: http.client.HTTPConnection | None = None
        try:
            assert process.stdout is not None
            url = urllib.parse.urlsplit(process.stdout.readline().strip())
            # The functions log to stdout as on Lambda; drain it so the server never blocks on a full pipe.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
            count, statuses = 0, Counter[int]()
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                connection.request("POST", "/v1/reports", body=body(clientToken=f"bench-{count}"), headers=HEADERS)
                response = connection.getresponse()
                response.read()
                statuses[response.status] += 1
                count += 1
            elapsed = time.perf_counter() - started
        except Exception:
            log.seek(0)
            print(log.read()[-4000:], file=sys.stderr)
            raise
        finally:
            if connection is not None:
                connection.close()
            _stop(process)
    spelled = ", ".join(f"{n} x {status}" for status, n in sorted(statuses.items()))
    return [Figure("local stack: POST /v1/reports, 1 client", count / elapsed, "req/s", note=spelled, digits=0)]


if __name__ == "__main__":  # a quick look: python -m bench.local_stack
    from bench.quiet import quiet_environment
    from bench.table import render

    quiet_environment()
    print(render(measure()))
