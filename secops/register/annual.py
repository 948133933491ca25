"""`secops report annual`: check Form 08's consistency rules, then write the report(s).

Three scopes: the province (or a subtree) as one summary report (no --owner, the former default);
one system owner's own report (--owner CODE: the systems that agency owns); every owner's report
plus the province summary (--all-owners). Each is addressed to the Ministry or, as the internal
report of the cybersecurity unit, to the owner (--to). The PDF may be signed (signing.py) and every
report may be recorded in the archive of what was sent (sent.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from secops.config import Settings
from secops.errors import SecopsError
from secops.inventory.regime import Regime, load_regimes, regime_on
from secops.localtime import local_today
from secops.register.document import RECIPIENTS, Document, Recipient, build_document
from secops.register.form08 import Form08, build_form08
from secops.register.issuers import issuer_for, load_issuers
from secops.register.outputs import DEFAULT_FORMATS, file_stem, render, write_files
from secops.register.rules import Violation, check
from secops.register.signing import SignWith, read_pin, sign_pdf
from secops.store.db import Database
from secops.store.tables import MetaRow
from secops.templating import translator


@dataclass
class Written:
    """One report (one owner, or the summary) and the files written for it."""

    report: Form08
    document: Document
    violations: list[Violation]
    files: list[Path] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)


@dataclass
class AnnualResult:
    report: Form08  # the summary, or the one owner's report
    regime: Regime
    violations: list[Violation]
    files: list[Path] = field(default_factory=list)
    refused: bool = False
    written: list[Written] = field(default_factory=list)
    sent_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Options:
    owner: str | None = None
    all_owners: bool = False
    to: Recipient = "ministry"
    strict: bool = False
    formats: tuple[str, ...] = DEFAULT_FORMATS
    lang: str = "vi"
    issued_on: dt.date | None = None
    sign: SignWith | None = None
    pin: str | None = None
    record_sent: bool = False
    annex: bool = True
    summary: bool = True  # with all_owners: the province summary too

    def __post_init__(self) -> None:
        if self.owner and self.all_owners:
            raise SecopsError("--owner and --all-owners: give one of them")
        if self.to not in RECIPIENTS:
            raise SecopsError(f"--to: {self.to!r}; choose owner (internal report) or ministry")
        if self.sign is not None and "pdf" not in self.formats:
            raise SecopsError("signing signs the PDF: add pdf to --format")


def sign_with(pkcs12: Path | None, pkcs11_lib: Path | None, key_label: str | None,
              token_label: str | None) -> SignWith | None:
    """How to sign, from the command line's options (None: no signature)."""
    if pkcs12 is None and pkcs11_lib is None:
        if key_label or token_label:
            raise SecopsError("--key-label/--token-label go with --sign-pkcs11 LIB")
        return None
    return SignWith(pkcs12=pkcs12, pkcs11_lib=pkcs11_lib, key_label=key_label, token_label=token_label)


def annual_options(*, owner: str | None, all_owners: bool, to: str, strict: bool, formats: tuple[str, ...],
                   lang: str, date: str | None, sign: SignWith | None, pin_file: Path | None,
                   record_sent: bool) -> Options:
    """The command line's options checked and gathered; the PIN is read (file or prompt) only to sign."""
    try:
        issued_on = dt.date.fromisoformat(date) if date else None
    except ValueError:
        raise SecopsError(f"--date {date!r}: expected YYYY-MM-DD") from None
    if to not in RECIPIENTS:
        raise SecopsError(f"--to: {to!r}; choose owner (internal report) or ministry")
    options = Options(owner=owner, all_owners=all_owners, to=to, strict=strict, formats=formats,
                      lang=lang, issued_on=issued_on, sign=sign, record_sent=record_sent)
    return dataclasses.replace(options, pin=read_pin(pin_file)) if sign is not None else options


def _reports(db: Database, regimes: list[Regime], year: int, policies: Path,
             options: Options) -> tuple[list[tuple[Form08, bool]], bool]:
    """(report, is_summary) in writing order: each owner's first, then the summary."""
    from secops.register.owners import owners_with_systems

    with db.session() as session:
        synthetic = session.scalar(select(MetaRow.value).where(MetaRow.key == "synthetic")) == "true"
        if options.owner and not options.all_owners:
            return [(build_form08(session, regimes, year, policies, options.owner, synthetic, own_only=True),
                     False)], synthetic
        summary = build_form08(session, regimes, year, policies, None, synthetic)
        if not options.all_owners:
            return [(summary, True)], synthetic
        owners = owners_with_systems(session, summary.period_end)
        reports = [(build_form08(session, regimes, year, policies, code, synthetic, own_only=True), False)
                   for code in owners]
        return [*reports, (summary, True)] if options.summary else reports, synthetic


