"""`make bench`, hostile-body section: what a 5 MB body of unknown fields costs the intake function in memory, and
how big its answer is.

The probe runs in a fresh interpreter (so its resident set is the function's alone): the intake handler under moto,
warmed by one ordinary report as a warm Lambda environment would be; then the hostile body. Memory growth is the
process's peak resident set during the hostile request (VmHWM, reset just before) minus its resident set then: the
figure that decides whether a 512 MB function survives. The body itself is built before the measurement starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.table import Figure

ROOT = Path(__file__).resolve().parent.parent
# Just under the 5 MiB the function takes (MAX_BODY_BYTES), so the body gets past the size check into the parser.
HOSTILE_BYTES = 5 * 1024 * 1024 - 16 * 1024
GROWTH_BUDGET_MB = 50
ANSWER_BUDGET_BYTES = 64 * 1024


def _status_mb(field: str) -> float:
    """A figure of /proc/self/status in MB: VmRSS (resident now) or VmHWM (the peak since the last reset)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    # Linux (4.0+): writing 5 to clear_refs sets the peak resident set back to the current one. ru_maxrss would not
    # do: it is kept across execve, so a child of a large bench process starts with its parent's peak.
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def _probe() -> None:
    """In the fresh interpreter: warm the handler, then answer the hostile body; print `BENCH <MB> <bytes>`."""
    import gc
    import os

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    from moto import mock_aws

    from bench.quiet import quiet_environment
    from bench.request_path import _Context
    from local.world import build_world
    from tests.samples import with_fresh_timestamp

    with mock_aws():
        world = build_world()
        os.environ.update(world.function_environment("IntakeFunction"))
        quiet_environment()
        from functions.intake.handler import lambda_handler

        ordinary = with_fresh_timestamp(json.loads((ROOT / "events" / "submit_report.json").read_text()))
        assert lambda_handler(ordinary, _Context())["statusCode"] == 202
        report = json.loads(ordinary["body"])["report"]
        filler, n = "v" * 40, 0
        fields: dict[str, str] = {}
        while len(json.dumps({"report": {**report, **fields}})) < HOSTILE_BYTES - 60_000:
            fields.update({f"x_{n + k:07d}": filler for k in range(1000)})
            n += 1000
        hostile = {**ordinary, "body": json.dumps({"report": {**report, **fields}})}
        del fields
        gc.collect()
        before = _status_mb("VmRSS")
        _reset_peak()
        answer = lambda_handler(hostile, _Context())
        peak = _status_mb("VmHWM")
        assert answer["statusCode"] == 422, answer["statusCode"]  # past the size check: every field was read
        print(f"BENCH {max(0.0, peak - before):.1f} {len(answer['body'].encode())} {len(hostile['body'])}")


def measure() -> list[Figure]:
    done = subprocess.run(
        [sys.executable, "-c", "from bench.hostile import _probe; _probe()"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the hostile-body probe failed:\n{done.stderr[-4000:]}")
    growth, answer_bytes, body_bytes = lines[-1].split()[1:]
    size = f"{int(body_bytes) / 2**20:.1f} MB body of unknown fields"
    return [
        Figure("hostile body: intake memory growth", float(growth), "MB", GROWTH_BUDGET_MB, f"{size}, warm function"),
        Figure("hostile body: answer size", int(answer_bytes), "bytes", ANSWER_BUDGET_BYTES, f"{size}, 422"),
    ]
