#!/usr/bin/env bash
# Install what the tests need: the Debian packages of the real parts the tests start (nmap, OpenSSH
# server, PostgreSQL, Redis, Samba, Chromium...), then secops with its test extras in ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
# nmap (discovery), OpenSSH server + iproute2 (audit lab), PostgreSQL (store), Redis (remote scanners),
# Samba (Windows registry over SMB), Chromium (rendered dashboards), e2fsprogs (chattr: immutable folders),
# strace (proves no nmap is executed before a discover refusal).
PACKAGES="nmap openssh-server openssh-client iproute2 postgresql redis-server chromium samba e2fsprogs strace"
if ! dpkg -s $PACKAGES >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PACKAGES >/dev/null
fi
bash scripts/install.sh test
