"""`secops report annual`: check Form 08's consistency rules, then write the report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from secops.config import Settings
from secops.inventory.regime import Regime, load_regimes, regime_on
from secops.register.form08 import Form08, build_form08
from secops.register.outputs import FORMATS, write_report
from secops.register.rules import Violation, check
from secops.store.db import Database
from secops.store.tables import MetaRow
from secops.templating import translator


@dataclass
class AnnualResult:
    report: Form08
    regime: Regime
    violations: list[Violation]
    files: list[Path] = field(default_factory=list)
    refused: bool = False


def annual_report(db: Database, settings: Settings, year: int, folder: Path, *, owner: str | None = None,
                  strict: bool = False, formats: tuple[str, ...] = FORMATS, lang: str = "vi") -> AnnualResult:
    regimes = load_regimes(settings.policies)
    with db.session() as session:
        synthetic = session.scalar(select(MetaRow.value).where(MetaRow.key == "synthetic")) == "true"
        report = build_form08(session, regimes, year, settings.policies, owner, synthetic)
    result = AnnualResult(report, regime_on(regimes, report.period_end), check(report))
    if strict and result.violations:
        result.refused = True
        return result
    result.files = write_report(report, result.regime, folder, formats, settings.reports, lang)
    if (annex := write_unmet_annex(db, settings, report, folder, lang)) is not None:
        result.files.append(annex)
    return result


def write_unmet_annex(db: Database, settings: Settings, report: Form08, folder: Path, lang: str) -> Path | None:
    """Annex: per system, the level requirements not (fully) met and their remediation milestones."""
    from secops.register.outputs import file_stem
    from secops.requirements.register_link import write_annex

    with db.session() as session:
        return write_annex(session, settings.policies, {r.code for r in report.rows}, report.period_end,
                           folder / f"{file_stem(report)}-annex-unmet.csv", lang)


def violation_lines(result: AnnualResult, templates: Path, lang: str) -> list[str]:
    t = translator(templates, lang)
    return [f"{v.code}: {t('annual_rule_' + v.rule, **v.params)} — {t('annual_fix')}: {t('annual_fix_' + v.rule)}"
            for v in result.violations]


def current_year_report(db: Database, settings: Settings, folder: Path, today: dt.date, lang: str = "vi") -> AnnualResult:
    """The annual report of the reporting period that holds `today` (used by `secops demo`)."""
    from secops.inventory.regime import report_year

    regime = regime_on(load_regimes(settings.policies), today)
    return annual_report(db, settings, report_year(regime, today), folder, lang=lang)
