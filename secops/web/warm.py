"""Warming the console's per-run caches: when a worker starts, and when a new graded run appears,
one background thread builds for the province and every active agency what their first readers
would otherwise wait for: the dashboard summary, the targets and units tables and the first fix list
page (in Vietnamese, the pages' default; every agency's first pages come from one pass over the
province's lists, web/fixpages.py), the endpoint counts, and the API's grades JSON. Readers then find them built;
a request arriving first still builds its own (the cache's one-build-per-key lock: never twice).

Only the run's figures are built: nothing here depends on who reads, and every request still goes
through the guard (sign-in, scope, rate limit) before any of it is used."""

from __future__ import annotations

import logging
import threading
import time

from secops.errors import SecopsError
from secops.web.context import Console

log = logging.getLogger("uvicorn.error")
POLL_SECONDS = 10.0  # how often the thread looks for a new graded run


def warm(console: Console, stopping: threading.Event | None = None) -> tuple[int, int]:
    """Build the newest run's figures of every active agency; (run id, agencies warmed)."""
    from secops.web.api import grades_json
    from secops.web.pages import agency_figures, agency_fix, endpoint_total

    run_id = console.latest_run_id()
    root = console.root_code()
    codes = [root] + sorted(console.subtree_codes(root) - {root})
    for code in codes:
        if stopping is not None and stopping.is_set():
            break
        dashboard = console.dashboard(code, "vi", summary_only=True)
        agency_figures(console, dashboard, code, "vi")
        agency_fix(console, dashboard, code, 1, "vi")
        endpoint_total(console, dashboard.run.id, code)
        grades_json(console, dashboard.run.id, code, True)
    grades_json(console, run_id, root, False)
    return run_id, len(codes)


class Warmer:
    """The background thread: warms at start, then once per new graded run, until stopped."""

    def __init__(self, console: Console):
        self.console = console
        self.stopping = threading.Event()
        self.warmed: int | None = None
        self.thread = threading.Thread(target=self._loop, name="secops-warm", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                if self.console.latest_run_id() != self.warmed:
                    started = time.monotonic()
                    self.warmed, count = warm(self.console, self.stopping)
                    log.info("console caches warm for run %s: %d agencies in %.1f s", self.warmed, count,
                             time.monotonic() - started)
            except SecopsError:
                pass  # no graded run yet: looked for again later
            except Exception:  # a failure here must not stop the console; readers build their own
                log.exception("warming the console caches failed")
            self.stopping.wait(POLL_SECONDS)
