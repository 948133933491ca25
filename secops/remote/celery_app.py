"""The Celery application both sides share: JSON only, late acknowledgement, bounded waits.

Task names are constants so the central side sends by name and never imports the scanner's code.
Late acknowledgement + reject-on-worker-lost: a scanner that dies mid-task leaves the message
unacknowledged, and Redis hands it to another scanner of the same site after the visibility timeout.
"""

from __future__ import annotations

import ssl
from typing import Any

from celery import Celery

from secops.discover.sites import Link

DISCOVER_TASK = "secops.remote.discover"
AUDIT_TASK = "secops.remote.audit"


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


def make_app(url: str, link: Link, *, retry_on_startup: bool = False) -> Celery:
    app = Celery("secops", broker=url, backend=url, set_as_current=False)
    timeout = link.connect_timeout_seconds
    conf: dict[str, Any] = {
        # JSON only: a pickle payload from the broker would be code execution on either side.
        "task_serializer": "json", "result_serializer": "json", "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True, "task_reject_on_worker_lost": True, "worker_prefetch_multiplier": 1,
        "task_track_started": True, "result_expires": link.task_deadline_seconds * 2,
        "broker_connection_timeout": timeout, "broker_connection_retry": False,
        "broker_connection_retry_on_startup": retry_on_startup, "broker_connection_max_retries": 1,
        "broker_transport_options": {"visibility_timeout": link.visibility_timeout_seconds,
                                     "socket_connect_timeout": timeout, "max_retries": 1},
        "redis_socket_connect_timeout": timeout, "redis_retry_on_timeout": False,
        "result_backend_transport_options": {"retry_policy": {"max_retries": 1, "interval_start": 0,
                                                              "interval_step": 0.5, "interval_max": 1}},
        "result_backend_always_retry": False,
        "worker_hijack_root_logger": False, "worker_send_task_events": False, "task_send_sent_event": False,
        "worker_enable_remote_control": False, "task_default_queue": "secops.unrouted",
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }
    if url.startswith("rediss://"):
        conf["broker_use_ssl"] = conf["redis_backend_use_ssl"] = _ssl_options(link)
    app.conf.update(conf)
    return app