def _violations(written: list[Written]) -> list[Violation]:
    """Each system's problems once; a section's problems per report, named by its owner when there are several."""
    seen: set[tuple[str, str]] = set()
    out = []
    several = len(written) > 1
    for item in written:
        for v in item.violations:
            code = v.code
            if several and code in ("section1", "section2"):
                code = f"{code} ({item.report.owner_code})"
            if (v.rule, code) not in seen:
                seen.add((v.rule, code))
                out.append(v if code == v.code else v.model_copy(update={"code": code}))
    return out


def annual_report(db: Database, settings: Settings, year: int, folder: Path, *, owner: str | None = None,
                  strict: bool = False, formats: tuple[str, ...] = DEFAULT_FORMATS, lang: str = "vi",
                  options: Options | None = None) -> AnnualResult:
    options = options or Options(owner=owner, strict=strict, formats=formats, lang=lang)
    regimes = load_regimes(settings.policies)
    issuers = load_issuers(settings.policies)
    reports, _ = _reports(db, regimes, year, settings.policies, options)
    if not reports:
        raise SecopsError(f"{year}: no system owner has a system in service in the data period")
    regime = regime_on(regimes, reports[0][0].period_end)
    issued_on = options.issued_on or (local_today(settings.policies) if options.sign else None)
    written = [Written(report, build_document(report, regime, issuer_for(issuers, report.owner_code), options.to,
                                              issued_on=issued_on, summary=summary), check(report))
               for report, summary in reports]
    result = AnnualResult(written[-1].report if len(written) > 1 else written[0].report, regime,
                          _violations(written), written=written)
    if options.strict and result.violations:
        result.refused = True
        return result
    for item in written:  # render everything (and sign) before writing anything
        item.contents = render(item.report, item.document, regime, options.formats, settings.reports, options.lang)
        if options.sign is not None:
            stem = _stem(item, options)
            item.contents[f"{stem}.pdf"] = sign_pdf(item.contents[f"{stem}.pdf"], options.sign, options.pin or "")
    annexes = _annexes(db, settings, written, options) if options.annex else {}
    for item in written:
        if (annex := annexes.get(id(item))) is not None:
            item.contents[f"{_stem(item, options)}-annex-unmet.csv"] = annex
        item.files = write_files(folder, item.contents)
        result.files += item.files
    if options.record_sent:
        from secops.register.sent import record_sent

        result.sent_ids = record_sent(db, written, regime, options)
    return result


def _stem(item: Written, options: Options) -> str:
    return file_stem(item.report, options.to, item.document.summary)


def _annexes(db: Database, settings: Settings, written: list[Written], options: Options) -> dict[int, bytes]:
    """Annex of each report: per system, the level requirements not (fully) met and their remediation
    milestones, judged at the end of the data period. Computed once for every system of the run,
    then cut per report; a report none of whose systems has an open requirement gets no annex."""
    from secops.requirements.register_link import annex_csv, unmet_annex

    codes = {r.code for item in written for r in item.report.rows}
    end = written[0].report.period_end
    with db.session() as session:
        rows = unmet_annex(session, settings.policies, dt.datetime.combine(end, dt.time(23, 59, 59), tzinfo=dt.UTC),
                           codes, options.lang)
    out = {}
    for item in written:
        mine = {r.code for r in item.report.rows}
        if subset := [r for r in rows if r["system"] in mine]:
            out[id(item)] = annex_csv(subset, options.lang)
    return out


def violation_lines(result: AnnualResult, templates: Path, lang: str) -> list[str]:
    t = translator(templates, lang)
    return [f"{v.code}: {t('annual_rule_' + v.rule, **v.params)} — {t('annual_fix')}: {t('annual_fix_' + v.rule)}"
            for v in result.violations]


def current_year_report(db: Database, settings: Settings, folder: Path, today: dt.date, lang: str = "vi",
                        options: Options | None = None) -> AnnualResult:
    """The annual report of the reporting period that holds `today` (used by `secops demo`)."""
    from secops.inventory.regime import report_year

    regime = regime_on(load_regimes(settings.policies), today)
    return annual_report(db, settings, report_year(regime, today), folder, lang=lang, options=options)
