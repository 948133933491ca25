#!/usr/bin/env bash
# Install secops and the system tools its stages drive (nmap for discovery, the OpenSSH client).
# Usage: scripts/install.sh            install into the active virtualenv, or create ./.venv
#        PYTHON=/usr/bin/python3.11 scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
# Debian and Ubuntu have python3 but no `python` command.
PYTHON="${PYTHON:-$(command -v python3 || command -v python || true)}"
if [ -z "$PYTHON" ]; then
  echo "error: python3 not found; install it (apt-get install python3 python3-venv) and run this again" >&2
  exit 2
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: secops needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1)" >&2
  exit 2
fi
if ! command -v nmap >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nmap openssh-client >/dev/null
  else
    echo "note: nmap not found; install it for network discovery (secops works without it otherwise)" >&2
  fi
fi
# Debian 12+ and Ubuntu 23.04+ mark the system Python "externally managed" (PEP 668): pip refuses
# to install into it. Install into a virtual environment instead: the active one, or ./.venv.
if [ -z "${VIRTUAL_ENV:-}" ] && "$PYTHON" -c 'import sys, sysconfig, pathlib; \
    sys.exit(not (pathlib.Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").exists())'; then
  if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -m ensurepip --version >/dev/null 2>&1; then
    echo "error: this Python is managed by the system (PEP 668) and cannot create a virtualenv;" >&2
    echo "       install python3-venv (apt-get install python3-venv) and run this again" >&2
    exit 2
  fi
  echo "note: the system Python is externally managed (PEP 668); installing into ./.venv" >&2
  "$PYTHON" -m venv .venv
  PYTHON=.venv/bin/python
  echo "      run secops as .venv/bin/secops, or activate it: . .venv/bin/activate" >&2
fi
"$PYTHON" -m pip install -q --disable-pip-version-check .
