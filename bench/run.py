"""Benchmark Caducée against the reference provider (node-oidc-provider), in one run.

    .venv/bin/python -m bench.run [--duration 15] [--connections 32] [--scenarios a,b,...]

Prepares a PostgreSQL database (``caducee_bench``, recreated), a production-like environment
(DEBUG off, keys from ``manage.py rotate_keys``, Redis cache, persistent database connections),
a client (``manage.py create_client``), a professional (``manage.py seed_demo --force``) and setup
tokens (:mod:`bench.mint`); starts granian as deploy/caducee.service does and the peer
(bench/peer/op.mjs, one worker per core); then for each scenario warms up and loads Caducée and
the peer in turn with wrk (keep-alive, loopback), reading each server's CPU time from /proc.
Prints one table and writes bench/results/<timestamp>.json (and latest.json).
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GRANIAN = str(ROOT / ".venv" / "bin" / "granian")
LUA = str(BENCH / "scenario.lua")
CLK_TCK = os.sysconf("SC_CLK_TCK")

DB_NAME = "caducee_bench"
CADUCEE_PORT = 8100
PEER_PORT = 3100
CLIENT_ID = "bench-rp"
PEER_CLIENT_ID = "bench-rp"
PEER_SECRET = "bench-secret-0123456789abcdefghijklmnop"  # noqa: S105 (bench-only, loopback)
REALM = "esante-wallet"
PREFIX = f"/auth/realms/{REALM}"
P99_LIMIT_MS = 50.0

#: Targets from the issue (requests per second, Caducée).
TARGETS = {
    "discovery": 4000,
    "jwks": 4000,
    "client_credentials": 1500,
    "introspection": 2000,
    "userinfo": 1500,
    "refresh_token": 700,
}
ALL_SCENARIOS = list(TARGETS)


@dataclass
class Load:
    """One wrk measurement (summed over the wrk processes of a split load)."""

    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    errors: int = 0  # socket errors + non-2xx/3xx + bodies failing the check + starved chains
    detail: dict[str, int] = field(default_factory=dict)
    cpu_ms_per_req: float = 0.0  # the server's own processes
    store_cpu_ms_per_req: float = 0.0  # PostgreSQL and Redis (Caducée only; the peer is in memory)


# --- processes and /proc ------------------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, comm, utime+stime ticks) for every live process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[0] is state (field 3); utime is field 14, stime field 15.
        table[int(entry)] = (int(fields[1]), comm, int(fields[11]) + int(fields[12]))
    return table


def _tree(table: dict[int, tuple[int, str, int]], root: int) -> set[int]:
    pids, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, _) in table.items():
            if ppid == parent and pid not in pids:
                pids.add(pid)
                frontier.append(pid)
    return pids & set(table)


def cpu_snapshot(root: int) -> dict[str, dict[int, int]]:
    """CPU ticks of the server's process tree, and of PostgreSQL and Redis processes."""
    table = _proc_table()
    server = {pid: table[pid][2] for pid in _tree(table, root)}
    store = {
        pid: ticks
        for pid, (_, comm, ticks) in table.items()
        if comm.startswith(("postgres", "redis-server"))
    }
    return {"server": server, "store": store}


def cpu_seconds(before: dict[int, int], after: dict[int, int]) -> float:
    # A process that appeared during the window counts from zero; one that vanished is lost
    # (none do: workers and database connections are persistent, checked by the pid counts).
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items()) / CLK_TCK


