"""`secops scanner`: a Celery worker on one site's queue, plus a heartbeat other commands can read.

The worker uses the solo pool (one task at a time, in the worker process): a task is already
parallel inside (nmap chunks, audited hosts), and a scanner killed mid-task leaves its message
unacknowledged, so Redis redelivers it to another scanner of the site after the visibility timeout.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from typing import Any

import redis

from secops import __version__
from secops.discover.sites import Link, queue_name
from secops.errors import SecopsError
from secops.remote.broker import redact
from secops.remote.celery_app import AUDIT_TASK, DISCOVER_TASK, make_app
from secops.remote.payloads import AuditResult, AuditTask, DiscoverResult, DiscoverTask
from secops.remote.scanner import ScannerContext, run_audit, run_discover

log = logging.getLogger("secops.scanner")
HEARTBEAT_PREFIX = "secops:scanner:"


def redis_client(url: str, link: Link) -> redis.Redis:
    options: dict[str, Any] = {"socket_connect_timeout": link.connect_timeout_seconds,
                               "socket_timeout": link.connect_timeout_seconds}
    if url.startswith("rediss://") and link.tls is not None:
        options.update({k: str(v) for k, v in {"ssl_ca_certs": link.tls.ca_file, "ssl_certfile": link.tls.cert_file,
                                                "ssl_keyfile": link.tls.key_file}.items() if v})
    return redis.Redis.from_url(url, **options)


class Heartbeat(threading.Thread):
    """Writes `secops:scanner:<name>` every interval, with a TTL of three intervals."""

    def __init__(self, client: redis.Redis, ctx: ScannerContext, interval: int):
        super().__init__(name="heartbeat", daemon=True)
        self.client, self.ctx, self.interval = client, ctx, interval
        self.stopped = threading.Event()
        self.started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    def beat(self) -> None:
        value = {"name": self.ctx.scanner_name, "site": self.ctx.site, "version": __version__,
                 "started_at": self.started_at,
                 "last_heartbeat": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        self.client.set(HEARTBEAT_PREFIX + self.ctx.scanner_name, json.dumps(value), ex=3 * self.interval)

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.beat()
            except redis.RedisError as exc:  # the broker is down: the worker itself reports that too
                log.warning("heartbeat not sent: %s", exc)
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
        try:
            self.client.delete(HEARTBEAT_PREFIX + self.ctx.scanner_name)
        except redis.RedisError:
            pass


def _guarded(kind: str, run: Any, model: Any, ctx: ScannerContext, payload: Any, task_id: str) -> dict[str, Any]:
    """Validate the task, run it, and turn a failure of the stage itself into a `failed` result."""
    task = model.model_validate(payload)
    if task.task_id != task_id:
        raise ValueError(f"{kind} task payload names task {task.task_id!r}, but was delivered as {task_id!r}")
    try:
        result = run(ctx, task)
    except SecopsError as exc:
        base = {"task_id": task.task_id, "site": ctx.site, "scanner": ctx.scanner_name, "version": __version__,
                "status": "failed", "errors": [f"site {ctx.site}: {exc}"]}
        result = (DiscoverResult(**base, agency_code=task.agency_code) if kind == "discover"
                  else AuditResult(**base))
    dumped: dict[str, Any] = result.model_dump(mode="json")
    return dumped


def serve(ctx: ScannerContext, url: str, link: Link) -> None:
    """Run the worker until SIGTERM/SIGINT (Celery's warm shutdown: the current task finishes first)."""
    app = make_app(url, link, retry_on_startup=True)

    @app.task(name=DISCOVER_TASK, bind=True)
    def discover(self: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return _guarded("discover", run_discover, DiscoverTask, ctx, payload, self.request.id)

    @app.task(name=AUDIT_TASK, bind=True)
    def audit(self: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return _guarded("audit", run_audit, AuditTask, ctx, payload, self.request.id)

    client = redis_client(url, link)
    heartbeat = Heartbeat(client, ctx, link.heartbeat_seconds)
    try:
        heartbeat.beat()
    except redis.RedisError as exc:
        raise SecopsError(f"broker {redact(url)}: cannot connect: {exc}") from exc
    heartbeat.start()
    log.info("scanner %s for site %s on %s", ctx.scanner_name, ctx.site, redact(url))
    worker = app.Worker(queues=[queue_name(ctx.site)], hostname=ctx.scanner_name.replace(":", "-"), pool_cls="solo",
                        concurrency=1, without_gossip=True, without_mingle=True, without_heartbeat=True,
                        loglevel="INFO", quiet=True, redirect_stdouts=False)
    try:
        worker.start()
    finally:
        heartbeat.stop()
