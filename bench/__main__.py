"""`make bench`: the performance table. Counts are deterministic (botocore event hooks); times are medians of fresh
runs, reported as ratios to a baseline measured in the same run on the same machine.

Budgets come from DESIGN.md. The table says whether each one is met; it does not fail the build (times are not
asserted anywhere, since a loaded CI machine would make such a test lie).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
Row = tuple[str, str, str]

# List prices, us-east-1, on-demand (AWS pricing pages as of 2026): the model's inputs, stated so they can be checked.
PRICE_API_GATEWAY_REST_PER_MILLION = 3.50
PRICE_LAMBDA_REQUESTS_PER_MILLION = 0.20
PRICE_LAMBDA_ARM_GB_SECOND = 0.0000133334
PRICE_DYNAMODB_WRITE_UNITS_PER_MILLION = 0.625
PRICE_DYNAMODB_READ_UNITS_PER_MILLION = 0.125
PRICE_SQS_REQUESTS_PER_MILLION = 0.40
PRICE_SQS_FIFO_REQUESTS_PER_MILLION = 0.50
PRICE_S3_PUT_COPY_PER_THOUSAND = 0.005
PRICE_S3_GET_HEAD_PER_THOUSAND = 0.0004


def _env(code_dir: Path = ROOT) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    env["PYTHONPATH"] = str(code_dir)
    env["TABLE_NAME"] = "bench-reports"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # every run as cold as the first: nothing cached between runs
    return env


def _fresh(python: str, code: str, code_dir: Path) -> float:
    """Seconds a snippet reports for itself in a brand-new interpreter (so imports are really cold)."""
    out = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, env=_env(code_dir), cwd=code_dir, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def _interleaved_medians(python: str, snippets: dict[str, tuple[str, Path]], runs: int = 7) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in snippets}
    for _ in range(runs):
        for name, (code, code_dir) in snippets.items():  # interleaved: drift in machine load hits all alike
            samples[name].append(_fresh(python, code, code_dir))
    return {name: statistics.median(values) for name, values in samples.items()}


def _code_copies(python: str, workdir: Path) -> tuple[Path, Path]:
    """The project's code twice, as a deployment zip would carry it: without .pyc files, and with hash-based ones."""
    plain, hashed = workdir / "plain", workdir / "hashed"
    for target in (plain, hashed):
        for package in ("shared", "functions"):
            shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ROOT / "events", target / "events")
    subprocess.run([python, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash", str(hashed)], check=True)
    return plain, hashed


_STUB = """
import json
from botocore.awsrequest import AWSResponse
class _Raw:
    def __init__(self, body): self._body = body
    def stream(self, **_): yield self._body
def _answer(request, **_):
    return AWSResponse(request.url, 200, {"content-type": "application/x-amz-json-1.0"}, _Raw(b"{}"))
"""

IMPORT_BOTO3 = "import time; t=time.perf_counter(); import boto3; print(time.perf_counter()-t)"
IMPORT_HANDLER = "import time; t=time.perf_counter(); import functions.intake.handler; print(time.perf_counter()-t)"

FIRST_RESPONSE_SNIPPETS = {
    "boto3 + client + PutItem": "import time; t=time.perf_counter()\n"
    + _STUB
    + """
import boto3
c = boto3.client("dynamodb")
c.meta.events.register("before-send.dynamodb.*", _answer)
c.put_item(TableName="t", Item={"PK": {"S": "x"}})
print(time.perf_counter()-t)
""",
    "handler, first request": "import time; t=time.perf_counter()\n"
    + _STUB
    + """
import json
from functions.intake.handler import lambda_handler
from shared.adapters import aws
aws.dynamodb().meta.events.register("before-send.dynamodb.*", _answer)
event = json.load(open("events/submit_report.json"))
payload = json.loads(event["body"])
import datetime
payload["report"]["timestamp"] = datetime.datetime.now(datetime.UTC).isoformat()
event["body"] = json.dumps(payload)
class Ctx:
    function_name = "IntakeFunction"; memory_limit_in_mb = 512; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IntakeFunction"
answer = lambda_handler(event, Ctx())
assert answer["statusCode"] == 202, answer
print(time.perf_counter()-t)
""",
}


def cold_start(python: str, label: str, *, judged: bool) -> list[Row]:
    """Judged against the budgets on the runtime Lambda runs; other interpreters are shown for reference."""
    with tempfile.TemporaryDirectory() as workdir:
        plain, hashed = _code_copies(python, Path(workdir))
        cold = _interleaved_medians(
            python,
            {
                "boto3": (IMPORT_BOTO3, hashed),
                "handler": (IMPORT_HANDLER, hashed),
                "handler without pyc": (IMPORT_HANDLER, plain),
            },
        )
        first = _interleaved_medians(
            python,
            {
                "baseline": (FIRST_RESPONSE_SNIPPETS["boto3 + client + PutItem"], hashed),
                "handler": (FIRST_RESPONSE_SNIPPETS["handler, first request"], hashed),
            },
        )
    import_ratio = cold["handler"] / cold["boto3"]
    first_ratio = first["handler"] / first["baseline"]

    def verdict(ratio: float) -> str:
        return _budget(ratio, 2.0) if judged else "reference (budgets apply to the runtime)"

    return [
        (f"[{label}] cold import boto3 (median of 7, interleaved)", f"{cold['boto3'] * 1000:.0f} ms", "baseline"),
        (f"[{label}] cold import intake handler, hash-based pyc", f"{cold['handler'] * 1000:.0f} ms", ""),
        (f"[{label}] cold import intake handler, no pyc", f"{cold['handler without pyc'] * 1000:.0f} ms", ""),
        (f"[{label}] cold import ratio handler / boto3", f"{import_ratio:.2f}x", verdict(import_ratio)),
        (f"[{label}] first response: boto3 + client + PutItem", f"{first['baseline'] * 1000:.0f} ms", "baseline"),
        (f"[{label}] first response: intake handler, AWS stubbed", f"{first['handler'] * 1000:.0f} ms", ""),
        (f"[{label}] first response ratio", f"{first_ratio:.2f}x", verdict(first_ratio)),
    ]


def runtime_python() -> str | None:
    """The Lambda runtime's Python (3.12), from the venv `make bench` prepares, when it exists."""
    candidate = ROOT / ".tools" / "py312" / "bin" / "python"
    return str(candidate) if candidate.exists() else None


def validation() -> list[Row]:
    from shared.domain.xarf import SubmissionIn, parse_submission
    from tests.samples import body

    raw = json.loads((ROOT / "events" / "submit_report.json").read_text())["body"].encode()
    raw = body(json.loads(raw)["report"] | {"timestamp": json.loads(body())["report"]["timestamp"]}, clientToken="b-1")
    number = 20_000

    def median_seconds(call: Any) -> float:
        return statistics.median(timeit.repeat(call, number=number, repeat=7)) / number

    loads = median_seconds(lambda: json.loads(raw))
    model = median_seconds(lambda: SubmissionIn.model_validate_json(raw))
    full = median_seconds(lambda: parse_submission(raw))
    return [
        ("json.loads of the sample body", f"{loads * 1e6:.1f} us", "baseline"),
        ("model_validate_json (pydantic, raw body)", f"{model / loads:.2f}x", _budget(model / loads, 2.0)),
        ("full parse: dup-key scan + model + XARF type rules + canonicalization", f"{full / loads:.2f}x", "(reported)"),
    ]


def aws_calls_per_report() -> tuple[list[Row], Counter[str], Counter[str]]:
    from moto import mock_aws

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        from local.world import build_world
        from shared.adapters import aws
        from shared.config import settings

        aws.clear()
        settings.cache_clear()
        world = build_world()
        for name, value in world.function_environment("IntakeFunction").items():
            os.environ[name] = value
        handler = importlib.import_module("functions.intake.handler")
        from tests.samples import with_fresh_timestamp

        event = with_fresh_timestamp(json.loads((ROOT / "events" / "submit_report.json").read_text()))
        new, duplicate = Counter[str](), Counter[str]()
        for counter in (new, duplicate):
            hook = _counting(counter)
            aws.dynamodb().meta.events.register("before-call.*.*", hook)
            answer = handler.lambda_handler(event, _Context())
            aws.dynamodb().meta.events.unregister("before-call.*.*", hook)
            assert answer["statusCode"] == 202, answer
        aws.clear()
    rows = [
        ("DynamoDB calls per new report", _calls(new), _budget(sum(new.values()), 1, "1 write, 0 reads")),
        ("DynamoDB calls per duplicate report", _calls(duplicate), _budget(sum(duplicate.values()), 1, "1, 0 reads")),
        ("reads on the request path", str(reads := _reads(new) + _reads(duplicate)), _budget(reads, 0)),
    ]
    return rows, new, duplicate


def local_stack_throughput(seconds: float = 3.0) -> list[Row]:
    import http.client
    import urllib.parse

    from tests.samples import body

    env = _env()
    env.pop("TABLE_NAME")
    process = subprocess.Popen(
        # The partners' quota raised: this measures the stack, not the throttle.
        [sys.executable, "-m", "local", "--port", "0", "--parameter", "PartnerRateLimit=1000000"]
        + ["--parameter", "PartnerBurstLimit=1000000"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = urllib.parse.urlsplit(process.stdout.readline().strip())
        # The functions log to stdout as on Lambda; drain it so the server never blocks on a full pipe.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
        headers = {
            "Content-Type": "application/json",
            # The local gateway reads the key id of a SigV4 header and does not verify it (there is no secret).
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIABENCHPARTNER0001/20261126/us-east-1/execute-api/"
            "aws4_request, SignedHeaders=host, Signature=0",
            "x-api-key": "bench",
        }
        count, statuses = 0, Counter[int]()
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            connection.request("POST", "/v1/reports", body=body(clientToken=f"bench-{count}"), headers=headers)
            response = connection.getresponse()
            response.read()
            statuses[response.status] += 1
            count += 1
        elapsed = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=10)
    return [
        (
            "local stack: POST /v1/reports, one keep-alive client",
            f"{count / elapsed:.0f} req/s",
            f"statuses {dict(statuses)}",
        )
    ]


def modelled_cost(new: Counter[str]) -> list[Row]:
    writes = sum(v for k, v in new.items() if k in {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
    reads = _reads(new)
    lambda_seconds = 0.05  # a warm intake invocation at 512 MB; cold starts are a small share at volume
    per_million = (
        PRICE_API_GATEWAY_REST_PER_MILLION
        + PRICE_LAMBDA_REQUESTS_PER_MILLION
        + PRICE_LAMBDA_ARM_GB_SECOND * 0.5 * lambda_seconds * 1e6
        + PRICE_DYNAMODB_WRITE_UNITS_PER_MILLION * writes
        + PRICE_DYNAMODB_READ_UNITS_PER_MILLION * reads
    )
    return [("modelled cost per 1M reports, intake path", f"${per_million:.2f}", "API GW + Lambda + DynamoDB")]


def optional_sections() -> list[Row]:
    """Sections other parts of the pipeline contribute (bench/quarantine.py, bench/pipeline.py), when present."""
    rows: list[Row] = []
    for name in ("bench.quarantine", "bench.pipeline"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        rows += module.measure()
    return rows


class _Context:
    function_name = "IntakeFunction"
    memory_limit_in_mb = 512
    aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IntakeFunction"


def _counting(counter: Counter[str]) -> Any:
    def count(model: Any, **_: Any) -> None:
        counter[model.name] += 1

    return count


def _reads(counter: Counter[str]) -> int:
    return sum(v for k, v in counter.items() if k in {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})


def _calls(counter: Counter[str]) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(counter.items())) or "none"


def _budget(value: float, limit: float, label: str | None = None) -> str:
    verdict = "met" if value <= limit else "MISSED"
    return f"{verdict} (budget {label or f'<= {limit:g}'})"


def main() -> None:
    rows: list[Row] = []
    calls, new, _ = aws_calls_per_report()
    rows += calls
    rows += validation()
    runtime = runtime_python()
    if runtime is not None:
        rows += cold_start(runtime, "python3.12, the Lambda runtime", judged=True)
    this = f"python{sys.version_info.major}.{sys.version_info.minor}, this venv"
    rows += cold_start(sys.executable, this, judged=runtime is None)
    rows += local_stack_throughput()
    rows += modelled_cost(new)
    rows += optional_sections()
    width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    print(f"{'measure'.ljust(width)}  {'value'.ljust(value_width)}  budget")
    print(f"{'-' * width}  {'-' * value_width}  {'-' * 30}")
    for name, value, budget in rows:
        print(f"{name.ljust(width)}  {value.ljust(value_width)}  {budget}")


if __name__ == "__main__":
    main()
