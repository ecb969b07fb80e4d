"""What `sam build` ships: our code, with the templates and assets it reads, as it is in the repo, compiled to
checked-hash .pyc for python3.12, for arm64.

A cold start that finds valid bytecode does not compile; checked-hash bytecode stays valid whatever timestamps the
deployment zip gives the sources. The build is `make sam-build` (`make test` and `make gates` run it before pytest);
with no build these tests fail and say so, since a skipped check of what we deploy is no check.
"""

from __future__ import annotations

import _imp
from pathlib import Path

import pytest

from local.template import load_template
from tests.template import rules

pytestmark = pytest.mark.template

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
OUR_PACKAGES = ("shared", "functions")
# What a python3.12 .pyc starts with (importlib.util.MAGIC_NUMBER of 3.12), and the checked-hash flags word:
# bit 0 = hash-based, bit 1 = check the source against the hash (PEP 552).
MAGIC_312 = (3531).to_bytes(2, "little") + b"\r\n"
CHECKED_HASH = 0b11
ELF_MACHINE_AARCH64 = 183
NOT_SHIPPED = ("tests", "local", "infra", "bench", "events", "scripts", ".venv", ".tools", ".git", "README.md")


def function_dirs() -> list[Path]:
    template = load_template()
    functions = sorted(template.resources_of_type(rules.SAM_FUNCTION))
    if not BUILD.is_dir():
        pytest.fail(f"{BUILD.relative_to(ROOT)} does not exist: run `make sam-build` (make test and make gates do)")
    missing = [name for name in functions if not (BUILD / name).is_dir()]
    assert not missing, f"no build for {missing} in {BUILD.relative_to(ROOT)}: run `make sam-build` again"
    return [BUILD / name for name in functions]


def pyc_of(source: Path) -> Path:
    return source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"


def elf_header(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(20)


def our_files(root: Path, package: str) -> list[Path]:
    """Every file of the package under `root`, sources and what they read at run time (templates, assets), but not
    bytecode, which the build makes itself."""
    found = (p for p in (root / package).rglob("*") if p.is_file())
    return sorted(p.relative_to(root) for p in found if "__pycache__" not in p.parts and p.suffix != ".pyc")


def test_artifact_holds_our_packages_as_they_are_in_the_repo() -> None:
    for artifact in function_dirs():
        for package in OUR_PACKAGES:
            ours = our_files(ROOT, package)
            shipped = our_files(artifact, package)
            assert shipped == ours, f"{artifact.name}: {package}/ differs from the repo: run `make sam-build` again"
            stale = [str(p) for p in ours if (artifact / p).read_bytes() != (ROOT / p).read_bytes()]
            assert not stale, f"{artifact.name}: stale build of {stale}: run `make sam-build` again"


def test_artifact_ships_no_repository_clutter() -> None:
    for artifact in function_dirs():
        shipped = {p.name for p in artifact.iterdir()}
        assert not shipped & set(NOT_SHIPPED), f"{artifact.name} ships {sorted(shipped & set(NOT_SHIPPED))}"


def test_every_module_has_checked_hash_bytecode_for_python312() -> None:
    for artifact in function_dirs():
        sources = list(artifact.rglob("*.py"))
        assert sources, f"{artifact.name}: no Python sources at all"
        wrong = []
        for source in sources:
            pyc = pyc_of(source)
            header = pyc.read_bytes()[:16] if pyc.is_file() else b""
            if header[:4] != MAGIC_312 or int.from_bytes(header[4:8], "little") != CHECKED_HASH:
                wrong.append(str(source.relative_to(artifact)))
        assert not wrong, f"{artifact.name}: {len(wrong)} modules without checked-hash 3.12 bytecode, e.g. {wrong[:5]}"


def test_our_bytecode_matches_the_source_it_ships_with() -> None:
    # The hash Python 3.12 will compare: SipHash of the source, keyed by the magic number (as _imp computes it).
    key = int.from_bytes(MAGIC_312, "little")
    for artifact in function_dirs():
        for package in OUR_PACKAGES:
            for source in (artifact / package).rglob("*.py"):
                recorded = pyc_of(source).read_bytes()[8:16]
                assert recorded == _imp.source_hash(key, source.read_bytes()), f"{source}: bytecode out of date"


def test_native_extensions_are_built_for_arm64() -> None:
    for artifact in function_dirs():
        extensions = list(artifact.rglob("*.so"))
        assert extensions, f"{artifact.name}: expected pydantic-core's and jiter's native extensions"
        foreign = [
            str(so.relative_to(artifact))
            for so in extensions
            if int.from_bytes(elf_header(so)[18:20], "little") != ELF_MACHINE_AARCH64
        ]
        assert not foreign, f"{artifact.name}: not aarch64: {foreign}"
