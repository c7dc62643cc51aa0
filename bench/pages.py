#!/usr/bin/env python
"""Phone pages on a slow network: what the citizen's and the team's pages cost on "Fast 3G".

The site as in production (collectstatic into a temporary STATIC_ROOT; daphne, the production settings,
whitenoise's compressed files; a throwaway database with the demo district; a spare Redis database).
Debian's Chromium, a 360×740 phone under DevTools' "Fast 3G" (CDP Network.emulateNetworkConditions, on the
page and on its service worker), visits the citizen's home, the sign-in page, a citizen's order page and
the team workspace: first in a fresh context (empty cache, signed in beforehand without throttling), then
again in the same context (HTTP cache, service worker). Per visit: the bytes received (CDP loadingFinished
encodedDataLength, headers included) and the time from navigation start to ready (the load event; on the
pages with the live stream, also the stream status showing live). Medians of --runs runs. The citizen's
home over 200 kB on a first visit, or any unexpected status, fails the run (exit 1).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import BenchError, Client, log  # noqa: E402
from bench.push_stage import daphne, flushed_redis  # noqa: E402

CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright never downloads a browser here
CHROMIUM_ARGS = [  # as tests/e2e/conftest.py
    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync"),
    *("--disable-background-networking", "--disable-component-update"),
]
PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
# DevTools' "Fast 3G" preset: 1.6 Mbit/s down and 750 kbit/s up, each times 0.9; a 150 ms RTT times 3.75.
FAST_3G = {"offline": False, "latency": 562.5, "downloadThroughput": 1.44e6 / 8, "uploadThroughput": 675e3 / 8}
BUDGET_KB = 200.0  # the citizen's home on a first visit
CITIZEN_PHONE = harness.CITIZEN_PHONES[0]  # dispatch.demo.CITIZEN_PHONE
LEADER_PHONE = "13700000001"  # dispatch.demo.leader_phone(1)
QUIET_S, SETTLE_CAP_S = 1.0, 15.0  # late loads (manifest, service worker install) count until the network rests
# The moment stream.js shows the stream live (status hidden, data-state="live"), on the page's own clock.
LIVE_WATCH = """
new MutationObserver((_, watch) => {
  const s = document.querySelector("[data-stream-status]");
  if (s && s.hidden && s.dataset.state === "live") { window.__civicLive = performance.now(); watch.disconnect(); }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["hidden", "data-state"]});
"""
TIMES = """() => { const nav = performance.getEntriesByType("navigation")[0];
  return {load: nav ? nav.loadEventEnd : null, live: window.__civicLive ?? null}; }"""


@dataclass(frozen=True)
class Spec:
    key: str
    title: str
    path: str
    who: str | None  # whose session the visit carries: "citizen", "leader" or nobody
    stream: bool  # ready only once the live stream says live


PAGES = (
    Spec("citizen", "citizen home", "/", "citizen", stream=False),
    Spec("signin", "sign-in", "/login/", None, stream=False),
    Spec("order", "citizen order", "/orders/{order}/", "citizen", stream=True),
    Spec("team", "team workspace", "/team/", "leader", stream=True),
)


@dataclass
class Transfer:
    url: str
    started: float | None  # CDP timestamps, in seconds; None when the request went unseen
    finished: float = 0.0
    status: int = 0
    bytes: int = 0
    failed: str = ""


class Wire:
    """Every HTTP response of one visit, from the page's CDP events and its service worker's."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, str], Transfer] = {}
        self.done: list[Transfer] = []

    def event(self, source: str, method: str, p: dict[str, Any]) -> None:
        key = (source, p.get("requestId", ""))
        if method == "Network.requestWillBeSent":
            if "redirectResponse" in p:  # the hop before: its own response
                hop = self.open.pop(key, Transfer(p["request"]["url"], None))
                hop.status, hop.bytes = p["redirectResponse"]["status"], int(p["redirectResponse"]["encodedDataLength"])
                hop.finished = p["timestamp"]
                self.done.append(hop)
            self.open[key] = Transfer(p["request"]["url"], p["timestamp"])
        elif method == "Network.responseReceived":
            self.open.setdefault(key, Transfer(p["response"]["url"], None)).status = p["response"]["status"]
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            # A worker's own script is fetched before its Network domain is on: its response comes unannounced.
            done = self.open.pop(key, None) or Transfer(f"({source} request)", None)
            done.finished, done.bytes = p["timestamp"], int(p.get("encodedDataLength", 0))
            done.failed = p.get("errorText", "")
            self.done.append(done)

    def unthrottled(self) -> int:
        """Responses off the network faster than the emulated latency allows: the emulation missed them."""
        least = FAST_3G["latency"] / 1e3 * 0.9
        return sum(1 for t in self.done if t.bytes and t.started is not None and t.finished - t.started < least)


