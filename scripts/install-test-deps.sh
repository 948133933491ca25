#!/usr/bin/env bash
# Install what the tests need: Debian's nmap, OpenSSH server and PostgreSQL, then secops with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
# Debian packages: nmap (discovery tests), OpenSSH server (audit tests), PostgreSQL (store tests).
PACKAGES="nmap openssh-server openssh-client iproute2 postgresql redis-server chromium samba e2fsprogs"
if ! dpkg -s $PACKAGES >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PACKAGES >/dev/null
fi
python -m pip install -q --disable-pip-version-check -e ".[test]"