class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log: Path):
        self.name, self.log = name, log
        self._fh = open(log, "w")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(  # noqa: S603 (fixed argv, bench only)
            argv,
            env=env,
            cwd=cwd,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        # Workers left behind in the group (none expected) go too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._fh.close()


def wait_http(url: str, headers: dict[str, str], server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise SystemExit(f"{server.name} exited; see {server.log}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2):  # noqa: S310 (http://127.0.0.1 only)
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise SystemExit(f"{server.name} did not answer {url} within {timeout}s; see {server.log}")


# --- Caducée setup --------------------------------------------------------------------------------


def caducee_env(key_dir: Path, var_dir: Path) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "DJANGO_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "idp.settings",
            "IDP_DEBUG": "0",
            "IDP_BASE_URL": "https://127.0.0.1",
            "IDP_ALLOWED_HOSTS": "127.0.0.1",
            "IDP_SSL_REDIRECT": "0",  # TLS ends at the proxy; the bench sends X-Forwarded-Proto
            "IDP_SECRET_KEY": base64.urlsafe_b64encode(os.urandom(48)).decode(),
            "IDP_TOKEN_HMAC_KEY": base64.urlsafe_b64encode(os.urandom(48)).decode(),
            "IDP_FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "IDP_KEY_DIR": str(key_dir),
            "IDP_VAR_DIR": str(var_dir),
            "IDP_AUTOGENERATE_KEYS": "0",
            "IDP_TEST_LOGIN": "0",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
            "IDP_DB_CONN_MAX_AGE": "600",
            "REDIS_URL": "redis://127.0.0.1:6379/7",
            "IDP_CACHE_PREFIX": "caducee-bench",
        }
    )
    return env


def run(argv: list[str], env: dict[str, str], **kw: Any) -> str:
    result = subprocess.run(  # noqa: S603 (fixed argv, bench only)
        argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False, **kw
    )
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def prepare_caducee(env: dict[str, str], work: Path, n_refresh: int) -> dict[str, Any]:
    pg = {**env, "PGHOST": "127.0.0.1", "PGUSER": "postgres"}
    run(["dropdb", "--if-exists", "--force", DB_NAME], pg)
    run(["createdb", DB_NAME], pg)
    run(["redis-cli", "-h", "127.0.0.1", "-n", "7", "FLUSHDB"], env)
    run([PYTHON, "manage.py", "migrate", "--no-input"], env)
    run([PYTHON, "manage.py", "rotate_keys"], env)
    client = json.loads(
        run(
            [
                PYTHON, "manage.py", "create_client", "--json", "--name", "Bench RP",
                "--client-id", CLIENT_ID, "--redirect-uri", "http://127.0.0.1:8080/cb",
                "--grant-type", "authorization_code", "--grant-type", "refresh_token",
                "--grant-type", "client_credentials", "--scope", "openid", "--scope", "scope_all",
                "--id-token-alg", "ES256", "--access-token-alg", "ES256",
                # UserInfo/introspection present one access token for the whole run.
                "--access-token-lifetime", "3600", "--refresh-token-lifetime", "3600",
            ],
            env,
        ).strip().splitlines()[-1]
    )  # fmt: skip
    run([PYTHON, "manage.py", "seed_demo", "--force"], env)
    out = work / "caducee-tokens.json"
    run(
        [
            PYTHON,
            "-m",
            "bench.mint",
            str(out),
            "--client-id",
            CLIENT_ID,
            "--refresh",
            str(n_refresh),
        ],
        env,
    )
    tokens = json.loads(out.read_text())
    tokens["client_secret"] = client["client_secret"]
    return tokens


# --- scenarios ------------------------------------------------------------------------------------


@dataclass
class Target:
    """How to load one server: ports (one wrk per port) and the requests of each scenario."""

    name: str
    ports: list[int]
    paths: dict[str, str]
    basic: str
    access_tokens: list[str]  # per port
    refresh_tokens: list[list[str]]  # per port
    extra_headers: str = ""
    cc_scope: str = ""
    refresh_used: list[int] = field(default_factory=list)

    def wrk_env(self, scenario: str, port_index: int, chain_file: Path | None) -> dict[str, str]:
        auth = f"Authorization: Basic {self.basic}\n"
        spec: dict[str, str] = {"BENCH_HEADERS": self.extra_headers}
        path = self.paths[scenario]
        if scenario in ("discovery", "jwks"):
            spec.update(
                BENCH_METHOD="GET", BENCH_EXPECT='"' + ("keys" if scenario == "jwks" else "issuer")
            )
        elif scenario == "client_credentials":
            body = "grant_type=client_credentials" + (
                f"&scope={self.cc_scope}" if self.cc_scope else ""
            )
            spec.update(BENCH_METHOD="POST", BENCH_BODY=body, BENCH_EXPECT='"access_token"')
            spec["BENCH_HEADERS"] += auth
        elif scenario == "introspection":
            body = f"token={self.access_tokens[port_index]}&token_type_hint=access_token"
            spec.update(BENCH_METHOD="POST", BENCH_BODY=body, BENCH_EXPECT='"active":%s*true')
            spec["BENCH_HEADERS"] += auth
        elif scenario == "userinfo":
            spec.update(BENCH_METHOD="GET", BENCH_EXPECT='"sub"')
            spec["BENCH_HEADERS"] += f"Authorization: Bearer {self.access_tokens[port_index]}\n"
        elif scenario == "refresh_token":
            spec.update(
                BENCH_METHOD="POST",
                BENCH_BODY="grant_type=refresh_token&refresh_token=",
                BENCH_EXPECT='"id_token"',
                BENCH_CHAIN_FILE=str(chain_file),
            )
            spec["BENCH_HEADERS"] += auth
        spec["BENCH_PATH"] = path
        return spec


def caducee_target(tokens: dict[str, Any]) -> Target:
    proto = PREFIX + "/protocol/openid-connect"
    return Target(
        name="caducee",
        ports=[CADUCEE_PORT],
        paths={
            "discovery": PREFIX + "/.well-known/openid-configuration",
            "jwks": proto + "/certs",
            "client_credentials": proto + "/token",
            "refresh_token": proto + "/token",
            "introspection": proto + "/token/introspect",
            "userinfo": proto + "/userinfo",
        },
        basic=base64.b64encode(f"{CLIENT_ID}:{tokens['client_secret']}".encode()).decode(),
        access_tokens=[tokens["access_token"]],
        refresh_tokens=[tokens["refresh_tokens"]],
        # What the TLS-terminating proxy (deploy/nginx.conf) adds.
        extra_headers="X-Forwarded-Proto: https\nX-Forwarded-For: 127.0.0.1\n",
        refresh_used=[0],
    )


def peer_target(workers: list[dict[str, Any]]) -> Target:
    return Target(
        name="peer",
        ports=[w["port"] for w in workers],
        paths={
            "discovery": "/.well-known/openid-configuration",
            "jwks": "/jwks",
            "client_credentials": "/token",
            "refresh_token": "/token",
            "introspection": "/token/introspection",
            "userinfo": "/me",
        },
        basic=base64.b64encode(f"{PEER_CLIENT_ID}:{PEER_SECRET}".encode()).decode(),
        access_tokens=[w["access_token"] for w in workers],
        refresh_tokens=[w["refresh_tokens"] for w in workers],
        cc_scope="api:read",
        refresh_used=[0 for _ in workers],
    )


def wrk_load(
    target: Target, scenario: str, *, seconds: float, connections: int, threads: int, work: Path
) -> Load:
    """Run one wrk per port of ``target`` concurrently, connections split evenly."""
    per_port = max(1, connections // len(target.ports))
    procs = []
    for i, port in enumerate(target.ports):
        chain = None
        if scenario == "refresh_token":
            # Seeds for this run: one chain per connection, never a token used before.
            start = target.refresh_used[i]
            seeds = target.refresh_tokens[i][start : start + per_port]
            if len(seeds) < per_port:
                raise SystemExit(f"{target.name}: not enough seed refresh tokens")
            target.refresh_used[i] = start + per_port
            chain = work / f"chain-{target.name}-{i}-{start}.txt"
            chain.write_text("\n".join(seeds) + "\n")
        t = min(threads, per_port)
        env = {**os.environ, **target.wrk_env(scenario, i, chain), "BENCH_THREADS": str(t)}
        argv = [
            "wrk", f"-t{t}", f"-c{per_port}", f"-d{seconds:g}s", "--timeout", "5s", "--latency",
            "-s", LUA, f"http://127.0.0.1:{port}{target.paths[scenario]}",
        ]  # fmt: skip
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True))  # noqa: S603 (fixed argv, bench only)
    outs = [p.communicate(timeout=seconds + 60)[0] for p in procs]
    load = Load()
    p50s = []
    for out in outs:
        line = next((ln for ln in out.splitlines() if ln.startswith("BENCHJSON ")), None)
        if line is None:
            raise SystemExit(f"wrk printed no summary:\n{out}")
        r = json.loads(line[len("BENCHJSON ") :])
        load.requests += r["requests"]
        load.seconds = max(load.seconds, r["duration_us"] / 1e6)
        load.rps += r["requests"] / (r["duration_us"] / 1e6)
        p50s.append(r["p50_us"] / 1000)
        # Split loads: the worst half's percentiles (conservative for the peer).
        load.p90_ms = max(load.p90_ms, r["p90_us"] / 1000)
        load.p99_ms = max(load.p99_ms, r["p99_us"] / 1000)
        load.max_ms = max(load.max_ms, r["max_us"] / 1000)
        for key in (
            "connect_errors",
            "read_errors",
            "write_errors",
            "status_errors",
            "timeouts",
            "bad",
            "starved",
        ):
            load.detail[key] = load.detail.get(key, 0) + r[key]
    load.p50_ms = sum(p50s) / len(p50s)
    # status_errors are already counted in "bad" (any non-200 is bad); don't count twice.
    load.errors = sum(v for k, v in load.detail.items() if k != "status_errors")
    return load


