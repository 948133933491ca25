"""Reasons written in English by the grader and the audit, shown in the report's language.

- Reasons the grader writes in English ("no evidence", "no protection product found", "evidence
  too old: ...", "missing training_date") are translated through the report's i18n table; reasons
  that came from a console or a host stay as they are (they are data).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_TOO_OLD = re.compile(r"^evidence too old: (\d+) days \(max (\d+)\), was (\w+)$")
_KNOWN_REASONS = {"no evidence": "reason_no_evidence", "no protection product found": "reason_no_product"}
# Audit failures are "<kind>: <message>" (secops/collect/audit.py): the kind is ours, the message
# is the remote side's or the OS's own words and stays as it is.
_ERROR = re.compile(r"^(?:error: )?(host key|unreachable|auth|no credentials|timeout|collect): ?(.*)$", re.DOTALL)


def reason_text(t: Callable[..., str]) -> Callable[[str | None], str]:
    def translate(reason: str | None) -> str:
        if not reason:
            return ""
        if reason in _KNOWN_REASONS:
            return t(_KNOWN_REASONS[reason])
        error = _ERROR.match(reason)
        if error:
            kind = t("error_" + error.group(1).replace(" ", "_"))
            return f"{kind}: {error.group(2)}" if error.group(2) else kind
        old = _TOO_OLD.match(reason)
        if old:
            return t("reason_too_old", days=old.group(1), max=old.group(2), was=t("protection_" + old.group(3)))
        return reason

    return translate


def missing_text(t: Callable[..., str]) -> Callable[[str], str]:
    """'missing training_date, informed_date' -> the translated field names."""

    def translate(status: str) -> str:
        if not status.startswith("missing "):
            return t(status)
        fields = [f.strip() for f in status[len("missing "):].split(",")]
        return t("missing_fields", fields=", ".join(t("field_" + f) for f in fields))

    return translate