class Workers:
    """Service workers are targets of their own, out of the page's emulation; DevTools throttles them too.

    Each gets the same conditions through the browser's CDP session: when its script first fetches (Chromium
    ignores conditions sent while a worker starts) and again before each visit. Its responses count.
    """

    def __init__(self, browser: Any) -> None:
        self.cdp = browser.new_browser_cdp_session()
        self.sessions: set[str] = set()
        self.fetching: set[str] = set()
        self.wire: Wire | None = None
        self.ids = itertools.count(1)
        self.cdp.on("Target.targetCreated", self._created)
        self.cdp.on("Target.detachedFromTarget", lambda e: self.sessions.discard(e.get("sessionId", "")))
        self.cdp.on("Target.receivedMessageFromTarget", self._message)
        self.cdp.send("Target.setDiscoverTargets", {"discover": True})

    def throttle(self, *sessions: str) -> None:
        for session in sessions or list(self.sessions):
            try:
                for method, params in (("Network.enable", {}), ("Network.emulateNetworkConditions", FAST_3G)):
                    message = json.dumps({"id": next(self.ids), "method": method, "params": params})
                    self.cdp.send("Target.sendMessageToTarget", {"sessionId": session, "message": message})
            except PlaywrightError:  # the worker went away with its context
                self.sessions.discard(session)

    def _created(self, event: dict[str, Any]) -> None:
        info = event["targetInfo"]
        if info["type"] == "service_worker":
            with suppress(PlaywrightError):  # a worker of a context already closed
                attached = self.cdp.send("Target.attachToTarget", {"targetId": info["targetId"], "flatten": False})
                self.sessions.add(attached["sessionId"])
                self.throttle(attached["sessionId"])

    def _message(self, event: dict[str, Any]) -> None:
        message, session = json.loads(event["message"]), event["sessionId"]
        method = message.get("method", "")
        if self.wire is not None and method.startswith("Network."):
            self.wire.event("worker", method, message["params"])
        if method == "Network.requestWillBeSent" and session not in self.fetching:
            self.fetching.add(session)
            self.throttle(session)


@dataclass
class Visit:
    kb: float
    load_ms: float
    ready_ms: float
    requests: int
    unthrottled: int
    largest: Transfer
    problems: list[str]


def visit(context: Any, workers: Workers, spec: Spec, path: str, which: str) -> Visit:
    """One page load under Fast 3G in a new tab of `context`: its bytes and its time to ready."""
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    wire = workers.wire = Wire()
    for method in ("requestWillBeSent", "responseReceived", "loadingFinished", "loadingFailed"):
        cdp.on(f"Network.{method}", lambda p, m=f"Network.{method}": wire.event("page", m, p))
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", FAST_3G)
    workers.throttle()
    where, problems = f"{spec.title} ({which} visit)", []
    try:
        response = page.goto(path, wait_until="load", timeout=90_000)
        if response is None or response.status != 200 or urlsplit(page.url).path != path:
            problems.append(f"{where}: {path} answered {response and response.status}, ended at {page.url}")
        elif spec.stream:
            try:
                page.wait_for_function("() => window.__civicLive !== undefined", timeout=60_000)
            except PlaywrightError:
                problems.append(f"{where}: the stream status never showed live")
        times = page.evaluate(TIMES)
        quiet_since, deadline = time.monotonic(), time.monotonic() + SETTLE_CAP_S
        while time.monotonic() < deadline and time.monotonic() - quiet_since < QUIET_S:
            page.wait_for_timeout(100)
            quiet_since = time.monotonic() if wire.open else quiet_since
    finally:
        workers.wire = None
        with suppress(PlaywrightError):
            page.close()
    for t in wire.done:
        if t.status >= 400 or (t.failed and not t.status):
            problems.append(f"{where}: {t.url} answered {t.status or t.failed}")
    load = times["load"] or float("nan")
    ready = max(load, times["live"] or 0.0) if spec.stream else load
    largest = max(wire.done, key=lambda t: t.bytes, default=Transfer("-", None))
    kb = sum(t.bytes for t in wire.done) / 1e3
    return Visit(kb, load, ready, len(wire.done), wire.unthrottled(), largest, problems)