def measure(
    server: Server, target: Target, scenario: str, args: argparse.Namespace, work: Path
) -> Load:
    if args.warmup > 0:
        wrk_load(
            target,
            scenario,
            seconds=args.warmup,
            connections=args.connections,
            threads=args.threads,
            work=work,
        )
    time.sleep(0.5)
    before = cpu_snapshot(server.proc.pid)
    load = wrk_load(
        target,
        scenario,
        seconds=args.duration,
        connections=args.connections,
        threads=args.threads,
        work=work,
    )
    after = cpu_snapshot(server.proc.pid)
    if not server.alive():
        raise SystemExit(f"{server.name} died during {scenario}; see {server.log}")
    vanished = set(before["server"]) - set(after["server"])
    if vanished:
        load.detail["server_processes_vanished"] = len(vanished)
        load.errors += len(vanished)
    n = max(load.requests, 1)
    load.cpu_ms_per_req = cpu_seconds(before["server"], after["server"]) * 1000 / n
    if target.name == "caducee":
        load.store_cpu_ms_per_req = cpu_seconds(before["store"], after["store"]) * 1000 / n
    return load


# --- output ---------------------------------------------------------------------------------------


def verdict(scenario: str, load: Load) -> str:
    ok = load.rps >= TARGETS[scenario] and load.p99_ms < P99_LIMIT_MS and load.errors == 0
    return "PASS" if ok else "FAIL"


