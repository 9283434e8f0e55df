"""Benchmark: complete logins through the card app, next to node-oidc-provider's scripted login.

    .venv/bin/python -m bench.login [--duration 20] [--users 16] [--no-peer]

Prepares the bench database as bench/run.py does, enrols one card app per professional for
``--professionals`` professionals (bench/login_setup.py), starts Caducée (granian, as
deploy/caducee.service) and the reference provider (bench/peer/op.mjs), then drives complete
logins from separate load processes, each virtual user playing both the browser and the phone:

Caducée: authorize → login page → POST card (idNat; JSON answer with the number) → the phone
lists its challenges and approves with the number and PIN (requests signed by the device key) →
status → complete (the SSO session and the code, answered to the client at once) → token →
UserInfo.

Peer: authorize → login interaction page → login → consent interaction page → consent → code →
token → UserInfo (node-oidc-provider's development interactions: no credential is checked, so
the peer's figure is an upper bound for a login with a real method).

A login counts when UserInfo answers with the professional's ``sub``; anything else is an error.
Each virtual user works through its own slice of professionals, each login from its own client
address (X-Forwarded-For through the trusted proxy): the card app's per-idNat and per-address
rate limits (anti push-bombing) are meant for people, not for a load generator on one address.
Printed: logins/s, latency percentiles of a whole login, the server's CPU per login (from
/proc, PostgreSQL and Redis separately for Caducée) and the same-run ratios.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bench import http1
from bench import run as common

TARGET_LOGINS = 100.0
P99_LIMIT_MS = 300.0
REDIRECT_URI = "http://127.0.0.1:8080/cb"
PEER_SUB = "899700000001"
_LOGIN_PATH = re.compile(r'action="(/login/[^"/]+)/card"')
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


# --- HTTP, kept minimal so the load process costs little CPU ------------------------------------


class Browser:
    """One keep-alive connection and a cookie jar (paths ignored: names do not collide here)."""

    def __init__(self, port: int, extra: dict[str, str] | None = None) -> None:
        self.port = port
        self.extra = extra or {}
        self.cookies: dict[str, str] = {}
        self.conn = http1.Connection("127.0.0.1", port, timeout=10)

    def request(
        self,
        method: str,
        path: str,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        cookies: bool = True,
    ) -> tuple[int, dict[str, str], bytes]:
        sent = self.outgoing(headers, cookies=cookies)
        if isinstance(body, str):
            body = body.encode()
        try:
            response = self.conn.request(method, path, body, sent)
        except ConnectionError:
            # A kept-alive connection the server closed meanwhile: once more on a new one.
            response = self.conn.request(method, path, body, sent)
        if cookies:
            self.remember(response.all("set-cookie"))
        return response.status, dict(response.headers), response.body

    def fresh(self, extra: dict[str, str]) -> None:
        """A new browser on the same connection: no cookies, these headers."""
        self.extra = extra
        self.cookies = {}

    def outgoing(self, headers: dict[str, str] | None, *, cookies: bool) -> dict[str, str]:
        """The headers a request carries: the browser's own, the call's, and its cookies."""
        sent = {**self.extra, **(headers or {})}
        if cookies and self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return sent

    def remember(self, set_cookies: list[str]) -> None:
        """Keep the cookies of ``Set-Cookie`` headers."""
        for raw in set_cookies:
            jar = SimpleCookie()
            jar.load(raw)
            self.cookies.update({name: morsel.value for name, morsel in jar.items()})


def _path(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class LoginFailed(Exception):
    pass


def _expect(status: int, wanted: int | tuple[int, ...], step: str, body: bytes = b"") -> None:
    wanted = wanted if isinstance(wanted, tuple) else (wanted,)
    if status not in wanted:
        raise LoginFailed(f"{step}: HTTP {status} {body[:160]!r}")


# --- the phone -----------------------------------------------------------------------------------


class Phone:
    """The phone of one virtual user: its device key, signing through the reference app's
    ``card_app.signing`` (docs/design/card-app.md § Signed app requests)."""

    def __init__(self, user: dict[str, Any], base_url: str) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
        from joserfc.jwk import ECKey

        self.user = user
        self.base_url = base_url
        self.key = ECKey.import_key(load_pem_private_key(user["key_pem"].encode(), None))

    def authorization(self, method: str, path: str, body: bytes) -> str:
        from card_app import signing

        return signing.authorization_header(
            self.key, method, self.base_url + path, body, kid=self.user["kid"]
        )


# --- one login per server ------------------------------------------------------------------------


def caducee_login(browser: Browser, app: Browser, phone: Phone, setup: dict[str, Any]) -> None:
    prefix = common.PREFIX + "/protocol/openid-connect"
    verifier, challenge = _pkce()
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    query = urlencode(
        {
            "client_id": common.CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": "openid scope_all",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "acr_values": "eidas1",
        }
    )
    status, headers, body = browser.request("GET", f"{prefix}/auth?{query}")
    _expect(status, (200, 302), "authorize", body)
    # The authorization endpoint shows the login page itself; code before it redirected to
    # /login/<txn> (bench.compare drives older commits with this load generator).
    if status == 302:
        login_path = _path(headers["location"])
        status, headers, body = browser.request("GET", login_path)
        _expect(status, 200, "login page", body)
    else:
        found = _LOGIN_PATH.search(body.decode())
        if not found:
            raise LoginFailed("login page: no card form")
        login_path = found.group(1)
    found = _CSRF.search(body.decode())
    if not found:
        raise LoginFailed("login page: no CSRF token")
    csrf = found.group(1)
    form = {"Content-Type": "application/x-www-form-urlencoded", "Referer": setup["base_url"]
            + login_path, "Origin": setup["base_url"]}  # fmt: skip
    status, headers, body = browser.request(
        "POST",
        f"{login_path}/card",
        urlencode({"id_nat": phone.user["id_nat"], "csrfmiddlewaretoken": csrf}),
        {**form, "Accept": "application/json"},
    )
    _expect(status, 200, "start card login", body)
    started = json.loads(body)

    # The phone: what waits for the holder, then the approval with the number read on screen.
    path = "/api/card/v1/challenges"
    status, _h, body = app.request(
        "GET", path, None, {"Authorization": phone.authorization("GET", path, b"")}, cookies=False
    )
    _expect(status, 200, "app challenges", body)
    waiting = [c for c in json.loads(body)["challenges"] if c["id"] == started["challenge"]]
    if not waiting or started["number"] not in waiting[0]["choices"]:
        raise LoginFailed("app: the challenge or its number is missing")
    path = f"/api/card/v1/challenges/{started['challenge']}/approve"
    payload = json.dumps({"number": started["number"], "pin": phone.user["pin"]}).encode()
    status, _h, body = app.request(
        "POST",
        path,
        payload,
        {
            "Authorization": phone.authorization("POST", path, payload),
            "Content-Type": "application/json",
        },
        cookies=False,
    )
    _expect(status, 200, "app approve", body)

    # The page's poll: it completes the login once the phone approved and says where to go.
    # Code before that (bench.compare drives older commits) answered 405: the page then read
    # the status with GET and posted its form.
    location = ""
    if setup.get("poll_completes", True):
        status, _h, body = browser.request(
            "POST",
            _path(started["status_url"]),
            b"",
            {**form, "Accept": "application/json", "X-CSRFToken": csrf},
        )
        if status == 405:
            setup["poll_completes"] = False
        else:
            _expect(status, 200, "poll", body)
            location = json.loads(body).get("location") or ""
            if not location:
                raise LoginFailed(f"poll: {body[:80]!r}")
    if not location:
        status, _h, body = browser.request("GET", _path(started["status_url"]))
        _expect(status, 200, "status", body)
        if json.loads(body).get("status") != "approved":
            raise LoginFailed(f"status: {body[:80]!r}")
        status, headers, body = browser.request(
            "POST", _path(started["complete_url"]), urlencode({"csrfmiddlewaretoken": csrf}), form
        )
        _expect(status, 302, "complete", body)  # the client is answered at once: the code
        location = headers["location"]
    code = parse_qs(urlsplit(location).query).get("code", [""])[0]
    if not code:
        raise LoginFailed(f"complete: no code in {location[:120]}")
    _token_and_userinfo(
        browser,
        f"{prefix}/token",
        f"{prefix}/userinfo",
        setup["basic"],
        code,
        verifier,
        expect_sub=None,
    )


def peer_login(browser: Browser, setup: dict[str, Any]) -> None:
    verifier, challenge = _pkce()
    query = urlencode(
        {
            "client_id": common.PEER_CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": "openid profile",
            "state": secrets.token_urlsafe(12),
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    status, headers, body = browser.request("GET", f"/auth?{query}")
    _expect(status, (302, 303), "authorize", body)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    location = headers["location"]
    for prompt, fields in (("login", {"login": PEER_SUB, "password": "x"}), ("consent", {})):
        interaction = _path(location)
        status, headers, body = browser.request("GET", interaction)
        _expect(status, 200, f"{prompt} page", body)
        status, headers, body = browser.request(
            "POST", interaction, urlencode({"prompt": prompt, **fields}), form
        )
        _expect(status, (302, 303), prompt, body)
        status, headers, body = browser.request("GET", _path(headers["location"]))
        _expect(status, (302, 303), f"resume after {prompt}", body)
        location = headers["location"]
    code = parse_qs(urlsplit(location).query).get("code", [""])[0]
    if not code:
        raise LoginFailed(f"no code in {location[:120]}")
    _token_and_userinfo(browser, "/token", "/me", setup["basic"], code, verifier, PEER_SUB)


def _token_and_userinfo(
    browser: Browser,
    token_path: str,
    userinfo_path: str,
    basic: str,
    code: str,
    verifier: str,
    expect_sub: str | None,
) -> None:
    status, _h, body = browser.request(
        "POST",
        token_path,
        urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            }
        ),
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        cookies=False,
    )
    _expect(status, 200, "token", body)
    access = json.loads(body)["access_token"]
    status, _h, body = browser.request(
        "GET", userinfo_path, None, {"Authorization": f"Bearer {access}"}, cookies=False
    )
    _expect(status, 200, "userinfo", body)
    sub = json.loads(body).get("sub")
    if not sub or (expect_sub and sub != expect_sub):
        raise LoginFailed(f"userinfo: unexpected {body[:80]!r}")


# --- load ----------------------------------------------------------------------------------------


@dataclass
class Tally:
    logins: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    cpu_s: float = 0.0  # the load process's own CPU time (user + system)


def _user_loop(
    kind: str,
    setup: dict[str, Any],
    index: int,
    deadline: float,
    tally: Tally,
    lock: threading.Lock,
) -> None:
    counter = 0
    users = setup.get("users") or []
    mine = users[index :: setup["n_users"]] if kind == "caducee" else []
    port = setup["ports"][index % len(setup["ports"])]
    # The connections stay open from login to login, as the upstream keep-alive pool of the
    # reverse proxy in front of the server keeps them (deploy/nginx.conf: keepalive 64): a
    # server behind it seldom sees a new connection. Each login is still a fresh browser.
    browser, app = Browser(port), Browser(port)
    phones: dict[str, Phone] = {}
    while time.monotonic() < deadline:
        counter += 1
        # A fresh browser per login (cookies), from its own address (rate limits are per address).
        address = f"10.{index % 250}.{(counter // 250) % 250}.{counter % 250 + 1}"
        browser.fresh({"X-Forwarded-For": address, **setup["headers"]})
        app.fresh({"X-Forwarded-For": address, **setup["headers"]})
        started = time.perf_counter()
        try:
            if kind == "caducee":
                user = mine[counter % len(mine)]
                phone = phones.get(user["id_nat"])
                if phone is None:  # the phone's key is loaded once, as the app keeps it
                    phone = phones[user["id_nat"]] = Phone(user, setup["base_url"])
                caducee_login(browser, app, phone, setup)
            else:
                peer_login(browser, setup)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                tally.logins += 1
                tally.latencies_ms.append(elapsed)
        except Exception as exc:  # a failed login is a counted error, the load goes on
            with lock:
                tally.errors += 1
                if len(tally.error_samples) < 5:
                    tally.error_samples.append(f"{type(exc).__name__}: {exc}"[:300])
    browser.conn.close()
    app.conn.close()


def _process(
    kind: str, setup: dict[str, Any], indexes: list[int], seconds: float, out: Any
) -> None:
    tally, lock = Tally(), threading.Lock()
    cpu_started = time.process_time()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_user_loop, args=(kind, setup, i, deadline, tally, lock))
        for i in indexes
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tally.cpu_s = time.process_time() - cpu_started
    out.put(asdict(tally))


@dataclass
class Result:
    logins: int = 0
    seconds: float = 0.0
    logins_per_s: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    cpu_ms_per_login: float = 0.0
    store_cpu_ms_per_login: float = 0.0
    load_cpu_ms_per_login: float = 0.0  # the load processes (browsers and phones)


def load(kind: str, setup: dict[str, Any], *, users: int, processes: int, seconds: float) -> Result:
    """Run ``users`` virtual users spread over ``processes`` load processes for ``seconds``."""
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    groups = [list(range(p, users, processes)) for p in range(processes)]
    procs = [
        context.Process(target=_process, args=(kind, setup, g, seconds, out)) for g in groups if g
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    tallies = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    latencies = sorted(x for t in tallies for x in t["latencies_ms"])
    result = Result(
        logins=len(latencies),
        seconds=elapsed,
        errors=sum(t["errors"] for t in tallies),
        error_samples=[s for t in tallies for s in t["error_samples"]][:5],
    )
    result.load_cpu_ms_per_login = sum(t["cpu_s"] for t in tallies) * 1000 / max(len(latencies), 1)
    result.logins_per_s = result.logins / seconds
    if latencies:

        def pct(q: float) -> float:
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

        result.p50_ms, result.p90_ms, result.p99_ms = pct(0.50), pct(0.90), pct(0.99)
    return result


def measure(
    server: common.Server, kind: str, setup: dict[str, Any], args: argparse.Namespace
) -> Result:
    if args.warmup > 0:
        load(kind, setup, users=args.users, processes=args.processes, seconds=args.warmup)
    time.sleep(0.5)
    before = common.cpu_snapshot(server.proc.pid)
    result = load(kind, setup, users=args.users, processes=args.processes, seconds=args.duration)
    after = common.cpu_snapshot(server.proc.pid)
    if not server.alive():
        raise SystemExit(f"{server.name} died; see {server.log}")
    n = max(result.logins, 1)
    result.cpu_ms_per_login = common.cpu_seconds(before["server"], after["server"]) * 1000 / n
    if kind == "caducee":
        result.store_cpu_ms_per_login = (
            common.cpu_seconds(before["store"], after["store"]) * 1000 / n
        )
    return result


def table(caducee: Result, peer: Result | None) -> str:
    head = (
        f"{'scenario':<14} target | {'Caducée/s':>9} {'p50':>6} {'p99':>6} {'CPU ms':>7} "
        f"{'+DB ms':>7} {'err':>4} | {'peer/s':>7} {'p50':>6} {'p99':>6} {'CPU ms':>7} {'err':>4} "
        f"| {'ratio/s':>7} {'ratio CPU':>9} | verdict"
    )
    ok = (
        caducee.logins_per_s >= TARGET_LOGINS
        and caducee.p99_ms < P99_LIMIT_MS
        and caducee.errors == 0
    )
    line = (
        f"{'card login':<14} {TARGET_LOGINS:>6.0f} | {caducee.logins_per_s:>9.1f} "
        f"{caducee.p50_ms:>6.0f} {caducee.p99_ms:>6.0f} {caducee.cpu_ms_per_login:>7.1f} "
        f"{caducee.store_cpu_ms_per_login:>7.1f} {caducee.errors:>4} | "
    )
    if peer is not None:
        ratio = caducee.logins_per_s / peer.logins_per_s if peer.logins_per_s else 0.0
        cpu_ratio = (
            (caducee.cpu_ms_per_login + caducee.store_cpu_ms_per_login) / peer.cpu_ms_per_login
            if peer.cpu_ms_per_login
            else 0.0
        )
        line += (
            f"{peer.logins_per_s:>7.1f} {peer.p50_ms:>6.0f} {peer.p99_ms:>6.0f} "
            f"{peer.cpu_ms_per_login:>7.1f} {peer.errors:>4} | {ratio:>7.2f} {cpu_ratio:>9.2f} | "
        )
    else:
        line += f"{'':>36} | {'-':>17} | "
    line += "PASS" if ok else "FAIL"
    notes = (
        "p50/p99 of a whole login in ms; CPU ms = server CPU per login (/proc); +DB = PostgreSQL"
        "+Redis CPU per login;\nratio CPU = (Caducée + DB) / peer; verdict: >= 100 logins/s, "
        "p99 < 300 ms, no errors."
    )
    return "\n".join([head, "-" * len(head), line, notes])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=20, help="Seconds measured (20).")
    parser.add_argument("--warmup", type=float, default=3, help="Seconds of warm-up (3).")
    parser.add_argument("--users", type=int, default=16, help="Concurrent virtual users (16).")
    parser.add_argument("--processes", type=int, default=2, help="Load processes (2).")
    parser.add_argument(
        "--professionals", type=int, default=800, help="Professionals with a card app (800)."
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--blocking-threads", type=int, default=2)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="A setting for Caducée (repeatable), to compare one with its default in turn.",
    )
    args = parser.parse_args(argv)
    for tool in ("node", "createdb", "redis-cli"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found (see docs/benchmarks.md)")

    work = Path(tempfile.mkdtemp(prefix="caducee-bench-login-"))
    servers: list[common.Server] = []
    try:
        key_dir, var_dir = work / "keys", work / "var"
        key_dir.mkdir()
        var_dir.mkdir()
        env = common.caducee_env(key_dir, var_dir)
        env.update(item.split("=", 1) for item in args.env)
        print(f"preparing Caducée and {args.professionals} card apps in {work} ...", flush=True)
        tokens = common.prepare_caducee(env, work, 0)
        users_file = work / "users.json"
        common.run(
            [
                common.PYTHON, "-m", "bench.login_setup", str(users_file),
                "--count", str(args.professionals),
            ],
            env,
        )  # fmt: skip
        users = json.loads(users_file.read_text())["users"]
        caducee = common.Server(
            "caducee",
            [
                common.GRANIAN, "--interface", "wsgi", "--host", "127.0.0.1",
                "--port", str(common.CADUCEE_PORT), "--workers", str(args.workers),
                "--blocking-threads", str(args.blocking_threads), "--respawn-failed-workers",
                "idp.wsgi:application",
            ],
            env, common.ROOT, work / "caducee.log",
        )  # fmt: skip
        servers.append(caducee)
        common.wait_http(
            f"http://127.0.0.1:{common.CADUCEE_PORT}{common.PREFIX}/.well-known/openid-configuration",
            {"X-Forwarded-Proto": "https"},
            caducee,
        )
        c_setup = {
            "ports": [common.CADUCEE_PORT],
            "headers": {"X-Forwarded-Proto": "https", "Host": "127.0.0.1"},
            "base_url": env["IDP_BASE_URL"],
            "basic": base64.b64encode(
                f"{common.CLIENT_ID}:{tokens['client_secret']}".encode()
            ).decode(),
            "users": users,
            "n_users": args.users,
        }
        peer_result = None
        peer = None
        if not args.no_peer:
            peer_env = {
                **os.environ,
                "BASE_PORT": str(common.PEER_PORT),
                "WORKERS": str(args.workers),
                "NODE_ENV": "production",
            }
            peer = common.Server(
                "peer", ["node", "op.mjs"], peer_env, common.BENCH / "peer", work / "peer.log"
            )
            servers.append(peer)
            for i in range(args.workers):
                common.wait_http(
                    f"http://127.0.0.1:{common.PEER_PORT + i}/.well-known/openid-configuration",
                    {},
                    peer,
                )
        print(
            f"{args.users} virtual users in {args.processes} load processes, "
            f"{args.duration:g}s (warm-up {args.warmup:g}s), {args.workers} workers each",
            flush=True,
        )
        result = measure(caducee, "caducee", c_setup, args)
        print(
            f"  Caducée {result.logins_per_s:.1f} logins/s p99 {result.p99_ms:.0f} ms "
            f"load processes {result.load_cpu_ms_per_login:.1f} ms CPU per login "
            f"errors {result.errors} {result.error_samples[:2]}",
            flush=True,
        )
        if peer is not None:
            p_setup = {
                "ports": [common.PEER_PORT + i for i in range(args.workers)],
                "headers": {},
                "basic": base64.b64encode(
                    f"{common.PEER_CLIENT_ID}:{common.PEER_SECRET}".encode()
                ).decode(),
                "n_users": args.users,
            }
            peer_result = measure(peer, "peer", p_setup, args)
            print(
                f"  peer    {peer_result.logins_per_s:.1f} logins/s p99 "
                f"{peer_result.p99_ms:.0f} ms load processes "
                f"{peer_result.load_cpu_ms_per_login:.1f} ms CPU per login "
                f"errors {peer_result.errors} {peer_result.error_samples[:2]}",
                flush=True,
            )
        print()
        print(table(result, peer_result))
        out_dir = common.BENCH / "results"
        out_dir.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        payload = {
            "timestamp": stamp,
            "benchmark": "card login",
            "settings": vars(args),
            "machine": {"cores": os.cpu_count(), "load_avg_at_end": os.getloadavg()},
            "caducee": asdict(result),
            "peer": asdict(peer_result) if peer_result else None,
        }
        path = out_dir / f"login-{stamp}.json"
        path.write_text(json.dumps(payload, indent=2))
        print(f"\nresults: {path}")
        return 0
    finally:
        for server in reversed(servers):
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
