"""Locust users of the console bench (bench/console_load.py): signed-in leaders reading the province
dashboard and agency pages, and an operations centre reading the API with a token."""

from __future__ import annotations

import os
import random
import re

from locust import HttpUser, between, task

AGENCIES = os.environ["SECOPS_BENCH_AGENCIES"].split(",")
TOKEN = os.environ["SECOPS_BENCH_TOKEN"]
PASSWORD = os.environ["SECOPS_BENCH_PASSWORD"]


class Leader(HttpUser):
    """A leader (no second factor) reading pages; weight 3 of 5 users."""

    weight = 3
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        page = self.client.get("/signin", name="page:signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        self.client.post("/signin", data={"csrf": csrf.group(1) if csrf else "", "name": "bench-leader",
                                          "password": PASSWORD}, name="page:signin-post")

    @task(2)
    def dashboard(self) -> None:
        self.client.get("/agency/" + AGENCIES[0], name="page:province")

    @task(3)
    def agency(self) -> None:
        self.client.get("/agency/" + random.choice(AGENCIES[1:]), name="page:agency")


class OperationsCentre(HttpUser):
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
