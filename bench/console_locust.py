"""Locust users of the console bench (bench/console_load.py): signed-in leaders reading the province
dashboard and agency pages, and an operations centre reading the API with a token.

Each leader signs in once, in on_start. The measurement excludes signing in: the statistics are reset
once every user has been started and every leader has signed in, so the figures are of reading only
(a rush of 30 argon2id sign-ins is what `signin_concurrency` bounds, not what the targets are about).
The users are locust's FastHttpUser (geventhttpclient): the bench shares the machine's cores with the
console it measures, and this client spends a fraction of the CPU per request that `requests` does."""

from __future__ import annotations

import os
import random
import re
from typing import Any

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser

AGENCIES = os.environ["SECOPS_BENCH_AGENCIES"].split(",")
TOKEN = os.environ["SECOPS_BENCH_TOKEN"]
PASSWORD = os.environ["SECOPS_BENCH_PASSWORD"]
USER = os.environ.get("SECOPS_BENCH_USER", "bench-leader")


STATE: dict[str, Any] = {"env": None, "spawned": False, "signed": 0, "measuring": False}


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    STATE["env"] = environment


@events.spawning_complete.add_listener
def _spawned(user_count: int, **_: Any) -> None:
    STATE["spawned"] = True
    _maybe_measure()


def _maybe_measure() -> None:
    """Reset the statistics once: every user started and every leader signed in."""
    env = STATE["env"]
    if STATE["measuring"] or not STATE["spawned"] or env is None or env.runner is None:
        return
    if STATE["signed"] >= env.runner.user_classes_count.get("Leader", 0):
        STATE["measuring"] = True
        env.stats.reset_all()
        print(f"measuring from now: {STATE['signed']} leaders signed in", flush=True)


class Leader(FastHttpUser):
    """A leader (no second factor) reading pages; weight 3 of 5 users."""

    weight = 3
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        page = self.client.get("/signin", name="page:signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        self.client.post("/signin", data={"csrf": csrf.group(1) if csrf else "", "name": USER,
                                          "password": PASSWORD}, name="page:signin-post")
        STATE["signed"] += 1
        _maybe_measure()

    @task(2)
    def dashboard(self) -> None:
        self.client.get("/agency/" + AGENCIES[0], name="page:province")

    @task(3)
    def agency(self) -> None:
        self.client.get("/agency/" + random.choice(AGENCIES[1:]), name="page:agency")


class OperationsCentre(FastHttpUser):
    """The IOC's integration reading the API with a bearer token; weight 2 of 5 users."""

    weight = 2
    wait_time = between(0.2, 0.8)

    @task(2)
    def grades(self) -> None:
        self.client.get("/api/v1/agencies/" + random.choice(AGENCIES) + "/grades", name="api:agency-grades",
                        headers={"Authorization": "Bearer " + TOKEN})

    @task(1)
    def province(self) -> None:
        self.client.get("/api/v1/grades", name="api:grades", headers={"Authorization": "Bearer " + TOKEN})