def table(results: dict[str, dict[str, Load]], cores: int) -> str:
    head = (
        f"{'scenario':<19}{'target':>7} | {'Caducée/s':>9}{'p50':>7}{'p99':>7}"
        f"{'CPU ms':>8}{'+DB ms':>7}{'max/s':>7}"
        f"{'err':>5} | {'peer/s':>8}{'p50':>7}{'p99':>7}{'CPU ms':>8}{'err':>5} | "
        f"{'ratio/s':>7}{'ratio CPU':>10} | verdict"
    )
    lines = [head, "-" * len(head)]
    for scenario, pair in results.items():
        c, p = pair["caducee"], pair.get("peer")
        row = (
            f"{scenario:<19}{TARGETS[scenario]:>7} | {c.rps:>9.0f}{c.p50_ms:>7.1f}{c.p99_ms:>7.1f}"
            f"{c.cpu_ms_per_req:>8.3f}{c.store_cpu_ms_per_req:>7.3f}"
            f"{cores * 1000 / max(c.cpu_ms_per_req + c.store_cpu_ms_per_req, 1e-9):>7.0f}"
            f"{c.errors:>5} | "
        )
        if p is not None:
            cpu_c = c.cpu_ms_per_req + c.store_cpu_ms_per_req
            row += (
                f"{p.rps:>8.0f}{p.p50_ms:>7.1f}{p.p99_ms:>7.1f}"
                f"{p.cpu_ms_per_req:>8.3f}{p.errors:>5} | "
                f"{c.rps / max(p.rps, 1e-9):>7.2f}{cpu_c / max(p.cpu_ms_per_req, 1e-9):>10.2f} | "
            )
        else:
            row += f"{'-':>35} | {'-':>17} | "
        flag = verdict(scenario, c)
        if c.errors or (p is not None and p.errors):
            flag += "  (ERRORS: see JSON)"
        lines.append(row + flag)
    lines.append(
        "p50/p99 in ms; CPU ms = server CPU time per request (utime+stime of the process tree, "
        "/proc); +DB = PostgreSQL+Redis CPU per request (Caducée only);\n"
        f"max/s = {cores} cores / (CPU + DB) per request: Caducée's ceiling if it had the whole "
        "machine;\nratio CPU = (Caducée + DB) / peer; "
        "verdict = Caducée vs target, p99 < 50 ms and no errors."
    )
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=float, default=15, help="Seconds per measurement (default 15)."
    )
    parser.add_argument(
        "--warmup", type=float, default=3, help="Seconds of warm-up per scenario (default 3)."
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads per wrk process (default 1)."
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="Server workers (default: cores)."
    )
    parser.add_argument(
        "--blocking-threads", type=int, default=2, help="granian --blocking-threads."
    )
    parser.add_argument("--scenarios", default=",".join(ALL_SCENARIOS))
    parser.add_argument("--no-peer", action="store_true", help="Measure Caducée only.")
    parser.add_argument(
        "--peer-rotate",
        type=int,
        choices=(0, 1),
        default=1,
        help="Peer rotates refresh tokens (default 1, as Caducée).",
    )
    parser.add_argument("--report", type=Path, help="Print the table of a results JSON and exit.")
    parser.add_argument(
        "--keep", action="store_true", help="Leave the servers running until Enter."
    )
    args = parser.parse_args(argv)
    if args.report:
        data = json.loads(args.report.read_text())
        fields = set(Load.__dataclass_fields__)
        loaded = {
            s: {n: Load(**{k: v for k, v in r.items() if k in fields}) for n, r in pair.items()}
            for s, pair in data["results"].items()
        }
        print(table(loaded, data["machine"]["cores"]))
        return 0
    if args.report:
        data = json.loads(args.report.read_text())
        fields = set(Load.__dataclass_fields__)
        loaded = {
            s: {n: Load(**{k: v for k, v in r.items() if k in fields}) for n, r in pair.items()}
            for s, pair in data["results"].items()
        }
        print(table(loaded, data["machine"]["cores"]))
        return 0
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - set(TARGETS)
    if unknown:
        parser.error(
            f"unknown scenarios: {', '.join(sorted(unknown))} (known: {', '.join(TARGETS)})"
        )
    for tool in ("wrk", "node", "createdb", "redis-cli"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found (apt-get install -y wrk; see docs/benchmarks.md)")

    # Seeds: one per connection per wrk run (warm-up and measurement), with a margin.
    n_seed = 4 * args.connections
    servers: list[Server] = []
    work = Path(tempfile.mkdtemp(prefix="caducee-bench-"))
    results: dict[str, dict[str, Load]] = {}
    try:
        key_dir, var_dir = work / "keys", work / "var"
        key_dir.mkdir()
        var_dir.mkdir()
        env = caducee_env(key_dir, var_dir)
        print(f"preparing Caducée (database {DB_NAME}) and the peer in {work} ...", flush=True)
        tokens = prepare_caducee(env, work, n_seed)

        caducee = Server(
            "caducee",
            [
                GRANIAN, "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(CADUCEE_PORT),
                "--workers", str(args.workers), "--blocking-threads", str(args.blocking_threads),
                "--respawn-failed-workers", "idp.wsgi:application",
            ],
            env, ROOT, work / "caducee.log",
        )  # fmt: skip
        servers.append(caducee)
        c_target = caducee_target(tokens)
        wait_http(
            f"http://127.0.0.1:{CADUCEE_PORT}{c_target.paths['discovery']}",
            {"X-Forwarded-Proto": "https"},
            caducee,
        )

        p_target = None
        if not args.no_peer:
            mint_dir = work / "peer"
            mint_dir.mkdir()
            peer_env = {
                **os.environ,
                "BASE_PORT": str(PEER_PORT),
                "WORKERS": str(args.workers),
                "MINT_DIR": str(mint_dir),
                "MINT_REFRESH": str(n_seed // args.workers + args.connections),
                "ROTATE": str(args.peer_rotate),
                "NODE_ENV": "production",
            }
            peer = Server("peer", ["node", "op.mjs"], peer_env, BENCH / "peer", work / "peer.log")
            servers.append(peer)
            for i in range(args.workers):
                wait_http(
                    f"http://127.0.0.1:{PEER_PORT + i}/.well-known/openid-configuration", {}, peer
                )
            files = [mint_dir / f"worker-{i}.json" for i in range(args.workers)]
            deadline = time.monotonic() + 30
            while not all(f.exists() for f in files) and time.monotonic() < deadline:
                time.sleep(0.2)
            p_target = peer_target([json.loads(f.read_text()) for f in files])

        print(
            f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s "
            f"(warm-up {args.warmup:g}s), "
            f"{args.workers} workers each; scenarios: {', '.join(scenarios)}",
            flush=True,
        )
        for scenario in scenarios:
            results[scenario] = {"caducee": measure(caducee, c_target, scenario, args, work)}
            c = results[scenario]["caducee"]
            line = (
                f"  {scenario:<19} Caducée {c.rps:>7.0f}/s p99 {c.p99_ms:5.1f} ms errors {c.errors}"
            )
            if p_target is not None:
                p = results[scenario]["peer"] = measure(servers[1], p_target, scenario, args, work)
                line += f" | peer {p.rps:>7.0f}/s p99 {p.p99_ms:5.1f} ms errors {p.errors}"
            print(line, flush=True)

        print()
        print(table(results, os.cpu_count() or 1))
        out_dir = BENCH / "results"
        out_dir.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        payload = {
            "timestamp": stamp,
            "settings": vars(args),
            "machine": {"cores": os.cpu_count(), "load_avg_at_end": os.getloadavg()},
            "targets": TARGETS,
            "results": {
                s: {
                    name: {
                        **asdict(load),
                        "verdict": verdict(s, load) if name == "caducee" else None,
                    }
                    for name, load in pair.items()
                }
                for s, pair in results.items()
            },
        }
        for path in (out_dir / f"{stamp}.json", out_dir / "latest.json"):
            path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nresults: {out_dir / (stamp + '.json')}")
        if args.keep:
            input(f"servers running (Caducée :{CADUCEE_PORT}, peer :{PEER_PORT}+); Enter to stop ")
        errors = any(load.errors for pair in results.values() for load in pair.values())
        return 2 if errors else 0
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