def sign_in(browser: Any, base: str, db_url: str, phone: str, warm: list[str]) -> dict[str, Any]:
    """Sign in through the page, unthrottled; the session's state. `warm`: pages the server renders once first."""
    context = browser.new_context(base_url=base, locale="zh-CN", **PHONE)
    try:
        page = context.new_page()
        page.goto("/login/?next=/")
        page.fill("input[name=phone]", phone)
        page.click("button[value=send]")
        page.wait_for_selector("input[name=code]")
        page.fill("input[name=code]", signin_code(db_url, phone))
        with page.expect_navigation():
            page.click("button[value=signin]")
        if urlsplit(page.url).path != "/" or "sessionid" not in {c["name"] for c in context.cookies()}:
            raise BenchError(f"signing {phone} in through /login/ ended at {page.url} without a session")
        state = context.storage_state()
        for path in warm:
            page.goto(path)
        return state
    finally:
        with suppress(PlaywrightError):
            context.close()


def signin_code(db_url: str, phone: str) -> str:
    """The code in the newest sign-in notification for `phone` (to its account, or to the bare number)."""
    sql = """SELECT n.text FROM dispatch_notification n LEFT JOIN auth_user u ON u.id = n.user_id
             WHERE n.kind = 'signin_code' AND (n.phone = %s OR u.username = %s) ORDER BY n.id DESC LIMIT 1"""
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(sql, (phone, phone)).fetchone()
    found = re.search(r"\b\d{6}\b", row[0]) if row else None
    if found is None:
        raise BenchError(f"no sign-in code was sent to {phone}")
    return found.group()


def citizen_order(port: int) -> int:
    """An order of the demo citizen (the demo district gives them none), placed over the API at its center."""
    client = Client(port, timeout=30)
    try:
        body = {"phone": CITIZEN_PHONE, "password": harness.DEMO_PASSWORD}
        token = client.call("POST", "/api/v1/auth/token/", body=body)[0]["token"]
        category = client.call("GET", "/api/v1/categories/")[0][0]["id"]
        return int(harness.place_order(client, token, 1, category, 28.70, 104.50)[0]["id"])
    finally:
        client.close()


# --- the figures ----------------------------------------------------------------------------

Results = dict[str, tuple[list[Visit], list[Visit]]]  # page → (first visits, second visits)


def figure(results: Results, key: str, second: bool, pick: Callable[[Visit], float]) -> float:
    return statistics.median(pick(v) for v in results[key][second])


def report(results: Results, runs: int, paths: dict[str, str]) -> None:
    down, up = (FAST_3G[k] / 1e3 for k in ("downloadThroughput", "uploadThroughput"))
    print(f"\nphone pages, 360×740, Fast 3G ({FAST_3G['latency']} ms, {down:.0f} kB/s down, {up:.0f} kB/s up)")
    print(f"medians of {runs} run(s); kB of 1 000 bytes received, headers included; ms from navigation start")
    cols = ("first kB", "load ms", "ready ms", "second kB", "load ms", "ready ms", "responses")
    print(f"  {'page':<30}" + "".join(f"{c:>10}" for c in cols) + "  largest on a first visit")
    for spec in PAGES:
        cells = ""
        for second in (False, True):
            kb, load, ready = (figure(results, spec.key, second, pick) for pick in PICKS)
            cells += f"{kb:>10.1f}{load:>10.0f}{ready:>10.0f}"
        first, again = (visits[-1] for visits in results[spec.key])
        name = urlsplit(first.largest.url).path.rstrip("/").rsplit("/", 1)[-1] or first.largest.url
        cells += f"{f'{first.requests}/{again.requests}':>10}"
        print(f"  {spec.title + ' ' + paths[spec.key]:<30}{cells}  {name} {first.largest.bytes / 1e3:.1f} kB")
    missed = sum(v.unthrottled for pair in results.values() for visits in pair for v in visits)
    if missed:
        print(f"note: {missed} response(s) came faster than the emulated latency: the emulation missed them")


