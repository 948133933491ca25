"""What one agency's discovery will run, decided before anything is scanned; and the early start.

`plan_agency` is the first half of the discover stage: options, discovery profile, the scope guard
and the nmap arguments and chunks. It needs no database and imports neither SQLAlchemy nor
python-nmap, so `secops discover` can run it first (`start_early`), start nmap for the chunks
the stage will scan first, and import, open the database and record the run while nmap scans.
The stage then runs `plan_agency` again itself, unchanged; `nmap_runner.run_chunk`
adopts a started process only when its command is exactly the one the stage asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from secops.discover.profiles import ScanSettings, build_arguments, get_profile, load_config
from secops.discover.scope import ScopePlan, check_scope, load_scope, locate_scope_file, plan_chunks, split_targets
from secops.errors import SecopsError
from secops.policyfile import format_validation
from secops.stages import StageOptions


class DiscoverOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    targets: list[str] = Field(default_factory=list)
    profile: str = "standard"
    scope_file: str | None = None
    override_scope: str | None = None
    ports: str | None = None
    progress: bool = False
    timing: int | None = None
    max_rate: int | None = None
    host_timeout: str | None = None
    chunk_prefix: int | None = None
    parallel: int | None = None
    chunk_timeout_seconds: int | None = None
    no_ping: bool | None = None
    exclude_agencies: list[str] = Field(default_factory=list, description="scanned by remote sites instead")

    @field_validator("targets", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        return split_targets(value or [])

    def settings(self, defaults: ScanSettings) -> ScanSettings:
        names = ("timing", "max_rate", "host_timeout", "chunk_prefix", "parallel", "chunk_timeout_seconds", "no_ping")
        changes = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        try:
            return ScanSettings.model_validate({**defaults.model_dump(), **changes})
        except ValidationError as exc:
            raise SecopsError(format_validation("discover options", exc)) from exc


def discover_options(options: StageOptions) -> DiscoverOptions:
    try:
        return DiscoverOptions.model_validate(options.extra)
    except ValidationError as exc:
        raise SecopsError(format_validation("discover options", exc)) from exc


@dataclass
class AgencyPlan:
    opts: DiscoverOptions
    settings: ScanSettings
    scope: ScopePlan
    arguments: list[str]
    notes: list[str]
    chunks: list[list[str]]


def plan_agency(policies: Path, options: StageOptions) -> AgencyPlan:
    """Options, profile, scope guard, nmap arguments and chunks of one agency's scan; raises
    SecopsError (naming the file and rule) for anything refused. Nothing is started here."""
    assert options.agency_code is not None
    opts = discover_options(options)
    config = load_config(policies)
    profile = get_profile(config, opts.profile)
    settings = opts.settings(config.defaults)
    # The guard comes first: nothing (not even `nmap -V`) runs for a refused target.
    scope_path = locate_scope_file(opts.scope_file)
    scope = check_scope(load_scope(scope_path), scope_path, options.agency_code, opts.targets, opts.override_scope)
    arguments, notes = build_arguments(opts.profile, profile, settings, ports=opts.ports)
    return AgencyPlan(opts=opts, settings=settings, scope=scope, arguments=arguments, notes=notes,
                      chunks=plan_chunks(scope.networks, settings.chunk_prefix))


def agency_surely_scannable(db_url: str, agency_code: str) -> bool:
    """For the early start only: True when a SQLite inventory (read with the standard library, not
    SQLAlchemy, so the start stays early) holds the agency, not retired today. Any doubt (another
    database, no file, no table, a lock, a corrupt file) is False: then nmap waits for the stage,
    which refuses an unknown or retired agency before it starts anything. So every refusal of the
    stage comes before the first packet."""
    import datetime as dt
    import sqlite3

    prefix = "sqlite:///"
    if not db_url.startswith(prefix) or "?" in db_url or db_url == prefix:
        return False
    path = Path(db_url[len(prefix):])
    if not path.is_file():
        return False
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1.0)
        try:
            rows = connection.execute("SELECT retired_at FROM agencies WHERE code = ?", (agency_code,)).fetchall()
        finally:
            connection.close()
        if len(rows) != 1:
            return False
        retired = rows[0][0]
        today = dt.datetime.now(dt.UTC).date()  # as secops.inventory.retire.today()
        return retired is None or dt.date.fromisoformat(str(retired)[:10]) > today
    except (sqlite3.Error, ValueError, OSError):
        return False


def start_early(policies: Path, agency_code: str, extra: dict[str, Any], db_url: str) -> int:
    """Start nmap for the chunks the stage will scan first, when the scope guard accepts them, the
    agency is scanned from here (not by a site) and the inventory surely has it active
    (`agency_surely_scannable`). Returns how many processes were started.

    Anything refused or failing here starts nothing and is left to the stage, which runs the same
    checks again after recording the run, so the error is reported and recorded as before.
    The caller must call `nmap_runner.discard_prestarted()` and `interrupts.release(False)` when
    the run ends, whatever happened."""
    from secops import interrupts
    from secops.discover import nmap_runner
    from secops.discover.sites import load_sites

    try:
        if load_sites(policies).site_for(agency_code) is not None:
            return 0
        plan = plan_agency(policies, StageOptions(agency_code=agency_code, extra=extra))
        if not agency_surely_scannable(db_url, agency_code):
            return 0
        nmap_path = nmap_runner.find_nmap()
        first = plan.chunks[:plan.settings.parallel]  # what the stage's pool starts at once
        # A stop (Ctrl-C, SIGTERM, SIGHUP) from now until the stage's scan loop runs is held, and
        # raised there: the run is recorded before it is honoured (interrupts.hold).
        interrupts.hold()
        for chunk in first:
            nmap_runner.prestart(nmap_path, chunk, plan.arguments)
    except Exception:  # the stage meets the same problem again, records and reports it
        nmap_runner.discard_prestarted()
        return 0
    return len(first)
