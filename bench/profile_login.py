"""Where a card-app login spends its CPU and its queries, per endpoint, in one process.

    .venv/bin/python -m bench.profile_login [--logins N] [--sort cumulative|tottime] [--sql]

Prepares the bench database as bench/login.py does (PostgreSQL, Redis, production settings),
then runs N complete logins (``bench.login.caducee_login``) through the WSGI application called
in-process (no HTTP, no load generator), and prints for each endpoint the CPU time per login
and the SQL statements of one request (``--sql`` lists them). With ``--sort``, a cProfile of N
more logins timed in CPU time (``time.process_time``), so that waiting on PostgreSQL does not
count. Figures are for comparing a change with its parent on the same machine, not targets.
"""

from __future__ import annotations

import argparse
import base64
import collections
import cProfile
import io
import json
import logging
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import login as bench_login
from bench import run as common

_ENDPOINT_IDS = (
    (re.compile(r"/login/[^/]+"), "/login/T"),
    (re.compile(r"/challenges/[^/]+/"), "/challenges/C/"),
    (re.compile(r"/card/[^/]+/(status|complete)"), r"/card/C/\1"),
    (re.compile(r"/resume/[^/]+"), "/resume/T"),
)


def endpoint_name(method: str, path: str) -> str:
    path = path.split("?")[0]
    for pattern, replacement in _ENDPOINT_IDS:
        path = pattern.sub(replacement, path)
    return f"{method} {path}"


class Recorder:
    """CPU time of each request and the SQL of the last one, per endpoint."""

    def __init__(self) -> None:
        self.cpu: collections.defaultdict[str, list[float]] = collections.defaultdict(list)
        self.sql: dict[str, list[str]] = {}