PICKS: tuple[Callable[[Visit], float], ...] = (lambda v: v.kb, lambda v: v.load_ms, lambda v: v.ready_ms)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a short run: 2 runs of each visit instead of 5")
    p.add_argument("--runs", type=int, help="runs of each page's pair of visits, for the medians (5; 2 with --quick)")
    harness.database_option(p)
    p.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_PAGES_REDIS_URL", "redis://127.0.0.1:6379/13"),
        help="a spare Redis database, flushed at start and end (env BENCH_PAGES_REDIS_URL)",
    )
    args = p.parse_args(argv)
    args.runs = args.runs or (2 if args.quick else 5)
    if args.runs < 1:
        p.error("--runs must be positive")
    harness.require_loopback(p, database_url=args.database_url, redis_url=args.redis_url)
    if urlsplit(args.redis_url).path.strip("/") in ("", "0"):
        p.error("--redis-url must name a spare database (it is flushed), not 0: e.g. redis://127.0.0.1:6379/13")
    if not Path(CHROMIUM).exists():
        p.error(f"{CHROMIUM} is missing; run .ci/install-browser (apt-get install chromium)")
    return args


def measure(browser: Any, base: str, states: dict[str, Any], paths: dict[str, str], runs: int) -> Results:
    """Each page's first and second visit, `runs` times."""
    workers, results = Workers(browser), Results((s.key, ([], [])) for s in PAGES)
    for n in range(runs):
        for spec in PAGES:
            # A fresh context: an empty cache, no service worker, the session already in its cookies.
            state = states.get(spec.who or "")
            context = browser.new_context(base_url=base, storage_state=state, locale="zh-CN", **PHONE)
            context.add_init_script(LIVE_WATCH)
            try:
                for which, visits in zip(("first", "second"), results[spec.key], strict=True):
                    visits.append(visit(context, workers, spec, paths[spec.key], which))
            except PlaywrightError as exc:
                raise BenchError(f"{spec.title}: the browser failed: {exc}") from exc
            finally:
                with suppress(PlaywrightError):  # Ctrl-C reaches the browser too: it may be gone already
                    context.close()
        log(f"run {n + 1}/{runs} done")
    return results


def run(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The whole benchmark; returns the figure line and the problems."""
    harness.check_redis(args.redis_url)
    env = harness.server_env("config.settings.production", args.redis_url)
    name = f"civic_pages_{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="civic-pages-") as tmp:
        env["STATIC_ROOT"] = str(Path(tmp) / "static")
        harness.collect_static(env)
        with flushed_redis(args.redis_url), harness.seeded_database(args.database_url, name, env) as db_url:
            env["DATABASE_URL"] = db_url
            port, log_path = harness.free_port(), Path(tmp) / "daphne.log"
            with daphne(env, "config.asgi:application", port, log_path), sync_playwright() as pw:
                base = f"http://127.0.0.1:{port}"
                paths = {s.key: s.path.format(order=citizen_order(port)) for s in PAGES}
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                states = {
                    "citizen": sign_in(browser, base, db_url, CITIZEN_PHONE, [paths["citizen"], paths["order"]]),
                    "leader": sign_in(browser, base, db_url, LEADER_PHONE, [paths["team"]]),
                }
                load_before = os.getloadavg()[0]
                results = measure(browser, base, states, paths, args.runs)
                load_after = os.getloadavg()[0]
                browser.close()
        complaints = harness.server_complaints(log_path)

    report(results, args.runs, paths)
    print(harness.machine(load_before, load_after))
    if complaints:
        print(f"server log ({len(complaints)} lines at WARNING or above, first 20):")
        print("\n".join(f"  {line}" for line in complaints[:20]))
    problems = sorted({p for pair in results.values() for visits in pair for v in visits for p in v.problems})
    citizen_kb, _, citizen_ms = (figure(results, "citizen", False, pick) for pick in PICKS)
    team_kb, _, team_ms = (figure(results, "team", False, pick) for pick in PICKS)
    if citizen_kb > BUDGET_KB:
        problems.append(f"the citizen's home is {citizen_kb:.1f} kB on a first visit, over its {BUDGET_KB:.0f} kB")
    line = (
        f"citizen_first_kb={citizen_kb:.1f} citizen_ready_ms={citizen_ms:.0f} "
        f"team_first_kb={team_kb:.1f} team_ready_ms={team_ms:.0f} "
        f"citizen_second_kb={figure(results, 'citizen', True, PICKS[0]):.1f} "
        f"team_second_kb={figure(results, 'team', True, PICKS[0]):.1f} "
        f"team_second_ms={figure(results, 'team', True, PICKS[2]):.0f}"
    )
    return line, problems


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.bench_main("bench/pages.py", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
