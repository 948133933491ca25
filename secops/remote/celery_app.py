"""The Celery application both sides share: JSON only, late acknowledgement, bounded waits; and the
names of every Redis key a site uses, so that a site's ACL user can be confined to its own keys.

Task names are constants so the central side sends by name and never imports the scanner's code.
Late acknowledgement + reject-on-worker-lost: a scanner that dies mid-task leaves the message
unacknowledged in its site's own `unacked` hash; a scanner of the site that starts while no other
scanner of the site is alive puts it back at once, else Redis hands it on after the visibility timeout.

The central side only sends (no result backend: it reads results itself, size first); a scanner
reconnects for ever after losing the broker.
"""

from __future__ import annotations

import ssl
import uuid
from typing import Any

from celery import Celery

from secops.discover.sites import Link, queue_name

DISCOVER_TASK = "secops.remote.discover"
AUDIT_TASK = "secops.remote.audit"
RESULT_PREFIX = "celery-task-meta-"  # Celery's Redis result backend
HEARTBEAT_PREFIX = "secops:scanner:"
CLOSED_PREFIX = "secops:closed:"


def new_task_id(site: str) -> str:
    """`SITE:HEX`: a site code never holds ':', so a site's ACL key pattern covers only its own results."""
    return f"{site}:{uuid.uuid4().hex}"


def result_key(task_id: str) -> str:
    return RESULT_PREFIX + task_id


def closed_key(task_id: str) -> str:
    """Set by the central side once it no longer wants a task (stored, or given up): scanners drop it."""
    return CLOSED_PREFIX + task_id


def heartbeat_key(site: str, name: str) -> str:
    return f"{HEARTBEAT_PREFIX}{site}:{name}"


def unacked_keys(site: str) -> dict[str, str]:
    return {"unacked_key": f"secops:unacked:{site}", "unacked_index_key": f"secops:unacked_index:{site}",
            "unacked_mutex_key": f"secops:unacked_mutex:{site}"}


def _ssl_options(link: Link) -> dict[str, Any]:
    tls = link.tls
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if tls is not None:
        if tls.ca_file:
            options["ssl_ca_certs"] = str(tls.ca_file)
        if tls.cert_file:
            options["ssl_certfile"] = str(tls.cert_file)
        if tls.key_file:
            options["ssl_keyfile"] = str(tls.key_file)
    return options


def make_app(url: str, link: Link, *, site: str | None = None) -> Celery:
    """The central side's app (site=None: sends only, gives up quickly) or a site's scanner app."""
    scanner = site is not None
    app = Celery("secops", broker=url, backend=url if scanner else None, set_as_current=False)
    timeout = link.connect_timeout_seconds
    transport: dict[str, Any] = {"visibility_timeout": link.visibility_timeout_seconds,
                                 "socket_connect_timeout": timeout, "socket_timeout": max(timeout, 10),
                                 "max_retries": 1}
    if scanner:
        transport.update(unacked_keys(site or ""))
        # Sweep the site's unacked hash every 10 s (not every 100 s), so redelivery follows the timeout.
        transport.update({"unacked_restore_interval": 10, "unacked_restore_throttle": 1,
                          "health_check_interval": 10})
    conf: dict[str, Any] = {
        # JSON only: a pickle payload from the broker would be code execution on either side.
        "task_serializer": "json", "result_serializer": "json", "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True, "task_reject_on_worker_lost": True, "worker_prefetch_multiplier": 1,
        "task_track_started": True, "result_expires": link.task_deadline_seconds * 2,
        "broker_connection_timeout": timeout,
        # A scanner retries for ever (with Celery's back-off, capped); the central side gives up at once
        # and records the site unreachable.
        "broker_connection_retry": scanner, "broker_connection_retry_on_startup": scanner,
        "broker_connection_max_retries": None if scanner else 1,
        "broker_transport_options": transport,
        "redis_socket_connect_timeout": timeout, "redis_retry_on_timeout": scanner,
        "redis_backend_health_check_interval": 10 if scanner else None,
        # A scanner keeps trying to hand in a finished result while the broker is away.
        "result_backend_always_retry": scanner, "result_backend_max_retries": 1_000_000 if scanner else 1,
        "result_backend_max_sleep_between_retries_ms": 10_000,
        "worker_hijack_root_logger": False, "worker_send_task_events": False, "task_send_sent_event": False,
        "worker_enable_remote_control": False, "task_default_queue": "secops.unrouted",
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }
    if url.startswith("rediss://"):
        conf["broker_use_ssl"] = _ssl_options(link)
        if scanner:
            conf["redis_backend_use_ssl"] = _ssl_options(link)
    app.conf.update(conf)
    return app


def site_queue(site: str) -> str:
    return queue_name(site)
