"""Timing in brand-new interpreters, so every import is really cold: the machinery of the cold-start figures.

A snippet times itself and prints `BENCH <seconds>` as its last line; whatever else it prints (a function's own log
line, as on Lambda) is captured and dropped. Samples of several snippets are interleaved, so drift in the load of a
shared machine hits all of them alike, and compared as medians.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7


def runtime_python() -> str | None:
    """The Lambda runtime's Python (3.12), from the venv `make bench` prepares, when it exists."""
    candidate = ROOT / ".tools" / "py312" / "bin" / "python"
    return str(candidate) if candidate.exists() else None


def environment(code_dir: Path = ROOT) -> dict[str, str]:
    """A function's environment as Lambda gives it, with fake credentials and nothing of this shell's AWS set-up."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    env.update(TABLE_NAME="bench-reports", POWERTOOLS_SERVICE_NAME="abuse-intake", POWERTOOLS_LOG_LEVEL="INFO")
    env["SERVER_SECRET_ARN"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench"
    env["PYTHONPATH"] = str(code_dir)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # every run as cold as the first: nothing cached between runs
    return env


def run(python: str, code: str, code_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    answer = subprocess.run(
        [python, *args, "-c", code], capture_output=True, text=True, env=environment(code_dir), cwd=code_dir
    )
    if answer.returncode != 0:
        raise RuntimeError(f"bench snippet failed in {code_dir}:\n{answer.stderr[-4000:]}")
    return answer


def seconds(python: str, code: str, code_dir: Path) -> float:
    last = run(python, code, code_dir).stdout.strip().splitlines()[-1]
    label, _, value = last.partition(" ")
    if label != "BENCH":
        raise RuntimeError(f"bench snippet did not report its time: {last!r}")
    return float(value)


def interleaved_medians(python: str, snippets: dict[str, tuple[str, Path]], runs: int = RUNS) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in snippets}
    for _ in range(runs):
        for name, (code, code_dir) in snippets.items():
            samples[name].append(seconds(python, code, code_dir))
    return {name: statistics.median(values) for name, values in samples.items()}


def code_copies(python: str, workdir: Path) -> tuple[Path, Path]:
    """The project's code twice, as a deployment zip would carry it: without .pyc files, and with hash-based ones."""
    plain, hashed = workdir / "plain", workdir / "hashed"
    for target in (plain, hashed):
        for package in ("shared", "functions"):
            shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ROOT / "events", target / "events")
    subprocess.run([python, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash", str(hashed)], check=True)
    return plain, hashed
