"""`make bench`, cold-start section: the intake's first response in a fresh interpreter, as a ratio to a floor.

The floor is what any Python Lambda that writes to DynamoDB pays: `import boto3`, one client, one PutItem. A
minimal Powertools handler (Logger, Metrics, one resolver route, the same PutItem) is measured beside it, as the
figure a plain service would reach. AWS is stubbed by a botocore `before-send` hook, so no network is involved.

Each figure is the median of fresh processes run interleaved (drift in machine load hits all three alike), with the
project's code compiled to checked-hash .pyc as the build ships it. Run alone for the figures and the import graph:
`.tools/py312/bin/python -m bench.coldstart [rounds]` (or any interpreter; the budget is judged on python3.12).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 1.3  # intake first response / floor (issue 9)
Row = tuple[str, str, str]

# Answers every request with `{}` and status 200: PutItem's reply when no ReturnValues is asked for.
_STUB = """
from botocore.awsrequest import AWSResponse
class _Raw:
    def __init__(self, body): self._body = body
    def stream(self, **_): yield self._body
def _answer(request, **_):
    return AWSResponse(request.url, 200, {"content-type": "application/x-amz-json-1.0"}, _Raw(b"{}"))
"""

_CONTEXT = """
class Ctx:
    function_name = "IntakeFunction"; memory_limit_in_mb = 512; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IntakeFunction"
"""

FLOOR = f"""import time; t=time.perf_counter(); c0=time.process_time()
{_STUB}
import boto3
c = boto3.client("dynamodb")
c.meta.events.register("before-send.dynamodb.*", _answer)
c.put_item(TableName="t", Item={{"PK": {{"S": "x"}}}})
print(time.perf_counter()-t, time.process_time()-c0)
"""

# A plain Powertools service, written as its documentation shows: module-level Logger, Metrics and resolver.
MINIMAL_HANDLER_MODULE = """
import json
import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="minimal")
metrics = Metrics(namespace="Minimal", service="minimal")
app = APIGatewayRestResolver()
client = boto3.client("dynamodb")


@app.post("/v1/reports")
def submit():
    body = json.loads(app.current_event.body or "{}")
    client.put_item(TableName="t", Item={"PK": {"S": str(len(body))}})
    metrics.add_metric(name="NewReports", unit=MetricUnit.Count, value=1)
    return {"ok": True}, 202


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
"""

_EVENT = """
import json, datetime
event = json.load(open("events/submit_report.json"))
payload = json.loads(event["body"])
payload["report"]["timestamp"] = datetime.datetime.now(datetime.UTC).isoformat()
event["body"] = json.dumps(payload)
"""

MINIMAL = f"""import time; t=time.perf_counter(); c0=time.process_time()
{_STUB}
from minimal_handler import lambda_handler, client
client.meta.events.register("before-send.dynamodb.*", _answer)
{_EVENT}
{_CONTEXT}
answer = lambda_handler(event, Ctx())
assert answer["statusCode"] == 202, answer
print(time.perf_counter()-t, time.process_time()-c0)
"""

INTAKE = f"""import time; t=time.perf_counter(); c0=time.process_time()
{_STUB}
from functions.intake.handler import lambda_handler
from shared.adapters import aws
aws.dynamodb().meta.events.register("before-send.dynamodb.*", _answer)
{_EVENT}
{_CONTEXT}
answer = lambda_handler(event, Ctx())
assert answer["statusCode"] == 202, answer
print(time.perf_counter()-t, time.process_time()-c0)
"""

SNIPPETS = {"floor": FLOOR, "minimal Powertools": MINIMAL, "intake": INTAKE}


@dataclass(frozen=True)
class ColdStart:
    wall: Mapping[str, float]  # median seconds from the snippet's first line to its answer, per snippet
    cpu: Mapping[str, float]  # median CPU seconds over the same span: what machine load does not inflate
    rounds: int

    def ratio(self, name: str) -> float:
        return self.wall[name] / self.wall["floor"]

    def cpu_ratio(self, name: str) -> float:
        return self.cpu[name] / self.cpu["floor"]


def env(code_dir: Path) -> dict[str, str]:
    values = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    values.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    values.update(PYTHONPATH=str(code_dir), TABLE_NAME="bench-reports")
    values.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode is precompiled; the measurement must use it
    return values


def code_copy(python: str, workdir: Path) -> Path:
    """The project's code as the build ships it: sources with checked-hash .pyc, plus the minimal handler."""
    target = workdir / "code"
    for package in ("shared", "functions"):
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "events", target / "events")
    (target / "minimal_handler.py").write_text(MINIMAL_HANDLER_MODULE)
    subprocess.run([python, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash", str(target)], check=True)
    return target


def _fresh(python: str, code: str, code_dir: Path) -> tuple[float, float]:
    """(wall, CPU) seconds a snippet reports for itself in a brand-new interpreter."""
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env(code_dir), cwd=code_dir)
    if out.returncode != 0:
        raise RuntimeError(f"cold-start snippet failed:\n{out.stderr[-2000:]}")
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def measure(python: str = sys.executable, rounds: int = 9) -> ColdStart:
    """Medians of `rounds` fresh processes per snippet, interleaved round by round."""
    with tempfile.TemporaryDirectory() as workdir:
        code_dir = code_copy(python, Path(workdir))
        for code in SNIPPETS.values():  # warm the OS file cache once, so round 1 is not an outlier
            _fresh(python, code, code_dir)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in SNIPPETS}
        for _ in range(rounds):
            for name, code in SNIPPETS.items():
                samples[name].append(_fresh(python, code, code_dir))
    return ColdStart(
        wall={name: statistics.median(wall for wall, _ in values) for name, values in samples.items()},
        cpu={name: statistics.median(cpu for _, cpu in values) for name, values in samples.items()},
        rounds=rounds,
    )


