"""The import contracts in pyproject.toml catch what they promise to catch, on mutated copies of the code.

`make lint` runs lint-imports on the real tree; these tests run it on a copy with one import added, so a contract
that silently stopped applying (a renamed package, a typo in a module name) fails here instead of passing forever.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def copy_of_code(tmp_path: Path) -> Path:
    for name in ("shared", "functions"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def add_import(module: Path, statement: str) -> None:
    text = module.read_text()
    anchor = "from __future__ import annotations\n"
    assert anchor in text, f"{module} has no future import to anchor the mutation on"
    module.write_text(text.replace(anchor, anchor + statement + "\n", 1))


def test_the_unchanged_code_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_imports(copy_of_code(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "statement", "contract"),
    [
        ("shared/domain/policy.py", "import boto3", "The domain imports no AWS SDK and no adapter"),
        ("shared/domain/cases.py", "from botocore.exceptions import ClientError", "The domain imports no AWS SDK"),
        ("shared/domain/intake.py", "from shared.adapters import aws", "The domain imports no AWS SDK and no adapter"),
        ("functions/intake/handler.py", "import boto3", "Handlers reach AWS only through the adapters"),
        ("shared/domain/messages.py", "from shared.domain import xarf", "The workers never load the XARF parser"),
    ],
)
def test_an_added_import_across_the_boundary_fails_lint(
    tmp_path: Path, module: str, statement: str, contract: str
) -> None:
    tree = copy_of_code(tmp_path)
    add_import(tree / module, statement)
    result = lint_imports(tree)
    assert result.returncode != 0, f"lint-imports passed with `{statement}` in {module}"
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout
