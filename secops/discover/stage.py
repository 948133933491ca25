"""The discover stage: scope guard, then nmap over chunks with bounded parallelism, stored per chunk.

Options (StageOptions.extra): targets (list or comma-separated), profile, scope_file,
override_scope (reason), ports, and per-run overrides of policies/discovery.yaml defaults:
timing, max_rate, host_timeout, chunk_prefix, parallel, chunk_timeout_seconds, no_ping;
progress (show a rich progress bar when on a terminal).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import nullcontext
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from secops import interrupts
from secops.cliutil import console
from secops.discover import nmap_runner
from secops.discover.plan import DiscoverOptions, discover_options, plan_agency
from secops.discover.profiles import ScanSettings
from secops.discover.reconcile import EndpointIndex
from secops.discover.scope import check_scope, load_scope, locate_scope_file
from secops.discover.store import ChunkRecord, create_scan, finish_scan, record_chunk, record_interrupted
from secops.errors import SecopsError
from secops.interrupts import stop_children
from secops.inventory.retire import active_on, retired_note, today
from secops.stages import StageContext, StageOptions, StageResult
from secops.store.tables import AgencyRow


def _options(options: StageOptions) -> DiscoverOptions:
    return discover_options(options)


def _progress(enabled: bool) -> Progress | nullcontext[None]:
    if not (enabled and console.is_terminal):
        return nullcontext()
    return Progress(TextColumn("[bold]nmap[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("chunks"),
                    TimeElapsedColumn(), console=console, transient=True)


def run_stage(app_state: StageContext, run_id: int, options: StageOptions) -> StageResult:
    """One agency when options.agency_code is set; otherwise every agency of the scope file in turn
    (a province-wide nightly job), each over its own authorised ranges."""
    if options.agency_code:
        return _discover_agency(app_state, run_id, options)
    opts = _options(options)
    if opts.targets:
        raise SecopsError("--targets needs an agency code (--agency): scope is checked per agency")
    scope_path = locate_scope_file(opts.scope_file)
    results, errors = [], []
    scope = load_scope(scope_path)
    db = app_state.db()
    with db.session() as session:
        known = set(session.scalars(select(AgencyRow.code).where(active_on(AgencyRow, today()))))
        retired = {code: retired_note(session, AgencyRow, code) for code in set(scope.agencies) - known}
    budget = scope.limits.max_addresses  # the limit holds for the whole run, not per agency
    for agency in sorted(set(scope.agencies) - set(opts.exclude_agencies)):
        if agency not in known:
            why = f"was {retired[agency]}" if retired.get(agency) else "in the scope file but not in the inventory"
            errors.append(f"{agency}: {why}; skipped")
            continue
        addresses = check_scope(scope, scope_path, agency, []).addresses
        if addresses > budget:
            errors.append(f"{agency}: skipped: {addresses} addresses would exceed limits.max_addresses "
                          f"({scope.limits.max_addresses}) for this run in {scope_path}")
            continue
        budget -= addresses
        try:
            results.append(_discover_agency(app_state, run_id, options.model_copy(update={"agency_code": agency})))
        except SecopsError as exc:  # one agency's bad scope must not stop the others
            results.append(StageResult(stage="discover", status="failed", errors=[f"{agency}: {exc}"]))
    if not results:
        why = "; ".join(errors) or "none listed"
        raise SecopsError(f"{scope_path}: no agency of the scope file can be scanned: {why}")
    statuses = {r.status for r in results}
    status = "ok" if statuses == {"ok"} and not errors else "failed" if statuses == {"failed"} else "partial"
    return StageResult(stage="discover", status=status,
                       summary={"agencies": {r.summary.get("agency", "?"): r.summary for r in results}},
                       errors=errors + [e for r in results for e in r.errors])


def _discover_agency(app_state: StageContext, run_id: int, options: StageOptions) -> StageResult:
    assert options.agency_code is not None  # run_stage splits a province-wide run into agencies
    # Options, profile, then the scope guard: nothing below (not even `nmap -V`) runs for a refused target.
    planned = plan_agency(app_state.settings.policies, options)
    opts, settings, plan, arguments, notes = (planned.opts, planned.settings, planned.scope, planned.arguments,
                                              planned.notes)
    db = app_state.db()
    with db.session() as session:
        if session.scalar(select(AgencyRow.id).where(AgencyRow.code == options.agency_code)) is None:
            raise SecopsError(f"agency {options.agency_code!r} is not in the inventory: import it first")
        if (note := retired_note(session, AgencyRow, options.agency_code)) is not None:
            raise SecopsError(f"agency {options.agency_code!r} was {note}; its networks are not scanned for it "
                              "(retired records are kept for history)")
        # The inventory is read once per agency, before the scan (while an early-started nmap
        # already runs): every chunk is reconciled with it.
        index = EndpointIndex(session, in_service=True)
    nmap_path = nmap_runner.find_nmap()
    version = nmap_runner.nmap_version(nmap_runner.scanner(nmap_path))
    scan_id = create_scan(db, run_id, plan, opts.profile, arguments, version)
    tally = _scan_chunks(db, run_id, scan_id, nmap_path, planned.chunks, arguments, settings, opts.progress, index)
    finish_scan(db, scan_id)
    override = plan.override_note()
    # The override goes into the run's errors too, so no listing of the run can miss it.
    errors = ([override] if override else []) + tally.pop("errors")
    status = "ok"
    if tally["chunks_failed"] or tally["interrupted"]:
        status = "failed" if tally["chunks_ok"] == 0 else "partial"
    summary = {"agency": options.agency_code, "profile": opts.profile, "targets": plan.networks,
               "addresses": plan.addresses, "nmap": version, "arguments": arguments,
               "notes": notes + plan.notes(), **tally}
    if plan.override_reason:
        summary["scope_override"] = {"reason": plan.override_reason, "outside_scope": plan.outside_scope}
    return StageResult(stage="discover", status=status, summary=summary, errors=errors)


def _scan_chunks(db, run_id: int, scan_id: int, nmap_path: str, chunks: list[list[str]],  # type: ignore[no-untyped-def]
                 arguments: list[str], settings: ScanSettings, show_progress: bool,
                 index: EndpointIndex) -> dict[str, Any]:
    tally: dict[str, Any] = {"chunks": len(chunks), "chunks_ok": 0, "chunks_failed": 0, "hosts_up": 0,
                             "open_ports": 0, "matched": 0, "unregistered": 0, "conflict": 0,
                             "interrupted": False, "errors": []}
    pool = ThreadPoolExecutor(max_workers=settings.parallel, thread_name_prefix="nmap")
    futures: dict[Future[nmap_runner.ChunkOutput], list[str]] = {}
    try:
        with _progress(show_progress) as progress:
            task = progress.add_task("scan", total=len(chunks)) if progress else None
            for chunk in chunks:
                futures[pool.submit(nmap_runner.run_chunk, nmap_path, chunk, arguments,
                                    settings.chunk_timeout_seconds)] = chunk
            interrupts.release()  # a stop held while nmap started early (plan.start_early) counts from here
            # Results are written here, in the calling thread, so SQLite sees one writer.
            for future in as_completed(futures):
                _count(tally, record_chunk(db, run_id, scan_id, future.result(), index))
                if progress is not None and task is not None:
                    progress.advance(task)
    except KeyboardInterrupt as exc:
        tally["interrupted"] = True
        tally["interrupted_by"] = interrupts.reason(exc)
        pending = [chunk for future, chunk in futures.items() if not future.done() or future.cancelled()]
        stop_children()  # a SIGTERM reached secops alone: its nmap processes must not scan on
        for future in futures:
            future.cancel()
        for chunk in pending:
            record_interrupted(db, scan_id, chunk)
        tally["errors"].append(f"interrupted: {len(pending)} of {len(chunks)} chunk(s) did not finish")
    except BaseException:  # e.g. the database went away: no nmap may scan on for a failed run
        pool.shutdown(wait=False, cancel_futures=True)
        nmap_runner.stop_running()
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return tally


def _count(tally: dict[str, Any], record: ChunkRecord) -> None:
    if record.parsed is None:
        tally["chunks_failed"] += 1
        tally["errors"].append(f"chunk {' '.join(record.targets)}: {record.status}: {record.error}")
        return
    tally["chunks_ok"] += 1
    tally["hosts_up"] += len(record.parsed.hosts)
    tally["open_ports"] += sum(len(h.open_ports()) for h in record.parsed.hosts)
    for status, count in record.matches.items():
        tally[status] += count
