"""`/api/v1/...`: read-only JSON for the operations centre, described by OpenAPI, and `/metrics`
for Prometheus. Figures are the stored grades of the latest graded run, as `secops report` shows
them (report/publish.dashboard_for); scope: the token's or user's agency subtree."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from secops.errors import SecopsError
from secops.localtime import local_today
from secops.web.context import Console, Principal


class Grade(BaseModel):
    target: str
    numerator: int
    denominator: int
    unknown: int = Field(description="records whose state is not known (never counted as meeting the target)")
    value: float | None = Field(description="numerator / denominator; null when the denominator is empty")
    threshold: str
    comparison: str
    status: str = Field(description="met | not_met | not_applicable")
    gap: int | None = Field(description="records still to fix to meet the target")


class AgencyGradesOut(BaseModel):
    code: str
    name: str
    parent: str | None
    grades: list[Grade]


class GradesOut(BaseModel):
    run: int
    as_of: dt.datetime | None
    scope: str
    agencies: list[AgencyGradesOut]


class RegisterSummaryOut(BaseModel):
    year: int
    owner: str
    total: int
    classified: int
    dossier_built: int
    appraised: int
    approved: int
    assessed_periodically: int


class TrendPoint(BaseModel):
    run: int
    as_of: str = Field(description="the run's as-of time, UTC (ISO 8601, minutes)")
    value: float | None
    status: str = Field(description="met | not_met | not_applicable")
    numerator: int
    denominator: int
    gap: int | None
    predecessors: bool = Field(False, description="summed from the agencies merged or split into this one "
                                                  "(a point before the reorganisation's effective date)")


class TargetTrend(BaseModel):
    target: str
    title: str
    threshold: float
    comparison: str
    delta: float | None = Field(description="value of the latest run minus the previous one")
    points: list[TrendPoint] = Field(description="oldest first; a run that did not grade the agency has no point")


class TrendsOut(BaseModel):
    run: int = Field(description="the latest graded run")
    scope: str
    runs: list[int] = Field(description="graded runs the points come from, oldest first")
    targets: list[TargetTrend]


class FixCountsOut(BaseModel):
    run: int
    scope: str
    fix_counts: dict[str, int] = Field(description="target id -> records to fix")


# The grades carry no translated text (codes, names as registered, numbers, statuses): they are built
# from the model the pages read (Vietnamese, their default), not from a second one per language.
GRADES_LANG = "vi"


def _scope(request: Request, agency: str | None) -> str:
    console: Console = request.app.state.console
    me: Principal = request.state.principal
    return agency or me.agency or console.root_code()


def _dashboard(request: Request, code: str, summary_only: bool = True):  # type: ignore[no-untyped-def]
    return _dashboard_of(request.app.state.console, code, summary_only)


def _dashboard_of(console: Console, code: str, summary_only: bool = True,  # type: ignore[no-untyped-def]
                  lang: str = "en"):
    try:
        return console.dashboard(code, lang, summary_only=summary_only)
    except SecopsError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


def _grades(request: Request | Console, code: str, only_scope: bool) -> GradesOut:
    d = _dashboard_of(request if isinstance(request, Console) else request.app.state.console, code, lang=GRADES_LANG)
    agencies = [d.scope] if only_scope else d.agencies
    return GradesOut(run=d.run.id, as_of=d.run.as_of, scope=code, agencies=[
        AgencyGradesOut(code=a.code, name=a.name, parent=a.parent, grades=[
            Grade(target=c.target_id, numerator=c.numerator, denominator=c.denominator, unknown=c.unknown,
                  value=c.value, threshold=c.threshold, comparison=c.comparison, status=str(c.status.value
                  if hasattr(c.status, "value") else c.status), gap=c.gap)
            for _, c in sorted(a.cells.items())]) for a in agencies])


async def _grades_served(request: Request, code: str, only_scope: bool) -> Response:
    """The grades' JSON of the newest graded run: in the event loop when this process has it already
    (serialised once per run and scope; the run's id one indexed read), else built in the thread
    pool (_grades_response) — no thread-pool hop for a read of what is built."""
    console: Console = request.app.state.console
    try:
        run_id = console.latest_run_id()
    except SecopsError:
        run_id = None
    body = None if run_id is None else console.cached(_grades_key(run_id, code, only_scope))
    if run_id is None or body is None:
        return await run_in_threadpool(_grades_response, request, code, only_scope)
    return _grades_bytes(request, run_id, code, only_scope, body)


def _grades_response(request: Request, code: str, only_scope: bool) -> Response:
    """The grades as JSON bytes, serialised once per graded run and scope (a run's figures never
    change) instead of building and validating the models on every read; the ETag names the run and
    scope, so a client sending it back (If-None-Match) gets 304 and no body. Who may read, the scope
    and the rate limit were decided by the guard before this runs, for a 304 too."""
    console: Console = request.app.state.console
    d = _dashboard_of(console, code, lang=GRADES_LANG)
    return _grades_bytes(request, d.run.id, code, only_scope, grades_json(console, d.run.id, code, only_scope))


def _grades_bytes(request: Request, run_id: int, code: str, only_scope: bool, body: bytes) -> Response:
    etag = f'"grades-{run_id}-{"one" if only_scope else "tree"}-{code}"'
    if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


def _grades_key(run_id: int, code: str, only_scope: bool) -> tuple[Any, ...]:
    return run_id, "grades-json", code, only_scope


def grades_json(console: Console, run_id: int, code: str, only_scope: bool) -> bytes:
    """The grades of CODE (only_scope: its own row; else it and every unit under it) as JSON, once per run."""
    return console.per_run(_grades_key(run_id, code, only_scope),  # type: ignore[no-any-return]
                           lambda: _grades(console, code, only_scope).model_dump_json().encode())


def _trends(request: Request, code: str, runs: int | None) -> TrendsOut:
    """The agency's target series over its last graded runs (report/sections/trends.target_series:
    the same points as the dashboard's trends section)."""
    from secops.report.sections.trends import target_series
    from secops.schedule.config import load_schedule_config

    console: Console = request.app.state.console
    d = _dashboard(request, code)
    wanted = runs or load_schedule_config(console.settings.policies).trends.runs
    with console.db.session() as session:
        graded, targets, _, _ = target_series(session, d, wanted)
    run_ids = [r.id for r in graded]
    stamps = [(r.as_of or r.started_at).isoformat(timespec="minutes") for r in graded]
    return TrendsOut(run=d.run.id, scope=code, runs=run_ids, targets=[
        TargetTrend(target=t["id"], title=str(t["title"]), threshold=t["threshold"], comparison=t["comparison"],
                    delta=t["delta"], points=[TrendPoint(run=run_id, as_of=stamp, **p)
                                              for run_id, stamp, p in zip(run_ids, stamps, t["points"], strict=True)
                                              if p is not None]) for t in targets])


def register(app: FastAPI) -> None:
    @app.get("/api/v1/grades", name="api_grades", response_model=GradesOut, tags=["grades"])
    async def api_grades(request: Request, agency: str | None = Query(None, description="agency code [your scope]")
                         ) -> Response:
        """Grades per target of the agency and every unit under it (latest graded run). The ETag
        names the run: send it back as If-None-Match to get 304 until the next graded run."""
        return await _grades_served(request, _scope(request, agency), only_scope=False)

    @app.get("/api/v1/agencies/{code}/grades", name="api_agency_grades", response_model=GradesOut, tags=["grades"])
    async def api_agency_grades(request: Request, code: str) -> Response:
        """Grades per target of one agency (its whole subtree counted); ETag as /api/v1/grades."""
        return await _grades_served(request, code, only_scope=True)

    @app.get("/api/v1/trends", name="api_trends", response_model=TrendsOut, tags=["trends"])
    def api_trends(request: Request, agency: str | None = Query(None, description="agency code [your scope]"),
                   runs: int | None = Query(None, ge=1, le=100, description="how many graded runs [trends.runs "
                                                                             "of policies/schedule.yaml]")
                   ) -> TrendsOut:
        """Each target of the agency (its whole subtree counted) over its last graded runs."""
        return _trends(request, _scope(request, agency), runs)

    @app.get("/api/v1/agencies/{code}/trends", name="api_agency_trends", response_model=TrendsOut, tags=["trends"])
    def api_agency_trends(request: Request, code: str, runs: int | None = Query(None, ge=1, le=100)) -> TrendsOut:
        """Each target of one agency (its whole subtree counted) over its last graded runs."""
        return _trends(request, code, runs)

    @app.get("/api/v1/register/summary", name="api_register", response_model=RegisterSummaryOut, tags=["register"])
    def api_register(request: Request, agency: str | None = Query(None), year: int | None = Query(None, ge=2026,
                                                                                                   le=2100)
                     ) -> RegisterSummaryOut:
        """Form 08 section 1 (the level-dossier register summary) of the agency's subtree."""
        from secops.inventory.regime import load_regimes, regime_on, report_year
        from secops.register.form08 import build_form08

        console: Console = request.app.state.console
        code = _scope(request, agency)
        regimes = load_regimes(console.settings.policies)
        today = local_today(console.settings.policies)
        year = year or report_year(regime_on(regimes, today), today)
        try:
            with console.db.session() as session:
                owner = None if code == console.root_code() else code
                form = build_form08(session, regimes, year, console.settings.policies, owner)
        except SecopsError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        s = form.section1
        return RegisterSummaryOut(year=year, owner=code, total=s.total, classified=s.classified,
                                  dossier_built=s.dossier_built, appraised=s.appraised, approved=s.approved,
                                  assessed_periodically=s.assessed_periodically)

    @app.get("/api/v1/fix-counts", name="api_fix_counts", response_model=FixCountsOut, tags=["grades"])
    def api_fix_counts(request: Request, agency: str | None = Query(None)) -> FixCountsOut:
        """How many records each target still needs fixed in the agency's subtree."""
        from secops.grade.sql import endpoint_max_age
        from secops.report.data import latest_grade_run, scope_ids, scope_tree
        from secops.report.fixlist import fix_count
        from secops.targets import load_targets

        console: Console = request.app.state.console
        code = _scope(request, agency)
        policy = load_targets(console.settings.policies)
        try:
            with console.db.session() as session:
                run = latest_grade_run(session)

                def count() -> dict[str, int]:  # a COUNT over the scope's records per target: once per run
                    all_agencies, tree, _ = scope_tree(session, run, code)
                    in_scope = scope_ids(all_agencies, tree)
                    as_of = run.as_of or run.started_at
                    return {t.id: fix_count(session, t, as_of, endpoint_max_age(policy), in_scope)
                            for t in policy.targets}

                counts = console.per_run((run.id, "fix-counts", code), count)
        except SecopsError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        return FixCountsOut(run=run.id, scope=code, fix_counts=counts)

    @app.get("/metrics", name="metrics", include_in_schema=False)
    def metrics(request: Request, agency: str | None = Query(None)) -> Response:
        """Prometheus exposition of every target's figures per agency of the scope."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

        grades = _grades(request, _scope(request, agency), only_scope=False)
        registry = CollectorRegistry()
        labels = ["target", "agency"]
        gauges = {name: Gauge(f"secops_target_{name}", text, labels, registry=registry) for name, text in (
            ("value", "share of the denominator meeting the target (0-1)"),
            ("numerator", "records meeting the target"), ("denominator", "records the target counts"),
            ("unknown", "records of unknown state"), ("gap", "records still to fix"),
            ("met", "1 when the target is met, 0 when not, absent when not applicable"))}
        for agency_out in grades.agencies:
            for g in agency_out.grades:
                key = {"target": g.target, "agency": agency_out.code}
                gauges["numerator"].labels(**key).set(g.numerator)
                gauges["denominator"].labels(**key).set(g.denominator)
                gauges["unknown"].labels(**key).set(g.unknown)
                if g.value is not None:
                    gauges["value"].labels(**key).set(g.value)
                if g.gap is not None:
                    gauges["gap"].labels(**key).set(g.gap)
                if g.status != "not_applicable":
                    gauges["met"].labels(**key).set(1 if g.status == "met" else 0)
        run = Gauge("secops_grade_run", "id of the graded run these figures come from", registry=registry)
        run.set(grades.run)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


