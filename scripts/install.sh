#!/usr/bin/env bash
# Install secops and the system tools its stages drive (nmap for discovery, the OpenSSH client).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v nmap >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nmap openssh-client >/dev/null
  else
    echo "note: nmap not found; install it for network discovery (secops works without it otherwise)" >&2
  fi
fi
python -m pip install -q --disable-pip-version-check .
