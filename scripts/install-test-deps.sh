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
# executed before a discover refusal), openscap-scanner + ssg-debian (oscap and the SCAP Security Guide, for
# the OpenSCAP comparison bench and its test).
PACKAGES="nmap openssh-server openssh-client iproute2 postgresql redis-server chromium chromium-driver samba e2fsprogs
  slapd ldap-utils libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core softhsm2 opensc poppler-utils strace
  openscap-scanner ssg-debian"
if ! dpkg -s $PACKAGES >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PACKAGES >/dev/null
fi
# Debian 12's ssg-debian (0.1.65) carries Debian 10 and 11 content only: the Debian 12 data stream comes
# from the next release's ssg-debian (0.1.76; XML data files, architecture all, needs only ssg-base),
# fetched by apt-get from this system's own Debian mirror through a temporary sources list (the system's
# apt configuration is not changed) and installed with dpkg.
SSG_DS=/usr/share/xml/scap/ssg/content/ssg-debian12-ds.xml
if [ ! -f "$SSG_DS" ]; then
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  mirror=$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' \
    | awk -v rel="$codename" '$2 == rel && $3 == "main" {print $1; exit}')
  [ -n "$mirror" ] || { echo "no Debian mirror for $codename main in the apt sources: cannot fetch ssg-debian" >&2; exit 2; }
  tmp=$(mktemp -d)
  echo "deb $mirror trixie main" > "$tmp/sources.list"
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
  APT_TMP=(-o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
           -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache" -o APT::Sandbox::User=root)
  $SUDO apt-get "${APT_TMP[@]}" update -qq
  (cd "$tmp" && $SUDO apt-get "${APT_TMP[@]}" download -qq ssg-debian)
  $SUDO dpkg -i "$tmp"/ssg-debian_*_all.deb >/dev/null
  $SUDO rm -rf "$tmp"
  [ -f "$SSG_DS" ] || { echo "$SSG_DS still missing after installing ssg-debian" >&2; exit 2; }
fi
bash scripts/install.sh test