class InProcessBrowser(bench_login.Browser):
    """bench.login's browser, calling the WSGI application instead of a socket."""

    application: Any = None
    recorder: Recorder | None = None

    def __init__(self, port: int, extra: dict[str, str] | None = None) -> None:
        self.port, self.extra, self.cookies = port, extra or {}, {}

        class _NoConnection:
            def close(self) -> None:
                pass

        self.conn = _NoConnection()  # type: ignore[assignment]

    def request(
        self,
        method: str,
        path: str,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        cookies: bool = True,
    ) -> tuple[int, dict[str, str], bytes]:
        from django.db import connection

        sent = self.outgoing(headers, cookies=cookies)
        data = (body.encode() if isinstance(body, str) else body) or b""
        route, _, query = path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "PATH_INFO": route, "SCRIPT_NAME": "", "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": str(len(data)),
            "wsgi.input": io.BytesIO(data), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http", "wsgi.multithread": True, "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }  # fmt: skip
        for name, value in sent.items():
            key = name.upper().replace("-", "_")
            environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
        status: list[str] = []
        got: list[tuple[str, str]] = []
        endpoint = endpoint_name(method, route)
        recorder = self.recorder
        statements: list[str] = []

        def record_sql(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            statements.append(sql)
            return execute(sql, params, many, context)

        if recorder is not None:
            _COMMANDS.clear()
        started = time.process_time()
        with connection.execute_wrapper(record_sql):
            out = b"".join(
                self.application(environ, lambda s, h, e=None: (status.append(s), got.extend(h)))
            )
        if recorder is not None:
            recorder.cpu[endpoint].append(time.process_time() - started)
            recorder.sql[endpoint] = statements + [f"-- {c}" for c in _COMMANDS]
        answer = {name.lower(): value for name, value in got if name.lower() != "set-cookie"}
        if cookies:
            self.remember([value for name, value in got if name.lower() == "set-cookie"])
        return int(status[0].split()[0]), answer, out


_COMMANDS: list[str] = []


def _count_transaction_commands() -> None:
    """BEGIN, COMMIT, SAVEPOINT… go through psycopg's _exec_command, not Django's cursor: listed
    with the statements (each is a round trip too)."""
    from psycopg import _connection_base

    original = _connection_base.BaseConnection._exec_command

    def counted(self: Any, command: Any, result_format: Any = 0) -> Any:
        text = command.decode(errors="replace") if isinstance(command, bytes) else str(command)
        _COMMANDS.append(text[:40])
        return original(self, command, result_format)

    _connection_base.BaseConnection._exec_command = counted  # type: ignore[method-assign]


def in_process_setup(env: dict[str, str], tokens: dict[str, Any]) -> dict[str, Any]:
    """Load the application with ``env`` (the bench's settings) into :class:`InProcessBrowser`;
    return the setup ``bench.login.caducee_login`` takes."""
    os.environ.clear()
    os.environ.update(env)
    from idp.wsgi import application

    logging.disable(logging.INFO)
    InProcessBrowser.application = application
    return {
        "headers": {"X-Forwarded-Proto": "https", "Host": "127.0.0.1"},
        "base_url": env["IDP_BASE_URL"],
        "basic": base64.b64encode(
            f"{common.CLIENT_ID}:{tokens['client_secret']}".encode()
        ).decode(),
    }


def login_in_process(setup: dict[str, Any], user: dict[str, Any], n: int) -> None:
    """Login number ``n``: ``user``'s complete card login through the application in process,
    from its own client address (the per-address limits are meant for people), with a fresh
    browser and the user's phone."""
    extra = {"X-Forwarded-For": f"10.0.{n // 250 % 250}.{n % 250 + 1}", **setup["headers"]}
    bench_login.caducee_login(
        InProcessBrowser(0, extra),
        InProcessBrowser(0, extra),
        bench_login.Phone(user, setup["base_url"]),
        setup,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--sort", choices=("cumulative", "tottime"))
    parser.add_argument("--sql", action="store_true", help="List each endpoint's statements.")
    parser.add_argument("--dump", type=Path, help="Also save the cProfile statistics to this file.")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="caducee-profile-login-"))
    (work / "keys").mkdir()
    (work / "var").mkdir()
    env = common.caducee_env(work / "keys", work / "var")
    tokens = common.prepare_caducee(env, work, 0)
    users_file = work / "users.json"
    # Each login its own professional, as in bench.login and bench.instructions: a professional's
    # second login finds their claims cached, and would hide what a first one costs.
    runs = 20 + args.logins * (2 if args.sort else 1)
    setup_command = ["-m", "bench.login_setup", str(users_file), "--count", str(runs)]
    common.run([common.PYTHON, *setup_command], env)
    users = json.loads(users_file.read_text())["users"]
    setup = in_process_setup(env, tokens)
    if args.sql:
        _count_transaction_commands()

    def one(n: int) -> None:
        login_in_process(setup, users[n], n)

    for n in range(20):  # warm caches and connections
        one(n)
    recorder = InProcessBrowser.recorder = Recorder()
    started = time.process_time()
    for n in range(20, 20 + args.logins):
        one(n)
    total = time.process_time() - started
    print(f"CPU per login, all endpoints and the driver: {total / args.logins * 1000:.1f} ms")
    # The median of each endpoint resists this machine's noise better than the mean: compare a
    # change with its parent by the sum of medians.
    medians = {name: statistics.median(times) for name, times in recorder.cpu.items()}
    print(f"sum of the endpoints' median CPU: {sum(medians.values()) * 1000:.2f} ms")
    print("    mean  median")
    for endpoint, times in sorted(recorder.cpu.items(), key=lambda item: -sum(item[1])):
        count = len(recorder.sql.get(endpoint, []))
        mean = sum(times) / args.logins * 1000
        print(f"  {mean:6.2f} {medians[endpoint] * 1000:6.2f} ms  {count:3d} SQL  {endpoint}")
    if args.sql:
        for endpoint, statements in recorder.sql.items():
            print(f"== {endpoint}")
            for sql in statements:
                print(f"     {sql[:150]}")
    if args.sort:
        InProcessBrowser.recorder = None
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for n in range(20 + args.logins, 20 + 2 * args.logins):
            one(n)
        profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(50)
        if args.dump:
            profile.dump_stats(args.dump)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
