#!/usr/bin/env bash
# Install what the tests need: the Debian packages of the real parts the tests start (nmap, OpenSSH
# server, PostgreSQL, Redis, Samba, Chromium...), then secops with its test extras in ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
# nmap (discovery), OpenSSH server + iproute2 (audit lab), PostgreSQL (store), Redis (remote scanners),
# Samba (Windows registry over SMB), Chromium + chromedriver (rendered dashboards, the console driven by
# Selenium), e2fsprogs (chattr: immutable folders), slapd + ldap-utils (the console's LDAP sign-in),
# Pango + DejaVu fonts (Form 08 PDF by WeasyPrint, Vietnamese glyphs), SoftHSM2 + OpenSC (a PKCS#11 token
# for the PDF-signing test), poppler-utils (pdftotext, to read PDFs back by hand), strace (proves no nmap is
# executed before a discover refusal).
PACKAGES="nmap openssh-server openssh-client iproute2 postgresql redis-server chromium chromium-driver samba e2fsprogs
  slapd ldap-utils libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core softhsm2 opensc poppler-utils strace"
if ! dpkg -s $PACKAGES >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PACKAGES >/dev/null
fi
bash scripts/install.sh test
