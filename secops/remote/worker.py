"""`secops scanner`: a Celery worker on one site's queue, plus a heartbeat other commands can read.

The worker uses the solo pool (one task at a time, in the worker process): a task is already
parallel inside (nmap chunks, audited hosts). It reconnects to the broker for ever (with back-off),
logging each loss and recovery; it exits non-zero only on a fatal configuration error.

Before running a task it checks that the run still wants it: a task past its deadline, or one the
central side has closed (stored, or given up on), is dropped without running and logged. Every
result is signed with the site's key (secops/remote/signing.py).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
from typing import Any

import redis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kombu.connection import Connection

from secops import __version__
from secops.discover.sites import Link, queue_name
from secops.errors import SecopsError
from secops.i18n import _
from secops.remote.broker import redact
from secops.remote.celery_app import (
    AUDIT_TASK,
    DISCOVER_TASK,
    HEARTBEAT_PREFIX,
    closed_key,
    heartbeat_key,
    make_app,
    unacked_keys,
)
from secops.remote.payloads import AuditResult, AuditTask, DiscoverResult, DiscoverTask
from secops.remote.scanner import ScannerContext, run_audit, run_discover
from secops.remote.signing import seal

log = logging.getLogger("secops.scanner")


def redis_client(url: str, link: Link) -> redis.Redis:
    options: dict[str, Any] = {"socket_connect_timeout": link.connect_timeout_seconds,
                               "socket_timeout": max(link.connect_timeout_seconds, 10)}
    if url.startswith("rediss://") and link.tls is not None:
        options.update({k: str(v) for k, v in {"ssl_ca_certs": link.tls.ca_file, "ssl_certfile": link.tls.cert_file,
                                                "ssl_keyfile": link.tls.key_file}.items() if v})
    return redis.Redis.from_url(url, **options)


class Heartbeat(threading.Thread):
    """Writes `secops:scanner:<site>:<name>` every interval, with a TTL of three intervals; logs each loss
    of the broker and its recovery."""

    def __init__(self, client: redis.Redis, ctx: ScannerContext, interval: int, user: str | None):
        super().__init__(name="heartbeat", daemon=True)
        self.client, self.ctx, self.interval, self.user = client, ctx, interval, user
        self.stopped = threading.Event()
        self.started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.lost = False

    @property
    def key(self) -> str:
        return heartbeat_key(self.ctx.site, self.ctx.scanner_name)

    def beat(self) -> None:
        value = {"name": self.ctx.scanner_name, "site": self.ctx.site, "version": __version__,
                 "user": self.user or "", "host": socket.gethostname(), "pid": os.getpid(),
                 "started_at": self.started_at,
                 "last_heartbeat": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        self.client.set(self.key, json.dumps(value), ex=3 * self.interval)

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.beat()
                if self.lost:
                    log.warning("broker reachable again; heartbeat resumed (mất kết nối đã phục hồi)")
                    self.lost = False
            except redis.RedisError as exc:
                if not self.lost:
                    log.warning("broker lost (mất kết nối broker): %s; reconnecting", exc)
                    self.lost = True
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
        try:
            self.client.delete(self.key)
        except redis.RedisError:
            pass


def _alive(value: dict[str, Any], me: str) -> bool:
    """Another scanner of the site, alive: its heartbeat is fresh, and if on this host, its process exists."""
    if value.get("name") == me:
        return False
    if value.get("host") == socket.gethostname() and isinstance(value.get("pid"), int):
        try:
            os.kill(value["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def restore_orphans(url: str, link: Link, ctx: ScannerContext, client: redis.Redis) -> int:
    """With no other live scanner of the site, every unacknowledged task of the site belonged to a scanner
    that died (killed, host rebooted): put them back on the queue now rather than after the visibility
    timeout. Returns how many were put back."""
    others = []
    for key in client.scan_iter(match=f"{HEARTBEAT_PREFIX}{ctx.site}:*", count=100):
        raw = client.get(key)
        if raw:
            try:
                others.append(json.loads(raw))
            except ValueError:
                continue
    if any(_alive(v, ctx.scanner_name) for v in others):
        return 0
    keys = unacked_keys(ctx.site)
    tags = client.hkeys(keys["unacked_key"])
    if not tags:
        return 0
    with Connection(url, transport_options={**keys, "visibility_timeout": link.visibility_timeout_seconds,  # type: ignore[no-untyped-call]
                                            "socket_connect_timeout": link.connect_timeout_seconds}) as conn:
        qos = conn.default_channel.qos
        for tag in tags:
            qos.restore_by_tag(tag.decode() if isinstance(tag, bytes) else tag, leftmost=True)
    return len(tags)


def stale_reason(task: DiscoverTask | AuditTask, client: redis.Redis) -> str | None:
    now = dt.datetime.now(dt.UTC)
    deadline = task.deadline if task.deadline.tzinfo else task.deadline.replace(tzinfo=dt.UTC)
    if now > deadline:
        return f"its run's deadline {deadline.isoformat(timespec='seconds')} has passed"
    try:
        if client.exists(closed_key(task.task_id)):
            return "the central side closed it (its run ended or its result is stored)"
    except redis.RedisError as exc:
        log.warning("cannot check whether task %s is still wanted: %s", task.task_id, exc)
    return None


def _guarded(kind: str, run: Any, model: Any, ctx: ScannerContext, payload: Any, task_id: str,
             key: Ed25519PrivateKey, client: redis.Redis) -> dict[str, Any]:
    """Validate the task, drop it if stale, run it, turn a failure of the stage into a `failed` result; sign."""
    task = model.model_validate(payload)
    if task.task_id != task_id:
        raise ValueError(f"{kind} task payload names task {task.task_id!r}, but was delivered as {task_id!r}")
    base = {"task_id": task.task_id, "site": ctx.site, "scanner": ctx.scanner_name, "version": __version__}
    extra = {"agency_code": task.agency_code} if kind == "discover" else {}
    stale = stale_reason(task, client)
    if stale:
        log.warning("task %s (%s, run %s) dropped without running: %s", task.task_id, kind, task.run_id, stale)
        result: DiscoverResult | AuditResult = (DiscoverResult if kind == "discover" else AuditResult)(
            **base, **extra, status="refused", errors=[f"site {ctx.site}: task dropped: {stale}"])
    else:
        try:
            result = run(ctx, task)
        except SecopsError as exc:
            result = (DiscoverResult if kind == "discover" else AuditResult)(
                **base, **extra, status="failed", errors=[f"site {ctx.site}: {exc}"])
    body = result.model_dump_json()
    return seal(key, task.task_id, ctx.site, task.run_id, body)


def serve(ctx: ScannerContext, url: str, link: Link, key: Ed25519PrivateKey) -> None:
    """Run the worker until SIGTERM/SIGINT (Celery's warm shutdown: the current task finishes first)."""
    app = make_app(url, link, site=ctx.site)
    client = redis_client(url, link)
    user = _user(url)

    @app.task(name=DISCOVER_TASK, bind=True)
    def discover(self: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return _guarded("discover", run_discover, DiscoverTask, ctx, payload, self.request.id, key, client)

    @app.task(name=AUDIT_TASK, bind=True)
    def audit(self: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return _guarded("audit", run_audit, AuditTask, ctx, payload, self.request.id, key, client)

    heartbeat = Heartbeat(client, ctx, link.heartbeat_seconds, user)
    try:
        heartbeat.beat()
        restored = restore_orphans(url, link, ctx, client)
        if restored:
            log.warning("%d task(s) of site %s left unfinished by a scanner that died: put back on the queue",
                        restored, ctx.site)
    except redis.AuthenticationError as exc:
        raise SecopsError(_("broker {url}: authentication failed: {error}").format(url=redact(url), error=exc)) from exc
    except redis.ResponseError as exc:
        if "NOPERM" in str(exc):
            raise SecopsError(_("broker {url}: user {user} may not use site {site}'s keys (its ACL): {error}").format(
                url=redact(url), user=user or "default", site=ctx.site, error=exc)) from exc
        raise
    except redis.RedisError as exc:  # not fatal: the broker may be restarting; the worker retries for ever
        log.warning("broker %s not reachable yet (%s); retrying", redact(url), exc)
        heartbeat.lost = True
    heartbeat.start()
    log.info("scanner %s for site %s on %s", ctx.scanner_name, ctx.site, redact(url))
    worker = app.Worker(queues=[queue_name(ctx.site)], hostname=ctx.scanner_name.replace(":", "-"), pool_cls="solo",
                        concurrency=1, without_gossip=True, without_mingle=True, without_heartbeat=True,
                        loglevel="INFO", quiet=True, redirect_stdouts=False)
    try:
        worker.start()
    finally:
        heartbeat.stop()
    code = worker.exitcode or 0
    if code:
        raise SystemExit(code)


def _user(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).username or None
    except ValueError:
        return None
