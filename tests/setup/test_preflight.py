"""The preflight that `make test` and `make run` start with: what it stops on, what it installs, and that it runs first.

Each run gets a PATH of its own, a folder holding only the programs that run should find (bash, a real python3 and,
where a test says so, stand-ins for npm, chromium and apt-get), and a PYENV_ROOT that is an empty folder, so
python3.12, pyenv, apt-get and chromium are absent exactly where a test wants them, whatever this machine has. The
stand-in apt-get only records how it was called: nothing is ever installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PREFLIGHT = REPO / "scripts" / "preflight.sh"
BASH = shutil.which("bash") or "/bin/bash"
MAKE = shutil.which("make") or "/usr/bin/make"
# What a fresh checkout needs for make to get as far as making .venv, node_modules and the tool venvs, were the
# preflight not first.
CHECKOUT_FILES = [
    "Makefile",
    "tools.mk",
    "scripts/preflight.sh",
    "requirements.txt",
    "requirements-dev.txt",
    "pyproject.toml",
    "package.json",
    "package-lock.json",
    "tests/template/requirements-sam.txt",
    "tests/template/requirements-checkov.txt",
]
MAKE_ERROR = "make: *** "


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


@dataclass
class Machine:
    """A PATH, a pyenv root and a chromium location that a test controls."""

    root: Path

    def __post_init__(self) -> None:
        self.bin = self.root / "bin"
        self.bin.mkdir()
        (self.root / "pyenv").mkdir()
        (self.root / "home").mkdir()
        (self.bin / "bash").symlink_to(BASH)
        # The interpreter behind this test run's venv (3.11 here), never a 3.12.
        (self.bin / "python3").symlink_to(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
        self.chromium = self.root / "usr-bin" / "chromium"
        self.chromium.parent.mkdir()
        self.apt_log = self.root / "apt-get.log"

    def with_npm(self) -> Machine:
        executable(self.bin / "npm", "#!/bin/sh\necho 10.0.0\n")
        return self

    def with_chromium(self) -> Machine:
        executable(self.chromium, "#!/bin/sh\necho Chromium 1.0\n")
        return self

    def with_apt_get(self) -> Machine:
        """An apt-get that records each call (and DEBIAN_FRONTEND), and on install puts a chromium in place."""
        executable(
            self.bin / "apt-get",
            "#!/bin/bash\n"
            f'echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> "{self.apt_log}"\n'
            'if [[ " $* " == *" install "* ]]; then\n'
            f"  printf '#!/bin/sh\\necho Chromium 2.0\\n' > \"{self.chromium}\"\n"
            f'  /bin/chmod 755 "{self.chromium}"\n'
            "fi\n",
        )
        return self

    def with_python312_in_pyenv_root(self) -> Path:
        """A 3.12 where pyenv keeps its versions, with no pyenv program anywhere."""
        return executable(self.root / "pyenv" / "versions" / "3.12.9" / "bin" / "python3.12", '#!/bin/sh\necho "$0"\n')

    def env(self) -> dict[str, str]:
        return {
            "PATH": str(self.bin),
            "HOME": str(self.root / "home"),
            "PYENV_ROOT": str(self.root / "pyenv"),
            "CHROMIUM": str(self.chromium),
        }

    def apt_calls(self) -> list[str]:
        return self.apt_log.read_text(encoding="utf-8").splitlines() if self.apt_log.exists() else []


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


def preflight(machine: Machine, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, str(PREFLIGHT), *args], env=machine.env(), cwd=cwd, capture_output=True, text=True, timeout=60
    )


def lines(run: subprocess.CompletedProcess[str]) -> list[str]:
    return (run.stdout + run.stderr).splitlines()


def test_python312_nowhere_is_one_line_naming_it_and_pyenv_install(machine: Machine) -> None:
    machine.with_npm().with_chromium()

    run = preflight(machine, "python", "python3.12", "npm", "chromium")

    assert run.returncode != 0
    [line] = lines(run)
    assert "python3.12 is missing" in line
    assert "install it: pyenv install 3.12.1" in line


def test_make_test_stops_at_the_preflight_before_making_any_venv(machine: Machine, tmp_path: Path) -> None:
    machine.with_npm().with_chromium()
    checkout = tmp_path / "checkout"
    for name in CHECKOUT_FILES:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, checkout / name)

    run = subprocess.run([MAKE, "test"], env=machine.env(), cwd=checkout, capture_output=True, text=True, timeout=120)

    assert run.returncode != 0
    ours = [line for line in lines(run) if not line.startswith(MAKE_ERROR)]
    assert len(ours) == 1, lines(run)
    assert "python3.12 is missing" in ours[0]
    assert "pyenv install" in ours[0]
    made = sorted(path.name for path in checkout.iterdir()) + sorted(path.name for path in machine.root.iterdir())
    for never_made in (".venv", ".tools", "node_modules", ".aws-sam"):
        assert never_made not in made


def test_chromium_absent_without_apt_get_is_one_line_naming_apt_get_install(machine: Machine) -> None:
    run = preflight(machine, "chromium")

    assert run.returncode != 0
    [line] = lines(run)
    assert f"chromium is missing at {machine.chromium}" in line
    assert "not installed (no apt-get)" in line or "not installed (not root)" in line
    assert line.endswith("install it: apt-get install chromium")
    assert not machine.chromium.exists()


def test_chromium_absent_is_installed_with_apt_get_as_root(machine: Machine) -> None:
    machine.with_apt_get()

    run = preflight(machine, "chromium")

    if os.geteuid() != 0:
        assert run.returncode != 0
        [line] = lines(run)
        assert "not installed (not root)" in line
        assert machine.apt_calls() == []
        return
    assert run.returncode == 0, lines(run)
    assert machine.apt_calls() == [
        "DEBIAN_FRONTEND=noninteractive -o DPkg::Lock::Timeout=600 update -qq",
        "DEBIAN_FRONTEND=noninteractive -o DPkg::Lock::Timeout=600 install -y -qq chromium",
    ]
    assert lines(run)[-1] == f"preflight: Chromium 2.0 ({machine.chromium})"


def test_nothing_is_installed_while_something_else_cannot_be(machine: Machine) -> None:
    machine.with_apt_get().with_npm()

    run = preflight(machine, "python", "python3.12", "npm", "chromium")

    assert run.returncode != 0
    assert machine.apt_calls() == []
    assert not machine.chromium.exists()
    refused = lines(run)
    assert len(refused) == (1 if os.geteuid() == 0 else 2), refused
    assert "python3.12 is missing" in refused[0]


def test_make_run_needs_python_only(machine: Machine, tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("Makefile", "tools.mk", "scripts/preflight.sh"):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, checkout / name)

    run = subprocess.run(
        [MAKE, "preflight-run"], env=machine.env(), cwd=checkout, capture_output=True, text=True, timeout=60
    )

    assert run.returncode == 0, lines(run)
    [line] = lines(run)
    assert line.startswith("preflight: python3 3.")


def test_python312_is_found_where_pyenv_keeps_it_without_pyenv(machine: Machine) -> None:
    python312 = machine.with_python312_in_pyenv_root()

    run = preflight(machine, "--locate", "python3.12")

    assert run.returncode == 0, lines(run)
    assert run.stdout.strip() == str(python312)
