"""The web form function's cold start: its import and its first answer to GET /, in brand-new interpreters.

Kept apart from bench/__main__.py so the table can call it as one figure; it imports nothing from the project, since
the code it measures runs in child processes from copies of the source trees (compiled as `sam build` ships them:
checked-hash bytecode), so the same function can compare two versions of the code side by side.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Each snippet prints its seconds on the clock named CLOCK: perf_counter (wall, what a caller waits) or process_time
# (CPU, steadier on a machine that other work is loading).
IMPORT_BOTO3 = "import time; t=time.CLOCK(); import boto3; print(time.CLOCK()-t)"
IMPORT_HANDLER = "import time; t=time.CLOCK(); import functions.webform.handler; print(time.CLOCK()-t)"
# GET / calls no AWS service (the form is rendered, nothing is read or stored), so nothing needs stubbing; the dummy
# credentials only keep a client, were one made, from looking for real ones.
FIRST_RESPONSE = """import time; t=time.CLOCK()
import json
from functions.webform.handler import lambda_handler
event = json.load(open("events/webform_form.json"))
class Ctx:
    function_name = "WebFormFunction"; memory_limit_in_mb = 512; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:WebFormFunction"
answer = lambda_handler(event, Ctx())
assert answer["statusCode"] == 200 and 'name="nonce"' in answer["body"], answer
print(time.CLOCK()-t)
"""


def webform_cold_start(
    python: str, sources: Mapping[str, Path] | None = None, *, runs: int = 7, clock: str = "perf_counter"
) -> dict[str, float]:
    """Median seconds, over `runs` fresh interpreters of `python`, interleaved so that drift in machine load hits
    every figure alike:

    - "boto3 import": the floor any function pays (for a ratio);
    - "<label> import": `import functions.webform.handler`;
    - "<label> first response": import, then the answer to events/webform_form.json (GET /), templates included.

    `sources` maps a label to a directory holding shared/, functions/ and events/ (default: this checkout, labelled
    "webform"); pass two to compare versions. `python` must have requirements.txt and boto3 installed. `clock`:
    "perf_counter" (wall time, the default) or "process_time" (CPU time of the child).
    """
    if clock not in ("perf_counter", "process_time"):
        raise ValueError(f"clock must be perf_counter or process_time, not {clock!r}")
    sources = sources or {"webform": ROOT}
    with tempfile.TemporaryDirectory() as workdir:
        copies = {
            label: _deployed_copy(python, source, Path(workdir) / str(number))
            for number, (label, source) in enumerate(sources.items())
        }
        first = next(iter(copies.values()))
        snippets = {"boto3 import": (IMPORT_BOTO3.replace("CLOCK", clock), first)}
        for label, copy in copies.items():
            snippets[f"{label} import"] = (IMPORT_HANDLER.replace("CLOCK", clock), copy)
            snippets[f"{label} first response"] = (FIRST_RESPONSE.replace("CLOCK", clock), copy)
        samples: dict[str, list[float]] = {name: [] for name in snippets}
        for _ in range(runs):
            for name, (code, code_dir) in snippets.items():
                samples[name].append(_fresh(python, code, code_dir))
    return {name: statistics.median(values) for name, values in samples.items()}


def _deployed_copy(python: str, source: Path, target: Path) -> Path:
    for part in ("shared", "functions", "events"):
        shutil.copytree(source / part, target / part, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([python, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash", str(target)], check=True)
    return target


def _fresh(python: str, code: str, code_dir: Path) -> float:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    env.update(PYTHONPATH=str(code_dir), TABLE_NAME="bench-reports", PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, cwd=code_dir, check=True)
    return float(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":  # python -m bench.webform [python]: this checkout's figures, in milliseconds
    import sys

    for name, seconds in webform_cold_start(sys.argv[1] if len(sys.argv) > 1 else sys.executable).items():
        print(f"{name:<40} {seconds * 1000:7.1f} ms")
