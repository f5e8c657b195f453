"""The benchmark harness: one invocation measures the service and its peers on this machine
and writes bench/REPORT.md and bench/chart.png. Run it through `make bench`.

Sizes come from the environment (BENCH_QUICK=1 for a fast run); every figure whose feature
is missing is skipped with a "not available yet" line instead of failing the run.
Knobs: BENCH_DURATION_S, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_WEB_PROCS, BENCH_SESSIONS_SMALL/LARGE,
BENCH_REVOCATION_TRIALS; BENCH_SERVICE_PYTHONPATH replaces the service processes' PYTHONPATH (to try
a sitecustomize, e.g. one that tunes gc); BENCH_DEBUG=1 prints slow revocation trials.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The code under test: a snapshot of the last commit made by run.sh (others edit the work
# tree while this runs), or the work tree itself with BENCH_TREE=work.
APP_ROOT = Path(os.environ.get("BENCH_APP_ROOT", ROOT))
sys.path.insert(0, str(APP_ROOT))
sys.path.insert(0, str(HERE))

import aiohttp  # noqa: E402
from cpumeter import CpuMeter  # noqa: E402

import redis_bulk  # noqa: E402
import report  # noqa: E402
import wrkrun  # noqa: E402
from procs import PY, Proc, free_port  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


CFG = {
    "duration_s": _env_float("BENCH_DURATION_S", 2 if QUICK else 5),
    "rounds": _env_int("BENCH_ROUNDS", 3 if QUICK else 5),
    "connections": _env_int("BENCH_CONNECTIONS", 32),
    "web_procs": _env_int("BENCH_WEB_PROCS", 2),
    "login_connections": _env_int("BENCH_LOGIN_CONNECTIONS", 8),
    "refresh_connections": _env_int("BENCH_REFRESH_CONNECTIONS", 4),
    "revocation_trials": _env_int("BENCH_REVOCATION_TRIALS", 30 if QUICK else 200),
    "revocation_procs": 4,
    "sessions_small": _env_int("BENCH_SESSIONS_SMALL", 10_000 if QUICK else 100_000),
    "sessions_large": _env_int("BENCH_SESSIONS_LARGE", 10_000 if QUICK else 1_000_000),
    "sessions_per_user": _env_int("BENCH_SESSIONS_PER_USER", 2),
    "audit_events": _env_int("BENCH_AUDIT_EVENTS", 5_000 if QUICK else 50_000),
}
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/auth_bench")
PREFIX = f"authbench-{os.getpid()}"
PASSWORD = "correct horse battery staple 42"
T0 = time.monotonic()


# ---------------------------------------------------------------- progress display

class Step:
    """One line per step with the elapsed time, printed as the step starts and ends."""

    def __init__(self, title: str) -> None:
        self.title = title

    def __enter__(self) -> "Step":
        self.start = time.monotonic()
        print(f"[{time.monotonic() - T0:6.1f}s] {self.title} ...", flush=True)
        return self

    def done(self, outcome: str) -> None:
        self.outcome = outcome

    def __exit__(self, exc_type, exc, tb) -> bool:
        took = time.monotonic() - self.start
        if exc is not None:
            print(f"[{time.monotonic() - T0:6.1f}s]   {self.title}: FAILED after {took:.1f}s: {exc}",
                  flush=True)
            last = (str(exc).strip().splitlines() or [""])[-1]
            report.failures.append(f"{self.title}: {type(exc).__name__}: {last[:300]}")
            return True  # one broken figure must not take the others down
        print(f"[{time.monotonic() - T0:6.1f}s]   {self.title}: {getattr(self, 'outcome', 'done')} "
              f"({took:.1f}s)", flush=True)
        return False


def note(text: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s]   {text}", flush=True)


# ---------------------------------------------------------------- servers

def service_env(port: int) -> dict[str, str]:
    return {
        "AUTH_DATABASE__URL": DB_URL,
        "AUTH_REDIS__URL": REDIS_URL,
        "AUTH_REDIS__KEY_PREFIX": PREFIX,
        "AUTH_EVENTS__STREAM": f"{PREFIX}:events",
        "AUTH_COOKIE__SECURE": "false",
        "AUTH_COOKIE__NAME": "sid",
        "AUTH_HTTP__HOST": "127.0.0.1",
        "AUTH_HTTP__PORT": str(port),
        "AUTH_TOKENS__ISSUER": "http://127.0.0.1",
        "AUTH_TOKENS__KEYS_DIR": str(ROOT / "var" / "bench-keys"),
        "PYTHONPATH": os.environ.get("BENCH_SERVICE_PYTHONPATH", str(APP_ROOT)),
    }


def start_service(name: str, procs_n: int) -> tuple[Proc, str]:
    port = free_port()
    p = Proc(name, [PY, "-m", "app", "serve", "--port", str(port), "--workers", str(procs_n)],
             env=service_env(port))
    base = f"http://127.0.0.1:{port}"
    p.wait_http(base + "/healthz")
    return p, base


def start_baseline(kind: str, procs_n: int) -> tuple[Proc, str]:
    port = free_port()
    p = Proc(f"baseline-{kind}", [PY, str(HERE / "baseline_server.py"), kind, "--port", str(port),
                                  "--procs", str(procs_n), "--redis", REDIS_URL, "--prefix", PREFIX])
    base = f"http://127.0.0.1:{port}"
    p.wait_http(base + "/healthz")
    return p, base


def _wrk(url: str, header: tuple[str, str] | None, connections: int, threads: int, duration_s: float):
    env = {"BENCH_HEADER_NAME": header[0], "BENCH_HEADER_VALUE": header[1]} if header else {}
    return wrkrun.wrk(url, duration_s=duration_s, connections=connections, threads=threads,
                      script="headers.lua", env=env)


def series_text(s: wrkrun.Series) -> str:
    lo, hi = s.span("rps")
    return f"{s.median('rps'):,.0f} req/s (min {lo:,.0f}, max {hi:,.0f}); p50 {s.median('p50_ms'):.2f} ms, " \
           f"p99 {s.median('p99_ms'):.2f} ms"


def cpu_loop(kind: str, seconds: float, threads: int = 2) -> dict:
    out = subprocess.run([PY, str(HERE / "cpu_loops.py"), kind, "--seconds", str(seconds), "--threads",
                          str(threads)], capture_output=True, text=True, cwd=APP_ROOT, timeout=seconds + 60,
                         env={**os.environ, "PYTHONPATH": str(APP_ROOT)})
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip()[-500:])
    return json.loads(out.stdout)


# ---------------------------------------------------------------- HTTP helpers

def client(base_connections: int = 4) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                 connector=aiohttp.TCPConnector(limit=base_connections))


async def register_and_login(base: str, email: str) -> tuple[str, str, str]:
    """(user id, cookie value, csrf token) through the public HTTP API."""
    async with client() as http:
        async with http.post(base + "/auth/register", json={"email": email, "password": PASSWORD}) as r:
            if r.status not in (201, 202):
                raise RuntimeError(f"register answered {r.status}: {await r.text()}")
        async with http.post(base + "/auth/login", json={"email": email, "password": PASSWORD}) as r:
            body = await r.json()
            if r.status != 200:
                raise RuntimeError(f"login answered {r.status}: {body}")
            cookie = r.cookies["sid"].value
        return body["user"]["id"], cookie, body["csrf_token"]


async def password_grant(base: str, email: str) -> dict | None:
    """A token reply, or None when /auth/token is not there yet."""
    async with client() as http:
        async with http.post(base + "/auth/token", json={"grant_type": "password", "username": email,
                                                         "password": PASSWORD}) as r:
            if r.status in (404, 405):
                return None
            body = await r.json(content_type=None)
            if r.status != 200 or "access_token" not in body:
                raise RuntimeError(f"/auth/token answered {r.status}: {body}")
            return body


# ---------------------------------------------------------------- figures

def fig_sessions(results: dict) -> None:
    procs_n = CFG["web_procs"]
    targets: dict[str, tuple[str, tuple[str, str] | None]] = {}
    with Step(f"starting the service ({procs_n} processes) and its peers"):
        svc, base = start_service("service", procs_n)
        results["service"] = (svc, base)
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        uid, cookie, _ = asyncio.run(register_and_login(base, email))
        results["user"] = {"email": email, "id": uid, "cookie": cookie}
        targets["session"] = (base + "/auth/session", ("Cookie", f"sid={cookie}"))
        bare, bare_base = start_baseline("bare", procs_n)
        results["bare_proc"] = (bare, bare_base)
        targets["bare"] = (bare_base + "/auth/session", None)
        ahs, ahs_base = start_baseline("aiohttp-session", procs_n)
        results["ahs_proc"] = (ahs, ahs_base)

        async def login() -> str:
            async with client() as http:
                async with http.post(ahs_base + "/login") as r:
                    return r.cookies[f"{PREFIX}_AIOHTTP_SESSION"].value
        ahs_cookie = asyncio.run(login())
        targets["aiohttp_session"] = (ahs_base + "/auth/session", ("Cookie", f"{PREFIX}_AIOHTTP_SESSION={ahs_cookie}"))
    with Step(f"cookie-session checks: service, bare handler, aiohttp-session; {CFG['rounds']} interleaved rounds"):
        for name, (url, header) in targets.items():  # warm-up, discarded
            _wrk(url, header, CFG["connections"], 1, 1.0)
        series = {name: wrkrun.Series() for name in targets}
        for _ in range(CFG["rounds"]):
            # Interleaved so that load from other jobs on this shared machine hits all alike.
            for name, (url, header) in targets.items():
                series[name].rounds.append(_wrk(url, header, CFG["connections"], 1, CFG["duration_s"]))
        for name, s in series.items():
            if s.error_share > 0.01:
                raise RuntimeError(f"{s.error_share:.1%} of the requests to {name} failed")
            results[name] = s
            note(f"{name}: {series_text(s)}")
    ahs_proc = results.pop("ahs_proc", None)
    if ahs_proc:
        ahs_proc[0].stop()
    s, bare, ahs = results.get("session"), results.get("bare"), results.get("aiohttp_session")
    if s and bare:
        report.row("Session check (GET /auth/session) vs bare handler", s.median("rps"), bare.median("rps"),
                   "req/s", target=0.7, span=s.span("rps"), base_span=bare.span("rps"),
                   round_ratios=report.paired(s.values("rps"), bare.values("rps")))
        report.row("Session check p50 latency vs bare handler (lower is better)", s.median("p50_ms"),
                   bare.median("p50_ms"), "ms", target=None, higher_is_better=False)
        report.row("Session check p99 latency vs bare handler (lower is better)", s.median("p99_ms"),
                   bare.median("p99_ms"), "ms", target=None, higher_is_better=False)
    if s and ahs:
        report.row("Session check vs aiohttp-session (RedisStorage)", s.median("rps"), ahs.median("rps"),
                   "req/s", target=2.5, span=s.span("rps"), base_span=ahs.span("rps"),
                   round_ratios=report.paired(s.values("rps"), ahs.values("rps")))
    report.chart_series.update({k: v for k, v in (("service /auth/session", s), ("bare aiohttp", bare),
                                                  ("aiohttp-session", ahs)) if v})


def fig_tokens(results: dict) -> None:
    if "service" not in results:
        report.skip("Bearer validation and refresh grants", "the service did not start")
        return
    _, base = results["service"]
    email = results["user"]["email"]
    grant = None
    with Step("tokens: probing POST /auth/token"):
        grant = asyncio.run(password_grant(base, email))
    if grant is None:
        report.skip("Bearer validation (protected route) vs bare handler", "not available yet: no POST /auth/token")
        report.skip("Refresh grants vs bare handler", "not available yet: no POST /auth/token")
        return
    with Step("Bearer validation on GET /auth/me"):
        header = ("Authorization", f"Bearer {grant['access_token']}")

        async def probe() -> int:
            async with client() as http:
                async with http.get(base + "/auth/me", headers={header[0]: header[1]}) as r:
                    return r.status
        status = asyncio.run(probe())
        if status != 200:
            report.skip("Bearer validation (protected route) vs bare handler",
                        f"not available yet: GET /auth/me with a Bearer token answered {status}")
        else:
            bare_url = results["bare_proc"][1] + "/auth/me"
            s, bare = wrkrun.Series(), wrkrun.Series()
            _wrk(base + "/auth/me", header, CFG["connections"], 1, 1.0)
            for _ in range(CFG["rounds"]):
                s.rounds.append(_wrk(base + "/auth/me", header, CFG["connections"], 1, CFG["duration_s"]))
                bare.rounds.append(_wrk(bare_url, None, CFG["connections"], 1, CFG["duration_s"]))
            if s.error_share > 0.01:
                raise RuntimeError(f"{s.error_share:.1%} of the Bearer requests failed")
            note("bearer: " + series_text(s) + "; bare: " + series_text(bare))
            report.row("Bearer validation (GET /auth/me) vs bare handler", s.median("rps"),
                       bare.median("rps"), "req/s", target=0.7, span=s.span("rps"), base_span=bare.span("rps"),
                       round_ratios=report.paired(s.values("rps"), bare.values("rps")),
                       note="GET /auth/me echoes the principal the Bearer token resolves to: the cost measured "
                            "is authentication (a verified token is cached in-process; revocation arrives "
                            "over pub/sub)")
            report.chart_series["service Bearer (/auth/me)"] = s
    with Step("refresh grants (each connection spends the token its last reply gave it)"):
        c = CFG["refresh_connections"]

        def fresh_tokens() -> list[str]:
            # Fresh families per wrk run: a run's last tokens stay inside wrk, and starting
            # the next run from spent ones would (rightly) be taken for reuse.
            return [asyncio.run(password_grant(base, email))["refresh_token"] for _ in range(c)]

        def refresh_round(duration_s: float, tokens: list[str]) -> wrkrun.WrkResult:
            return wrkrun.wrk(base + "/auth/token", duration_s=duration_s, connections=c, threads=c,
                              script="refresh.lua", env={"BENCH_TOKENS": ",".join(tokens)})

        def metered(pgid: int, run) -> tuple[wrkrun.WrkResult, float, float]:
            """A wrk result with the server's and Redis's CPU microseconds per request."""
            with CpuMeter(pgid, REDIS_URL) as meter:
                result = run()
            n = max(result.requests, 1)
            return result, (meter.use.main_s + meter.use.other_s) / n * 1e6, meter.use.redis_s / n * 1e6

        floor_proc, floor_base = start_baseline("one-script", CFG["web_procs"])

        def floor_round(duration_s: float) -> wrkrun.WrkResult:
            return wrkrun.wrk(floor_base + "/auth/token", duration_s=duration_s, connections=c, threads=c,
                              script="grant_body.lua")

        refresh_round(1.0, fresh_tokens())
        floor_round(1.0)
        s, bare, floor, ours_us, bare_us = wrkrun.Series(), wrkrun.Series(), wrkrun.Series(), [], []
        bare_url = results["bare_proc"][1] + "/auth/session"
        for _ in range(CFG["rounds"]):
            tokens = fresh_tokens()  # outside the meter: each is a password grant (an argon2 hash)
            result, web_us, redis_us = metered(results["service"][0].popen.pid,
                                               lambda: refresh_round(CFG["duration_s"], tokens))
            s.rounds.append(result)
            ours_us.append((web_us, redis_us))
            result, web_us, redis_us = metered(
                results["bare_proc"][0].popen.pid,
                lambda: wrkrun.wrk(bare_url, duration_s=CFG["duration_s"], connections=c, threads=c,
                                   script="headers.lua"))
            bare.rounds.append(result)
            bare_us.append(web_us)
            floor.rounds.append(floor_round(CFG["duration_s"]))
        floor_proc.stop()
        if s.error_share > 0.01:
            raise RuntimeError(f"{s.error_share:.1%} of refresh grants failed (reuse detection or errors)")
        if floor.error_share > 0.01:
            raise RuntimeError(f"{floor.error_share:.1%} of the one-script floor's requests failed")
        web_us = statistics.median(w for w, _ in ours_us)
        redis_us = statistics.median(r for _, r in ours_us)
        bare_cpu = statistics.median(bare_us)
        split = (f"CPU per grant: the web processes {web_us:.0f} us + Redis {redis_us:.0f} us, "
                 f"{(web_us + redis_us) / bare_cpu:.1f}x the {bare_cpu:.0f} us of a bare request (medians of "
                 f"the rounds; the bare handler at {c} connections is bound by round trips as much as by CPU)")
        floor_ratios = report.paired(floor.values("rps"), bare.values("rps"))
        floor_text = (f"a handler that makes one Redis script call and nothing else (bench/baseline_server.py "
                      f"one-script) reaches {statistics.median(floor_ratios):.2f}x the bare handler in the same "
                      f"rounds ({min(floor_ratios):.2f}-{max(floor_ratios):.2f}): the ceiling of any grant "
                      f"that spends its token in a shared store")
        note("refresh: " + series_text(s) + "; " + split)
        note("one-script floor: " + series_text(floor) + "; " + floor_text)
        report.row(f"Refresh grants vs bare handler (both at {c} connections)", s.median("rps"),
                   bare.median("rps"), "req/s", target=0.3, span=s.span("rps"), base_span=bare.span("rps"),
                   round_ratios=report.paired(s.values("rps"), bare.values("rps")), note=split + "; " + floor_text)
        report.row(f"Refresh grants vs one Redis script call per request (both at {c} connections)",
                   s.median("rps"), floor.median("rps"), "req/s", target=None, span=s.span("rps"),
                   base_span=floor.span("rps"), round_ratios=report.paired(s.values("rps"), floor.values("rps")),
                   note="what a grant costs beyond its one round trip: signing the access token, sealing the "
                        "successor, the event, the throttle gate and the rotation's bookkeeping in Redis")


def login_bodies(base: str) -> str:
    """Login bodies for wrk (bench/lua/login.lua), one per line, over enough fresh accounts that
    none reaches session.max_per_user (100) during the login figures: the storm probe's own
    session, the oldest of results["user"], must not be the one a cap ends."""
    seconds = 2 + CFG["rounds"] * CFG["duration_s"] + CFG["duration_s"] * 2 + 3
    accounts = max(8, math.ceil(seconds * 200 / 80))  # 200 logins/s is far above this machine's rate

    async def register_all() -> list[str]:
        emails = [f"bench-login-{uuid.uuid4().hex[:12]}@example.com" for _ in range(accounts)]
        gate = asyncio.Semaphore(8)  # within the hashing queue's bound (a full queue answers 503)
        async with client() as http:
            async def register(email: str) -> None:
                async with gate, http.post(base + "/auth/register", json={"email": email, "password": PASSWORD}) as r:
                    if r.status not in (201, 202):
                        raise RuntimeError(f"register answered {r.status}: {await r.text()}")
            await asyncio.gather(*(register(e) for e in emails))
        return emails

    emails = asyncio.run(register_all())
    return "\n".join(json.dumps({"email": e, "password": PASSWORD}) for e in emails)


def fig_logins(results: dict) -> None:
    if "service" not in results:
        report.skip("Password logins vs raw argon2", "the service did not start")
        return
    _, base = results["service"]
    user = results["user"]
    body = login_bodies(base)
    with Step(f"password logins ({CFG['login_connections']} connections) and the raw argon2id loop "
              f"(2 threads), {CFG['rounds']} interleaved rounds"):
        login_url = base + "/auth/login"
        wrkrun.wrk(login_url, duration_s=2, connections=CFG["login_connections"], script="login.lua",
                   env={"BENCH_BODIES": body})
        s, raw, cpu = wrkrun.Series(), [], []
        for _ in range(CFG["rounds"]):
            raw.append(cpu_loop("argon2", CFG["duration_s"], threads=2))
            with CpuMeter(results["service"][0].popen.pid, REDIS_URL) as meter:
                s.rounds.append(wrkrun.wrk(login_url, duration_s=CFG["duration_s"],
                                           connections=CFG["login_connections"], script="login.lua",
                                           env={"BENCH_BODIES": body}))
            cpu.append((meter.use, s.rounds[-1].requests))
        if s.error_share > 0.01:
            raise RuntimeError(f"{s.error_share:.1%} of logins failed")
        rates = [r["ops_per_s"] for r in raw]
        raw_rate = statistics.median(rates)
        # Why the ratio is what it is: the hashes can only have the cores nothing else uses.
        hash_cores = statistics.median(u.cores(u.other_s) for u, _ in cpu)
        loop_cores = statistics.median(u.cores(u.main_s) for u, _ in cpu)
        loop_ms = statistics.median(u.main_s / n * 1e3 for u, n in cpu)
        redis_cores = statistics.median(u.cores(u.redis_s) for u, _ in cpu)
        split = (f"CPU during the logins: the argon2 threads {hash_cores:.2f} cores, the event loops "
                 f"{loop_cores:.2f} ({loop_ms:.2f} ms per login), Redis {redis_cores:.2f}, and about "
                 f"{max(0.0, 2 - hash_cores - loop_cores - redis_cores):.2f} to Postgres, wrk and the kernel")
        note(f"logins: {series_text(s)}; argon2 ({raw[0]['params']}): {raw_rate:.1f} verifies/s "
             f"(min {min(rates):.1f}, max {max(rates):.1f}); {split}")
        report.row("Password logins vs raw argon2id verify rate (2 cores)", s.median("rps"), raw_rate,
                   "per s", target=0.9, span=s.span("rps"), base_span=(min(rates), max(rates)),
                   round_ratios=report.paired(s.values("rps"), rates),
                   note=f"argon2id {raw[0]['params']}; login p50 {s.median('p50_ms'):.0f} ms, "
                        f"p99 {s.median('p99_ms'):.0f} ms. {split} (medians of the rounds)")
    with Step("session-check latency: idle, then during a login storm"):
        url = base + "/auth/session"
        probe_argv = [PY, str(HERE / "probes.py"), "http", "--url", url, "--header", f"Cookie: sid={user['cookie']}",
                      "--seconds", str(CFG["duration_s"] * 2), "--gap-ms", "5"]
        idle = json.loads(subprocess.run(probe_argv, capture_output=True, text=True, check=True).stdout)
        storm = subprocess.Popen(["wrk", "-t1", "--latency", f"-c{CFG['login_connections']}",
                                  f"-d{CFG['duration_s'] * 2 + 3:g}s", "-s", str(wrkrun.LUA_DIR / "login.lua"),
                                  base + "/auth/login"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env={**os.environ, "BENCH_BODIES": body}, text=True)
        time.sleep(1.0)  # let the storm reach full CPU
        busy = json.loads(subprocess.run(probe_argv, capture_output=True, text=True, check=True).stdout)
        storm_out, _ = storm.communicate(timeout=120)
        storm_rps = wrkrun.parse(storm_out).rps
        for probe in (idle, busy):
            if set(probe["statuses"]) != {"200"}:
                raise RuntimeError(f"session checks answered {probe['statuses']}")
        note(f"idle p99 {idle['p99_ms']:.2f} ms, storm p99 {busy['p99_ms']:.2f} ms "
             f"({storm_rps:.0f} logins/s meanwhile)")
        report.row("Session-check p99 during a login storm vs idle (lower is better)", busy["p99_ms"],
                   idle["p99_ms"], "ms", target=4.0, higher_is_better=False,
                   note=f"{storm_rps:.0f} logins/s meanwhile; p50 {busy['p50_ms']:.2f} vs {idle['p50_ms']:.2f} ms")


def fig_jwt_baseline(results: dict) -> None:
    with Step("baseline: PyJWT EdDSA verify loop (one thread)"):
        out = cpu_loop("jwt", CFG["duration_s"])
        note(f"PyJWT EdDSA: {out['ops_per_s']:,.0f} verifies/s")
        report.info.append(f"PyJWT EdDSA verify loop on one thread: {out['ops_per_s']:,.0f} verifies/s "
                           f"(the ceiling of a single event loop that only verified tokens).")


def fig_authz(results: dict) -> None:
    script = HERE / "authz_bench.py"  # the authorization helper's micro-benchmark, when it is there
    if not script.exists():
        return
    with Step("authorization check cost (bench/authz_bench.py)"):
        out = subprocess.run([PY, str(script), "--json", "--seconds", "2"], capture_output=True, text=True,
                             cwd=APP_ROOT, timeout=120, env={**os.environ, "PYTHONPATH": str(APP_ROOT)})
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip()[-300:])
        r = json.loads(out.stdout.strip().splitlines()[-1])
        note(f"{r['checks_per_s']:,} checks/s ({r['us_per_check']} us each)")
        report.info.append(f"Authorization check (`bench/authz_bench.py`, {r['rules']} rules per caller, in "
                           f"process): {r['checks_per_s']:,} checks/s, {r['us_per_check']} us each, "
                           f"{r['ratio_check_to_dict']:.4f}x a dict lookup; a cold per-caller view costs "
                           f"{r['us_cold_view_compile']} us.")


def fig_revocation(results: dict) -> None:
    n = CFG["revocation_procs"]
    with Step(f"revocation propagation: {n} web processes, {CFG['revocation_trials']} trials of each kind"):
        started = [start_service(f"revocation-{i}", 1) for i in range(n)]
        try:
            outcome = asyncio.run(_revocation_trials([b for _, b in started]))
        finally:
            for p, _ in started:
                p.stop()
        for kind, (samples, immediate, sent) in outcome.items():
            samples.sort()
            p50, p99 = report.pct(samples, 0.5), report.pct(samples, 0.99)
            note(f"{kind}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {samples[-1]:.2f} ms; "
                 f"{immediate}/{len(samples)} first polls already rejected")
            report.row(f"Revocation propagation p99, {kind} (reply -> first 401 on each of {n} processes)", p99,
                       None, "ms", target=50.0, higher_is_better=False, absolute=True,
                       note=f"p50 {p50:.2f} ms, max {samples[-1]:.2f} ms over {len(samples)} samples "
                            f"({CFG['revocation_trials']} trials x {n} processes); {immediate} were already "
                            f"rejected at the first poll, so the figure is mostly one request's round trip on "
                            f"this machine; the rejected poll was sent p50 {report.pct(sent, 0.5):.2f} ms, "
                            f"p99 {report.pct(sent, 0.99):.2f} ms after the reply")


async def _revocation_trials(bases: list[str]) -> dict[str, tuple[list[float], int, list[float]]]:
    from app.sessions.manager import ClientInfo
    from app.services import build_services
    from app.settings import load_settings

    services = build_services(load_settings())
    kinds = {"logout (POST /auth/logout)": ([], 0), "forced logout (revocation epoch)": ([], 0)}
    sent_at: dict[str, list[float]] = {k: [] for k in kinds}  # when the rejected poll was sent
    sessions = [aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                      connector=aiohttp.TCPConnector(limit=1)) for _ in bases]
    try:
        # Two warm-up trials (one of each kind) are not recorded: the first 401 a process renders
        # pays for lazy imports and first-call paths that a process in service has long paid for.
        for trial in range(-2, 2 * CFG["revocation_trials"]):
            kind = list(kinds)[trial % 2]
            user_id = str(uuid.uuid4())
            started = await services.sessions.start(user_id=user_id, email="revoke@example.com",
                                                    roles=(), client=ClientInfo("127.0.0.1", "authbench"))
            headers = {"Cookie": f"sid={started.session_id}"}
            csrf = None
            for http, base in zip(sessions, bases):  # warm every process's cache with this session
                async with http.get(base + "/auth/session", headers=headers) as r:
                    if r.status != 200:
                        raise RuntimeError(f"fresh session answered {r.status} on {base}")
                    csrf = (await r.json())["csrf_token"]
            if trial % 2 == 0:
                async with sessions[0].post(bases[0] + "/auth/logout",
                                            headers={**headers, "X-CSRF-Token": csrf}) as r:
                    await r.read()
                    if r.status != 204:
                        raise RuntimeError(f"logout answered {r.status}")
            else:
                # What an admin forced logout does before it replies: the user's epoch moves.
                await services.sessions.revoke_everything_before(user_id, time.time())
            t0 = time.perf_counter()

            async def first_rejection(http: aiohttp.ClientSession, base: str) -> tuple[float, float, bool]:
                first = True
                while time.perf_counter() - t0 < 2.0:
                    sent = time.perf_counter()
                    async with http.get(base + "/auth/session", headers=headers) as r:
                        await r.read()
                        if r.status == 401:
                            return (time.perf_counter() - t0) * 1000, (sent - t0) * 1000, first
                    first = False
                return float("inf"), float("inf"), False
            samples, immediate = kinds[kind]
            outcomes = await asyncio.gather(*(first_rejection(h, b) for h, b in zip(sessions, bases)))
            if trial < 0:
                continue
            if os.environ.get("BENCH_DEBUG") and max(o[0] for o in outcomes) > 20:
                note(f"slow trial {trial} {kind}: {outcomes}")
            for ms, sent_ms, was_first in outcomes:
                samples.append(ms)
                sent_at[kind].append(sent_ms)
                immediate += was_first
            kinds[kind] = (samples, immediate)
    finally:
        for s in sessions:
            await s.close()
        await services.close()
    return {k: (samples, immediate, sorted(sent_at[k])) for k, (samples, immediate) in kinds.items()}


# Raising a priority needs root (CI and these machines have it); otherwise the figure also
# includes waiting for a CPU, and the report says so.
CAN_RAISE_PRIORITY = os.geteuid() == 0
PROBE_PRIORITY_NOTE = "nice -5" if CAN_RAISE_PRIORITY else "the default priority (not root)"


def _raise_priority() -> None:
    if CAN_RAISE_PRIORITY:
        os.nice(-5)


@contextlib.asynccontextmanager
async def redis_slowlog(redis, threshold_us: int):
    """Redis's own record of long commands while the block runs: {n, max_ms, command}.
    The server settings are put back afterwards (the Redis is shared)."""
    saved = await redis.config_get("slowlog-*")
    await redis.config_set("slowlog-log-slower-than", threshold_us)
    await redis.config_set("slowlog-max-len", 100_000)
    await redis.slowlog_reset()
    found = {"n": 0, "max_ms": 0.0, "command": "none"}
    try:
        yield found
        entries = await redis.slowlog_get(100_000)
        found["n"] = len(entries)
        if entries:
            worst = max(entries, key=lambda e: e["duration"])
            found["max_ms"] = worst["duration"] / 1000
            command = worst.get("command") or b""
            found["command"] = (command.decode(errors="replace") if isinstance(command, bytes)
                                else str(command)).split(" ")[0]
    finally:
        for name, value in saved.items():
            await redis.config_set(name, value)


def fig_memory_and_sweep(results: dict) -> None:
    asyncio.run(_memory_and_sweep())


async def _memory_and_sweep() -> None:
    from redis.asyncio import Redis

    from app.settings import load_settings

    settings = load_settings()
    redis = Redis.from_url(REDIS_URL)
    prefix = f"{PREFIX}-mem"
    store = redis_bulk.make_store(redis, prefix)
    small, large = CFG["sessions_small"], CFG["sessions_large"]
    per_user = CFG["sessions_per_user"]
    s = settings.session
    ping_argv = [PY, str(HERE / "probes.py"), "ping", "--redis", REDIS_URL]
    batch = settings.workers.sweep_batch_size
    try:
        base_mem = await redis_bulk.used_memory(redis)
        made = 0
        for size in sorted({small, large}):
            with Step(f"Redis memory: creating sessions up to {size:,} through RedisSessionStore.create"):
                t = time.perf_counter()
                await redis_bulk.create_sessions(store, size - made, per_user=per_user,
                                                 idle_s=s.idle_timeout_s, abs_s=s.absolute_timeout_s)
                rate = (size - made) / (time.perf_counter() - t)
                made = size
                per = (await redis_bulk.used_memory(redis) - base_mem) / size
                parts = await redis_bulk.breakdown(redis, store, size)
                note(f"{per:.0f} bytes/session ({rate:,.0f} creates/s); {parts}")
                report.row(f"Redis memory per active session at {size:,} (incl. indexes)", per, None, "bytes",
                           target=512, higher_is_better=False, absolute=True,
                           note=f"{per_user} sessions per user; value {parts['session value']:.0f} B "
                                f"({parts['value encoding']}), user index {parts['user index share']:.0f} B, "
                                f"due-users zset {parts['due-users zset share']:.0f} B")
        with Step(f"expiry sweep over {made:,} expired sessions (batch {settings.workers.sweep_batch_size}) "
                  f"with a PING probe"):
            # The noise floor first: the same PING loop with no sweep running. The probe stands for a
            # client on a core of its own, so it runs ahead of the sweeper in the scheduler's queue:
            # on 2 shared cores it would otherwise also measure waiting for a CPU, not for Redis.
            # As long as the sweep takes: this machine alone shows 10 ms hiccups now and then, so a
            # shorter idle window would understate the floor the sweep's figure is compared with.
            idle_s = 3 if QUICK else 15
            idle = json.loads(subprocess.run([*ping_argv, "--seconds", str(idle_s)], capture_output=True,
                                             text=True, check=True, preexec_fn=_raise_priority).stdout)
            probe = subprocess.Popen([*ping_argv, "--seconds", "600"], stdout=subprocess.PIPE, text=True,
                                     preexec_fn=_raise_priority)
            await asyncio.sleep(0.5)
            async with redis_slowlog(redis, threshold_us=1000) as slowest:
                # Past both timeouts: every one of them is due and expired from the sweep's point of view.
                ended, secs = await redis_bulk.sweep_all(store, time.time() + s.absolute_timeout_s + 60, batch)
                # Stopped before the SLOWLOG is read: a reply of 10,000 entries holds Redis for ~25 ms,
                # which the probe would otherwise pin on the sweep.
                probe.send_signal(signal.SIGTERM)
                ping = json.loads(probe.communicate(timeout=30)[0])
            rate = ended / secs
            per_call_ms = secs / max(1, -(-ended // batch)) * 1000
            note(f"{ended:,} ended in {secs:.1f}s = {rate:,.0f}/s ({per_call_ms:.1f} ms per call); PING max "
                 f"{ping['max_ms']:.2f} ms, p99 {ping['p99_ms']:.2f} ms (idle max {idle['max_ms']:.2f} ms)")
            report.row(f"Expiry sweep throughput over {made:,} expired sessions", rate, None, "sessions/s",
                       target=50_000, absolute=True,
                       note=f"batch of {batch} per Lua call, {per_call_ms:.1f} ms per call including the round trip")
            report.row("Worst Redis latency seen by a concurrent client during the sweep (baseline: no sweep)",
                       ping["max_ms"], idle["max_ms"], "ms", target=10.0, higher_is_better=False, absolute=True,
                       note=f"PING loop, p99 {ping['p99_ms']:.2f} ms over {ping['n']:,} PINGs; without a sweep "
                            f"(the same loop for {idle_s} s) max {idle['max_ms']:.2f} ms, p99 "
                            f"{idle['p99_ms']:.2f} ms. The probe ran at {PROBE_PRIORITY_NOTE}")
            report.row("Longest Redis command during the sweep (Redis SLOWLOG: the server's own stall)",
                       slowest["max_ms"], None, "ms", target=10.0, higher_is_better=False, absolute=True,
                       note=f"{slowest['n']:,} commands over 1 ms, the longest a {slowest['command']}; one sweep "
                            f"call of {batch} holds Redis for about {per_call_ms:.1f} ms, so the batch size "
                            f"bounds the stall")
        what_if = min(small, 100_000)
        alt = 2 * batch  # the batch size is a trade: show what the other side of it costs
        with Step(f"what-if: the sweep over {what_if:,} sessions with a batch of {alt}"):
            await redis_bulk.delete_prefix(redis, f"{prefix}*")
            await redis_bulk.create_sessions(store, what_if, per_user=per_user, idle_s=s.idle_timeout_s,
                                             abs_s=s.absolute_timeout_s)
            probe = subprocess.Popen([*ping_argv, "--seconds", "600"], stdout=subprocess.PIPE, text=True,
                                     preexec_fn=_raise_priority)
            await asyncio.sleep(0.5)
            ended, secs = await redis_bulk.sweep_all(store, time.time() + s.absolute_timeout_s + 60, alt)
            probe.send_signal(signal.SIGTERM)
            ping = json.loads(probe.communicate(timeout=30)[0])
            note(f"{ended / secs:,.0f} sessions/s, PING max {ping['max_ms']:.2f} ms")
            report.info.append(f"What-if, sweep batch of {alt} instead of {batch} ({what_if:,} sessions): "
                               f"{ended / secs:,.0f} sessions/s with a worst PING of {ping['max_ms']:.2f} ms "
                               f"(p99 {ping['p99_ms']:.2f} ms).")
    finally:
        await redis_bulk.delete_prefix(redis, f"{prefix}*")
        await redis.aclose()


def fig_audit(results: dict) -> None:
    import importlib.util

    spec = None
    for name in ("workers.audit", "workers.tasks.audit", "workers.audit_writer"):
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None
        if spec:
            break
    if spec is None:
        report.skip("Audit pipeline events/s into Postgres and lag p99",
                    "not available yet: no audit worker in workers/")
        return
    try:
        import audit_bench  # noqa: F401 (bench/audit_bench.py, written once the worker exists)
    except ImportError:
        report.skip("Audit pipeline events/s into Postgres and lag p99",
                    f"not available yet: {spec.name} exists but the harness has no driver for it yet")
        return
    with Step(f"audit pipeline: {CFG['audit_events']:,} events through the worker into Postgres"):
        out = audit_bench.run(CFG["audit_events"], prefix=PREFIX, redis_url=REDIS_URL, db_url=DB_URL)
        report.row("Audit pipeline throughput into Postgres", out["events_per_s"], None, "events/s",
                   target=2000, absolute=True)
        report.row("Audit lag p99", out["lag_p99_s"], None, "s", target=2.0, higher_is_better=False, absolute=True)


# ---------------------------------------------------------------- main

async def _drop_bench_database() -> None:
    """A fresh bench database every run: the code under test may be at other migration heads."""
    import asyncpg
    from sqlalchemy.engine import make_url

    target = make_url(DB_URL)
    if not target.database.startswith("auth_bench"):
        raise RuntimeError(f"refusing to drop {target.database}: not a bench database")
    dsn = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    finally:
        await conn.close()


def migrate() -> None:
    with Step(f"migrating a fresh bench database ({DB_URL.rsplit('/', 1)[-1]})"):
        asyncio.run(_drop_bench_database())
        out = subprocess.run([PY, "-m", "app", "migrate"], cwd=APP_ROOT, capture_output=True, text=True,
                             env={**os.environ, **service_env(0)}, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip()[-800:])


async def _cleanup() -> int:
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    try:
        # Ours and what an interrupted earlier run left behind; nobody else uses "authbench-".
        return await redis_bulk.delete_prefix(redis, "authbench-*")
    finally:
        await redis.aclose()


def main() -> int:
    os.environ.update(service_env(0))
    mode = "quick" if QUICK else "full"
    print(f"authsvc benchmark ({mode} mode): {json.dumps(CFG)}", flush=True)
    with Step("removing leftovers of earlier runs (authbench-* keys)"):
        asyncio.run(_cleanup())
    migrate()
    results: dict = {}
    # BENCH_ONLY=logins,memory runs a subset while tuning; it prints the figures and leaves the report alone.
    only = {f for f in os.environ.get("BENCH_ONLY", "").split(",") if f}

    def run(name: str, figure) -> None:
        if not only or name in only:
            figure(results)

    try:
        fig_sessions(results)  # starts the servers the next figures use
        run("tokens", fig_tokens)
        run("logins", fig_logins)
        run("jwt", fig_jwt_baseline)
        run("authz", fig_authz)
    finally:
        for key in ("service", "bare_proc", "ahs_proc"):
            if key in results:
                results[key][0].stop()
    run("revocation", fig_revocation)
    run("memory", fig_memory_and_sweep)
    run("audit", fig_audit)
    with Step("cleaning up bench keys"):
        asyncio.run(_cleanup())
    if only:
        for row in report.rows:
            print(row)
        return 0
    with Step("writing bench/REPORT.md and bench/chart.png"):
        report.write(HERE, mode=mode, cfg=CFG, elapsed_s=time.monotonic() - T0,
                     code=os.environ.get("BENCH_CODE", "the work tree"))
    print(f"[{time.monotonic() - T0:6.1f}s] done: bench/REPORT.md, bench/chart.png", flush=True)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
