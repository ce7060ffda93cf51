"""Members browsing the mall, for ``bench/load.py`` (``make load``); locust, headless.

Each simulated user is one seeded member (``bench/load_seed.py``): it signs in on the login page
(the session cookie) and through the API (a JWT, as the app does), then reads its home page, its
points history, the mall list, product pages, and the API's ``me/points/`` and ``products/``.
Think time 0.5-1.5 s between requests, or none with ``LOAD_THINK=0`` (capacity).

The app runs as in production behind a TLS-terminating proxy (``API_NUM_PROXIES=1``): every
request says ``X-Forwarded-Proto: https`` and carries a client address of its own in
``X-Forwarded-For`` (198.18.0.0/15, the benchmarking range; only a header, nothing is sent
there), so the per-address sign-in throttles see 50 phones, not one. ``LOAD_SEED`` is the seed's
JSON (members, password, product ids).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re

import gevent
from locust import between, constant, task
from locust.contrib.fasthttp import FastHttpUser

SEED = json.loads(open(os.environ["LOAD_SEED"]).read())
THINK = os.environ.get("LOAD_THINK", "1") != "0"
USERS = int(os.environ.get("LOAD_USERS", "50"))
SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
LOGINS_OUT = os.environ.get("LOAD_LOGINS_OUT", "")
_numbers = itertools.count()
_signed_in = 0


def _measure_from_now(environment) -> None:
    """Once every user has signed in: keep the sign-ins' figures apart (``LOAD_LOGINS_OUT``),
    reset the statistics and stop ``SECONDS`` later, so what is measured is members reading
    pages, not 100 argon2 checks at the start."""
    stats = environment.runner.stats
    logins = {}
    for (name, _method), entry in stats.entries.items():
        logins[name] = {"count": entry.num_requests, "failures": entry.num_failures,
                        "p50": entry.get_response_time_percentile(0.5),
                        "p95": entry.get_response_time_percentile(0.95),
                        "p99": entry.get_response_time_percentile(0.99)}
    if LOGINS_OUT:
        with open(LOGINS_OUT, "w") as out:
            json.dump(logins, out)
    stats.reset_all()
    gevent.spawn_later(SECONDS, environment.runner.quit)
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Member(FastHttpUser):
    wait_time = between(0.5, 1.5) if THINK else constant(0)
    # One connection per simulated phone; the proxy in front would keep its own anyway.
    concurrency = 1
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self):
        try:
            # On a saturated machine a sign-in (argon2) can time out; a member who is not signed
            # in would only count redirects and 401s as read failures, so it tries again.
            for _ in range(3):
                if self._sign_in():
                    break
        finally:
            global _signed_in
            _signed_in += 1
            if _signed_in == USERS:
                _measure_from_now(self.environment)

    def _sign_in(self) -> bool:
        if not hasattr(self, "number"):
            self.number = next(_numbers)
        number = self.number
        self.username = SEED["members"][number % len(SEED["members"])]
        origin = self.host.replace("http://", "https://", 1)
        # What the proxy adds to every request; the pages add the cookies, the API its token.
        address = f"198.18.{number // 250}.{number % 250 + 1}"
        proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-For": address}
        self.headers, self.api_headers = dict(proxy), dict(proxy)
        page = self.client.get("/accounts/login/", headers=self.headers, name="login page")
        token = CSRF_INPUT.search(page.text or "")
        self._cookies()
        with self.client.post(
            "/accounts/login/", name="login",
            data={"username": self.username, "password": SEED["password"],
                  "csrfmiddlewaretoken": token.group(1) if token else ""},
            headers={**self.headers, "Origin": origin, "Referer": f"{origin}/accounts/login/"},
            allow_redirects=False, catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"login answered {response.status_code}")
                return False
        self._cookies()
        with self.client.post("/api/v1/auth/token/", name="api auth/token",
                              json={"username": self.username, "password": SEED["password"]},
                              headers=proxy, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"token answered {response.status_code}")
                return False
            self.api_headers["Authorization"] = f"Bearer {response.json()['access']}"
        return True

    def _cookies(self):
        """The cookies the app set, sent back by hand: the session is a Secure cookie and the
        client's jar keeps but never sends those over plain http (here, the proxy's side)."""
        self.headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in self.client.cookiejar)

    def _page(self, path: str, name: str):
        # A redirect (to the login page, or to https) would be a failure here, not a page.
        with self.client.get(path, name=name, headers=self.headers, allow_redirects=False,
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")

    @task(2)
    def home(self):
        self._page("/", "home /")

    @task(2)
    def history(self):
        self._page("/points/", "history /points/")

    @task(2)
    def mall(self):
        self._page("/mall/", "mall /mall/")

    @task(3)
    def product(self):
        self._page(f"/mall/{random.choice(SEED['products'])}/", "product /mall/<id>/")

    @task(2)
    def api_points(self):
        with self.client.get("/api/v1/me/points/", name="api me/points/", headers=self.api_headers,
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")

    @task(2)
    def api_products(self):
        with self.client.get("/api/v1/products/", name="api products/", headers=self.api_headers,
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
