#!/usr/bin/env bash
# Install secops into ./.venv, with the system tools its stages drive (nmap for discovery, the
# OpenSSH client). Works on a plain Debian that has only `python3`: what is missing (the venv
# module's ensurepip, nmap) comes from Debian's packages. Then run it as .venv/bin/secops.
# Usage: scripts/install.sh [EXTRAS]      e.g. scripts/install.sh test   (pip extras of secops)
#        PYTHON=/usr/bin/python3.11 scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
EXTRAS="${1:-}"
apt_install() {
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
  else
    echo "error: please install: $*" >&2
    exit 2
  fi
}
# Debian and Ubuntu have python3 but no `python` command.
PYTHON="${PYTHON:-$(command -v python3 || command -v python || true)}"
if [ -z "$PYTHON" ]; then
  echo "error: python3 not found; install it (apt-get install python3) and run this again" >&2
  exit 2
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: secops needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1)" >&2
  exit 2
fi
command -v nmap >/dev/null 2>&1 && command -v ssh >/dev/null 2>&1 || apt_install nmap openssh-client
# The annual report's PDF (WeasyPrint) needs Pango and a font with Vietnamese glyphs.
if command -v dpkg >/dev/null 2>&1 && ! dpkg -s libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core >/dev/null 2>&1; then
  apt_install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
fi
# A virtual environment of its own: Debian 12+ marks the system Python "externally managed"
# (PEP 668) and pip refuses to install into it; a venv also keeps secops' libraries apart.
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    ver=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    echo "note: $PYTHON cannot create a virtual environment yet; installing python$ver-venv" >&2
    apt_install "python$ver-venv" || apt_install python3-venv
  fi
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
if [ -n "$EXTRAS" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$EXTRAS]"
else
  .venv/bin/python -m pip install -q --disable-pip-version-check .
fi
echo "secops installed in ./.venv: run .venv/bin/secops (or: . .venv/bin/activate)" >&2