_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_graph(python: str = sys.executable, snippet: str = INTAKE, runs: int = 5) -> dict[str, tuple[int, int]]:
    """Every module a snippet imports -> (self, cumulative) microseconds, medians of `python -X importtime` runs."""
    samples: dict[str, list[tuple[int, int]]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        code_dir = code_copy(python, Path(workdir))
        for _ in range(runs):
            command = [python, "-X", "importtime", "-c", snippet]
            out = subprocess.run(command, capture_output=True, text=True, env=env(code_dir), cwd=code_dir)
            if out.returncode != 0:
                raise RuntimeError(f"import-time snippet failed:\n{out.stderr[-2000:]}")
            for line in out.stderr.splitlines():
                if match := _IMPORTTIME.match(line):
                    samples.setdefault(match.group(4), []).append((int(match.group(1)), int(match.group(2))))
    return {
        name: (int(statistics.median(own for own, _ in values)), int(statistics.median(total for _, total in values)))
        for name, values in samples.items()
    }


def top_packages(modules: Mapping[str, tuple[int, int]], count: int = 12) -> list[tuple[str, int, int]]:
    """Self time summed per top-level package (and module count), largest first."""
    totals: dict[str, list[int]] = {}
    for name, (own, _) in modules.items():
        entry = totals.setdefault(name.split(".")[0], [0, 0])
        entry[0] += own
        entry[1] += 1
    ranked = sorted(totals.items(), key=lambda item: -item[1][0])
    return [(name, own, number) for name, (own, number) in ranked[:count]]


def rows(python: str, label: str, *, judged: bool, rounds: int = 9) -> list[Row]:
    """The section's lines for `make bench`'s table."""
    result = measure(python, rounds)
    graph = import_graph(python)
    intake = result.ratio("intake")
    verdict = ("met" if intake <= BUDGET else "MISSED") + f" (budget <= {BUDGET:g}x)"
    minimal = result.ratio("minimal Powertools")
    cpu = f"CPU time: {result.cpu_ratio('intake'):.2f}x"
    return [
        (f"[{label}] first response: floor (boto3 + client + PutItem)", f"{result.wall['floor'] * 1000:.0f} ms", ""),
        (f"[{label}] first response: minimal Powertools handler", f"{minimal:.2f}x", "reference"),
        (f"[{label}] first response: intake, median of {rounds}", f"{intake:.2f}x", verdict if judged else cpu),
        (f"[{label}] first response: intake, CPU time", f"{result.cpu_ratio('intake'):.2f}x", "reported"),
        (f"[{label}] intake import graph", f"{len(graph)} modules", "no boto3" if "boto3" not in graph else "boto3"),
    ]


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    result = measure(sys.executable, rounds)
    print(f"{rounds} rounds, medians     wall            CPU")
    for name in SNIPPETS:
        wall, cpu = result.wall[name], result.cpu[name]
        ratios = f"{wall * 1000:7.1f} ms {result.ratio(name):5.2f}x {cpu * 1000:7.1f} ms {result.cpu_ratio(name):5.2f}x"
        print(f"{name:<20} {ratios}")
    graph = import_graph(sys.executable)
    print(f"intake import graph: {len(graph)} modules; boto3 imported: {'boto3' in graph}")
    for name, own, number in top_packages(graph):
        print(f"  {name:<28} {own / 1000:7.1f} ms self  {number:4d} modules")


if __name__ == "__main__":
    main()
