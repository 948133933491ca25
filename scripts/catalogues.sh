#!/bin/sh
# Refresh the command line's message catalogue after changing a wrapped message (README "Languages"):
# extract every _()/ngettext() message of secops/ into secops/locale/secops.pot, then merge the
# template into the Vietnamese catalogue (new and changed messages come out empty or fuzzy: translate
# them, then remove the fuzzy flag). tests/test_catalogues.py fails until every message has its text.
set -eu
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
"$PYBABEL" extract -F babel.cfg -k in_language:2 -c TRANSLATORS: --add-location=file --sort-output --no-wrap \
    --project=secops --version=0.1.0 --copyright-holder="secops contributors" -o secops/locale/secops.pot secops
if [ -f secops/locale/vi/LC_MESSAGES/secops.po ]; then
    "$PYBABEL" update -D secops -i secops/locale/secops.pot -d secops/locale -l vi --no-wrap --ignore-obsolete
else
    "$PYBABEL" init -D secops -i secops/locale/secops.pot -d secops/locale -l vi --no-wrap
fi
