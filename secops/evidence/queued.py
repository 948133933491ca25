"""An evidence import a console user confirmed, done by the daemon from a run request.

The console checks the upload and shows its preview within the request (bounded), then queues a
request with what the import needs (`params`): the spooled file's id, the agency and its subtree at
that time, the export's time and date order, the row bound. The daemon calls `import_spooled`: the
same `import_evidence` as `secops evidence import --profile auto`, all or nothing, recorded as an
`import` run; the spooled file is removed whatever the outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from secops.errors import InputRowsError, SecopsError
from secops.store.db import Database

PARAM_KEYS = ("upload", "agency", "agencies", "exported_at", "date_order", "max_rows", "by", "file")


def import_params(upload: str, agency: str, agencies: set[str], exported_at: str, date_order: str, max_rows: int,
                  by: str, file: str) -> dict[str, Any]:
    """What a queued import carries (never the file's contents or a secret)."""
    if date_order not in ("", "dmy", "mdy"):
        raise SecopsError(f"date order {date_order!r}: dmy or mdy")
    if exported_at:
        from secops.evidence.cli import _when

        _when(exported_at)  # refused now, in the request, rather than later in the daemon
    return {"upload": upload, "agency": agency, "agencies": sorted(agencies), "exported_at": exported_at,
            "date_order": date_order, "max_rows": int(max_rows), "by": by, "file": file[:200]}


def import_spooled(db: Database, policies: Path, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Import the spooled file of a queued request; (run id, summary). On refusal the run is recorded
    as failed and the error raised (SecopsError, InputRowsError with every row's message)."""
    from secops.evidence import spool
    from secops.evidence.cli import _max_age, _when
    from secops.evidence.importer import ImportOptions, import_evidence
    from secops.models import RunStatus
    from secops.runs import finish_run, start_run
    from secops.store.tables import AgencyRow

    upload, agency = str(params.get("upload", "")), str(params.get("agency", ""))
    run_id = start_run(db, "import", trigger="request")
    try:
        path = spool.find(upload, agency)
        if path is None:
            raise SecopsError("the uploaded file is no longer in the spool folder; upload it again / "
                              "tệp tải lên không còn trong thư mục chờ, hãy tải lại")
        with db.session() as session:
            ids = set(session.scalars(select(AgencyRow.id).where(AgencyRow.code.in_(list(params.get("agencies", []))))))
        options = ImportOptions(profile="auto", exported_at=_when(params.get("exported_at") or None),
                                date_order=params.get("date_order", ""), max_rows=int(params.get("max_rows", 200_000)),
                                max_age_days=_max_age(policies), agency_ids=ids)
        result = import_evidence(db, path, None, policies, run_id=run_id, options=options)
    except InputRowsError as exc:
        finish_run(db, run_id, RunStatus.failed, errors=[str(e)[:2000] for e in exc.errors[:200]])
        raise
    except SecopsError as exc:
        finish_run(db, run_id, RunStatus.failed, errors=[str(exc)[:2000]])
        raise
    except Exception as exc:  # an unexpected failure: the run is not left "running"
        finish_run(db, run_id, RunStatus.failed, errors=[f"{type(exc).__name__}: {exc}"[:2000]])
        raise
    finally:
        spool.discard(upload)
    summary = {"profile": result.profile, "imported": result.imported, "duplicates": result.duplicates,
               "unmatched": result.unmatched_count, "conflicting": result.conflicting, "stale": result.stale,
               "outside_agency": result.outside, "statuses": dict(result.statuses), "by": params.get("by"),
               "agency": agency, "file": params.get("file")}
    finish_run(db, run_id, RunStatus.ok, summary=summary)
    return run_id, summary
