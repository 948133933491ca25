"""Dashboard section "reporting": the annual report's deadlines, rows still incomplete, systems
overdue for their periodic assessment, and approvals expected in this reporting period.

Lists are capped so a province-wide dashboard stays readable; the counts are always whole.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.config import Settings
from secops.errors import SecopsError
from secops.inventory.regime import Regime, load_regimes, regime_on, report_year
from secops.models import AssessmentKind
from secops.register.form08 import Form08, build_form08
from secops.register.rules import check
from secops.report.data import Dashboard
from secops.store.tables import AssessmentRow, SystemRow
from secops.templating import translator

MAX_ROWS = 200


def _shown(day: dt.date, lang: str) -> str:
    """A date for people: dd/mm/yyyy in Vietnamese, ISO in English."""
    return day.strftime("%d/%m/%Y") if lang == "vi" else day.isoformat()


def _overdue(session: Session, form: Form08, regime: Regime, today: dt.date) -> list[dict[str, Any]]:
    """Approved systems whose last periodic assessment (or, if none, their approval) is older than
    the interval the regime sets for their level."""
    codes = {r.code: r for r in form.rows if r.approved and r.level}
    last: dict[str, dt.date] = {}
    query = (select(SystemRow.code, AssessmentRow.date).join(AssessmentRow, AssessmentRow.system_id == SystemRow.id)
             .where(AssessmentRow.kind == AssessmentKind.periodic.value, AssessmentRow.date <= today))
    for code, day in session.execute(query):
        if code in codes and (code not in last or day > last[code]):
            last[code] = day
    out = []
    for code, row in codes.items():
        interval = regime.levels[row.level].periodic_assessment_days  # type: ignore[index]
        since = last.get(code) or row.approval_date
        if interval is None or since is None:
            continue
        due = since + dt.timedelta(days=interval)
        if due < today:
            out.append({"code": code, "name": row.name, "level": row.level, "interval": interval,
                        "last": last[code].isoformat() if code in last else None, "due": due.isoformat(),
                        "days_overdue": (today - due).days})
    return sorted(out, key=lambda item: (-item["days_overdue"], item["code"]))


def reporting_section(session: Session, dashboard: Dashboard, settings: Settings) -> dict[str, Any] | None:
    today = (dashboard.run.as_of or dashboard.run.started_at).date()
    try:
        regimes = load_regimes(settings.policies)
        regime = regime_on(regimes, today)
    except SecopsError:
        return None  # no regime for that date: nothing to report on, the rest of the dashboard still renders
    if regime.reporting is None or regime.form is None:
        return None
    year = report_year(regime, today)
    form = build_form08(session, regimes, year, settings.policies, dashboard.scope.code)
    if not form.rows:
        return None
    problems: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for violation in check(form):
        if violation.code not in ("section1", "section2"):
            problems[violation.code].append({"rule": violation.rule, "params": violation.params})
    names = {r.code: r for r in form.rows}
    incomplete = [{"code": code, "name": names[code].name, "owner": names[code].owner, "problems": rules}
                  for code, rules in sorted(problems.items())]
    lang = dashboard.lang
    overdue = _overdue(session, form, regime, today)
    for item in overdue:  # the page shows dates as people write them (dd/mm/yyyy in Vietnamese)
        item["last_shown"] = _shown(dt.date.fromisoformat(item["last"]), lang) if item["last"] else None
        item["due_shown"] = _shown(dt.date.fromisoformat(item["due"]), lang)
    statuses = regime.form.values.approval_status
    t = translator(settings.reports, lang)
    # The form's own words (column 6); "not started" is no value of the form: the register's words.
    expected = sorted(({"code": r.code, "name": r.name, "status": r.approval_status.value,
                        "status_shown": statuses[r.approval_status].get(lang) if r.approval_status in statuses
                        else t(f"register_approval_{r.approval_status.value}"),
                        "level": r.proposed_level, "expected": r.expected_approval.isoformat(),
                        "expected_shown": _shown(r.expected_approval, lang)}
                       for r in form.rows if not r.approved and r.expected_approval
                       and form.period_start <= r.expected_approval <= form.period_end),
                      key=lambda item: (item["expected"], item["code"]))
    # The countdown runs to the last permitted day ("before 20/12" is "by 19/12"), named in the page.
    deadlines = [{"id": d.id, "date": d.last_day(year).isoformat(), "before": d.on(year).isoformat(),
                  "shown": _shown(d.last_day(year), dashboard.lang),
                  "days_left": (d.last_day(year) - today).days, "text": d.text(dashboard.lang),
                  "basis": d.basis} for d in regime.reporting.deadlines]
    return {
        "year": year, "regime": regime.id, "regime_name": regime.name.get(dashboard.lang),
        "recipient": regime.recipient_text(dashboard.lang),
        "period_start": form.period_start.isoformat(), "period_end": form.period_end.isoformat(),
        "period_shown": [_shown(day, dashboard.lang) for day in (form.period_start, form.period_end)],
        "deadlines": deadlines, "section1": form.section1.model_dump(mode="json"),
        "counts": {"incomplete": len(incomplete), "overdue": len(overdue), "expected": len(expected)},
        "incomplete": incomplete[:MAX_ROWS], "overdue": overdue[:MAX_ROWS], "expected": expected[:MAX_ROWS],
        "cap": MAX_ROWS,
    }
