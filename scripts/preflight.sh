#!/usr/bin/env bash
# What a make target needs from outside the repository, found or installed before the target runs anything.
#
#   scripts/preflight.sh NEED...            NEED: python, python3.12, npm, chromium
#   scripts/preflight.sh --locate python3.12  print the python3.12 that builds the Lambda artifact
#
# Everything that is missing and cannot be installed here is named first, one line each with the command that
# installs it, and nothing is installed or created (exit 1). What apt-get can install is installed only when nothing
# else is missing, and only as root. On success one line says what was found.
#
# A shell script rather than Python: it runs before any virtual environment exists, must be able to say that python3
# itself is missing, and mostly runs other programs (apt-get, pyenv).
#
# Inputs (environment): PYTHON (python3), the interpreter the venvs are made with; CHROMIUM (/usr/bin/chromium),
# where the browser tests look for Debian's chromium; PYENV_PYTHONS (3.11.7:3.12.1), the PYENV_VERSION under which
# pyenv is asked for python3.12; PYENV_ROOT, where pyenv keeps its versions when pyenv is not on PATH.
set -uo pipefail

PYTHON="${PYTHON:-python3}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
PYENV_PYTHONS="${PYENV_PYTHONS:-3.11.7:3.12.1}"

say() { printf 'preflight: %s\n' "$*" >&2; }

# python3.12 from pyenv (on PATH, or in PYENV_ROOT), any 3.12 pyenv has, or PATH. Each candidate is run, which also
# turns a pyenv shim into the interpreter behind it.
locate_python312() {
    local root pyenv candidate candidates=()
    root="${PYENV_ROOT:-${HOME:-}/.pyenv}"
    pyenv="$(command -v pyenv)" || pyenv="$root/bin/pyenv"
    if [ -x "$pyenv" ]; then
        candidates+=("$(PYENV_VERSION="$PYENV_PYTHONS" "$pyenv" which python3.12 2>/dev/null)")
        root="$("$pyenv" root 2>/dev/null || echo "$root")"
    fi
    candidates+=("$root"/versions/3.12*/bin/python3.12 "$(command -v python3.12)")
    for candidate in "${candidates[@]}"; do
        [ -n "$candidate" ] && [ -x "$candidate" ] || continue
        PYENV_VERSION="$PYENV_PYTHONS" "$candidate" -c \
            'import sys; assert sys.version_info[:2] == (3, 12); print(sys.executable)' 2>/dev/null && return 0
    done
    return 1
}

python_usable() {
    "$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' > /dev/null 2>&1
}

# Each need: is it here? If not, which Debian packages bring it, and what to tell a person who must install it.
present() {
    case "$1" in
        python) python_usable ;;
        python3.12) locate_python312 > /dev/null ;;
        npm) npm --version > /dev/null 2>&1 ;;
        chromium) [ -x "$CHROMIUM" ] ;;
        *) say "unknown need '$1' (python, python3.12, npm, chromium)"; exit 2 ;;
    esac
}

debian_packages() {
    case "$1" in
        python) echo "python3 python3-venv" ;;
        npm) echo "npm" ;;
        chromium) echo "chromium" ;;
        *) echo "" ;;
    esac
}

# $1: the need, $2: why apt-get could not install it (empty when it has nothing to install it with).
refusal() {
    local version="${PYENV_PYTHONS##*:}" not_installed=""
    [[ "$version" == 3.12* ]] || version=3.12
    [ -z "$2" ] || not_installed=" and was not installed ($2)"
    case "$1" in
        python) echo "$PYTHON (3.11 or newer, with venv) is missing$not_installed;" \
            "install it: apt-get install python3 python3-venv" ;;
        python3.12) echo "python3.12 is missing (sam build makes the Lambda artifact with it; looked in pyenv and" \
            "PATH); install it: pyenv install $version" ;;
        npm) echo "npm is missing (npm ci installs axe-core for the browser tests)$not_installed;" \
            "install it: apt-get install npm" ;;
        chromium) echo "chromium is missing at $CHROMIUM (the browser tests drive it)$not_installed;" \
            "install it: apt-get install chromium" ;;
    esac
}

interpreter() { "$1" -c 'import sys; print(sys.version.split()[0], f"({sys.executable})")'; }

found() {
    case "$1" in
        python) echo "$PYTHON $(interpreter "$PYTHON")" ;;
        python3.12) echo "python3.12 $(interpreter "$(locate_python312)")" ;;
        npm) echo "npm $(npm --version)" ;;
        chromium) echo "$("$CHROMIUM" --version 2>/dev/null || echo chromium) ($CHROMIUM)" ;;
    esac
}

# Why apt-get cannot be used here, or nothing when it can.
apt_unavailable() {
    if [ "$EUID" -ne 0 ]; then
        echo "not root"
    elif ! command -v apt-get > /dev/null; then
        echo "no apt-get"
    fi
}

install_debian_packages() {
    local output
    say "installing with apt-get: $*"
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be absent or stale on a fresh machine: refresh them before installing.
    if output="$(apt-get -o DPkg::Lock::Timeout=600 update -qq 2>&1 \
        && apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" 2>&1)"; then
        return 0
    fi
    printf '%s\n' "$output" >&2
    say "apt-get install $* failed (its output above)"
    return 1
}

if [ "${1:-}" = "--locate" ]; then
    [ "${2:-}" = "python3.12" ] || { say "--locate knows python3.12 only"; exit 2; }
    locate_python312
    exit
fi

[ "$#" -gt 0 ] || { say "usage: scripts/preflight.sh NEED... (python, python3.12, npm, chromium)"; exit 2; }

missing=()
refusals=()
packages=()
why_not_apt="$(apt_unavailable)"
for need in "$@"; do
    present "$need" && continue
    missing+=("$need")
    brought_by="$(debian_packages "$need")"
    if [ -n "$brought_by" ] && [ -z "$why_not_apt" ]; then
        read -ra more <<< "$brought_by"
        packages+=("${more[@]}")
    else
        refusals+=("$(refusal "$need" "$why_not_apt")")
    fi
done

if [ "${#refusals[@]}" -gt 0 ]; then
    for line in "${refusals[@]}"; do say "$line"; done
    exit 1
fi

if [ "${#packages[@]}" -gt 0 ]; then
    install_debian_packages "${packages[@]}" || exit 1
    for need in "${missing[@]}"; do
        present "$need" || { say "$need is still missing after apt-get install ${packages[*]}"; exit 1; }
    done
fi

summary=""
for need in "$@"; do summary+="${summary:+, }$(found "$need")"; done
say "$summary"
