"""`secops report` reads every system's checklist from one Prefetched (requirements/checklist.py):
each system's hosts and officer rows, the audited hosts, the discovery scans, and the plan overrides
(rollup.latest_overrides) fetched once, instead of a few queries per item. The entries and the
deployment must be those of the per-system path (checklist without prefetched, deployment without
overrides), on a generated province: audits of system hosts (ok and failed, before and after the
as-of time, two at once, several audits of a host, results passed/failed/not applicable, checks
that serve items and others), discovery scans (covering some host addresses, runs that failed,
scans after the as-of time), officer statements newer and older than the evidence, overrides
(one clearing another)."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest
from sqlalchemy import select

from secops.collect.tables import AuditHostRow, CheckResultRow
from secops.discover.tables import DiscoveryScanRow
from secops.requirements.catalogue import in_force
from secops.requirements.checklist import Prefetched, checklist, system_hosts
from secops.requirements.rollup import deployment, latest_overrides
from secops.requirements.tables import PlanOverrideRow, RequirementStatusRow
from secops.sample.load import load_sample
from secops.store.tables import RunRow, SystemRow

AS_OF = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


def _run(s, kind: str, at: dt.datetime, status: str = "ok") -> int:  # type: ignore[no-untyped-def]
    run = RunRow(kind=kind, status=status, started_at=at, finished_at=at, summary={}, errors=[])
    s.add(run)
    s.flush()
    return run.id


def make_evidence(app_state, seed: int) -> None:  # type: ignore[no-untyped-def]
    rnd = random.Random(seed)
    cat = in_force(app_state.settings.policies, AS_OF.date())
    refs = sorted({tuple(r.split(":", 1)) for item in cat.all_items() for level in (1, 2, 3, 4, 5)
                   for r in item.checks_for(level) if not r.startswith("run:")})
    assert refs, "the catalogue names checks: the audit evidence path is exercised"
    with app_state.db().session() as s:
        systems = s.scalars(select(SystemRow).where(SystemRow.level.is_not(None)).order_by(SystemRow.id)).all()
        hosts = sorted({h.id: h for system in systems for h in system_hosts(s, system.id)}.values(), key=lambda h: h.id)
        assert hosts
        audit_runs = [_run(s, "audit", AS_OF - dt.timedelta(days=d)) for d in (40, 10, 2)]
        for n, host in enumerate(rnd.sample(hosts, k=max(1, len(hosts) * 2 // 3))):
            for _k in range(rnd.randint(1, 3)):
                at = AS_OF + dt.timedelta(days=rnd.choice([-400, -40, -10, -10, -2, -2, 0, 3]), hours=rnd.choice([0, 0, 5]))
                row = AuditHostRow(run_id=rnd.choice(audit_runs), endpoint_id=host.id, endpoint_code=host.code,
                                   label=host.code, address=f"127.0.5.{n % 250}", transport="ssh",
                                   status=rnd.choice(["ok", "ok", "ok", "error"]), protection="protected",
                                   started_at=at, finished_at=at, policies=[])
                picked = rnd.sample(refs, k=min(len(refs), rnd.randint(1, 12))) + [("other-policy", "x")]
                row.checks = [CheckResultRow(policy_id=p, check_id=c, title=c, severity="high", serves=[], reason="",
                                             result=rnd.choice(["passed", "passed", "failed", "not_applicable",
                                                                "error"])) for p, c in picked]
                s.add(row)
        s.add(AuditHostRow(run_id=audit_runs[0], endpoint_id=None, endpoint_code=None, label="gone",
                           address="127.0.5.251", transport="ssh", status="ok", protection="protected",
                           started_at=AS_OF, finished_at=AS_OF, policies=[]))
        addresses = [ip for h in hosts for ip in (h.ips or [])]
        for _ in range(6):
            at = AS_OF + dt.timedelta(days=rnd.choice([-300, -100, -20, -5, -5, 1]))
            run_id = _run(s, "discover", at, rnd.choice(["ok", "partial", "failed"]))
            foreign = ["10.0.0.0/8", "host.example"]  # not scanned: stored rows, another network than the hosts'
            targets = rnd.sample(addresses, k=min(len(addresses), rnd.randint(1, 40))) + foreign
            s.add(DiscoveryScanRow(run_id=run_id, agency_code="STTTT", profile="standard", arguments=["-sn"],
                                   targets=targets, requested=targets, excluded=[], started_at=at, finished_at=at))
        for system in systems:
            items = cat.applicable(system.level)
            for item in rnd.sample(items, k=min(len(items), 3)):
                s.add(RequirementStatusRow(system_id=system.id, standard=cat.standard.id, item_id=item.id,
                                           status=rnd.choice(["met", "partly_met", "not_met", "not_applicable"]),
                                           evidence="doc", source="cli", evidence_date=rnd.choice([None, AS_OF.date()]),
                                           recorded_at=AS_OF + dt.timedelta(days=rnd.choice([-200, -3, -3, 0, 2]))))
            if rnd.random() < 0.4:
                for days, value in ((-30, "fully_deployed"), (rnd.choice([-3, -30, 5]), rnd.choice([None, "not_deployed"]))):
                    s.add(PlanOverrideRow(system_id=system.id, value=value, reason="officer", recorded_by="x",
                                          recorded_at=AS_OF + dt.timedelta(days=days)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_prefetched_checklists_and_deployments_equal_the_per_system_path(app_state, seed):
    load_sample(app_state.db(), AS_OF, endpoints=600 + 150 * seed)
    make_evidence(app_state, seed)
    cat = in_force(app_state.settings.policies, AS_OF.date())
    sources: Counter[str] = Counter()
    for as_of in (AS_OF, AS_OF - dt.timedelta(days=7), AS_OF + dt.timedelta(days=30)):
        with app_state.db().session() as s:
            systems = s.scalars(select(SystemRow).where(SystemRow.level.is_not(None)).order_by(SystemRow.id)).all()
            ids = [system.id for system in systems]
            prefetched = Prefetched(s, ids, cat.standard.id, as_of)
            overrides = latest_overrides(s, ids, as_of)
            for system in systems:
                old = checklist(s, system, cat, as_of)
                new = checklist(s, system, cat, as_of, prefetched=prefetched)
                assert new == old, system.code
                assert deployment(s, system.id, new, as_of, overrides) == deployment(s, system.id, old, as_of)
                sources.update(f"{e.source}:{e.detail.split(' ')[-1] if e.source == 'secops' else e.status}"
                               for e in old)
                sources.update(["override"] if system.id in overrides else [])
    # the generated data reaches every kind of evidence
    assert sources["secops:passed"] and sources["secops:audited"] and sources["secops:discovery"], sources
    assert sources["override"] and any(k.startswith("officer:") for k in sources), sources


def test_prefetched_refuses_another_time(app_state):
    load_sample(app_state.db(), AS_OF, endpoints=300)
    cat = in_force(app_state.settings.policies, AS_OF.date())
    with app_state.db().session() as s:
        system = s.scalars(select(SystemRow).where(SystemRow.level.is_not(None))).first()
        prefetched = Prefetched(s, [system.id], cat.standard.id, AS_OF)
        with pytest.raises(ValueError):
            checklist(s, system, cat, AS_OF - dt.timedelta(days=1), prefetched=prefetched)
