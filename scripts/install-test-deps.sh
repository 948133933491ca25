#!/usr/bin/env bash
# Install what the tests need: Debian's nmap and OpenSSH server, then secops with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v nmap >/dev/null || ! [ -x /usr/sbin/sshd ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nmap openssh-server openssh-client iproute2 >/dev/null
fi
python -m pip install -q --disable-pip-version-check -e ".[test]"
