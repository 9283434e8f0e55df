"""Instructions per card login, counted by valgrind: a change against a baseline, without noise.

    .venv/bin/python -m bench.instructions [REV] [--logins 20] [--warmup 10]

This machine's speed drifts by a fifth within minutes (docs/benchmarks.md), so timings resolve a
change of 5 % at best, and only over many alternating runs (``bench.compare``). Instructions do
not drift: ``valgrind --tool=callgrind`` counts those the process executes, whatever else the
machine is doing. Two runs of the same code give the same count to within 0.1 %.

For each side (this checkout; with REV, first a git worktree of REV driven by this bench/, as
``bench.compare`` makes it), a fresh bench database and Redis database are prepared (the same
state each time: the professionals' claims are not cached yet), then a process runs ``--warmup``
complete card-app logins through the WSGI application in process (``bench.profile_login``'s
browser: no HTTP server, no load generator), then ``--logins`` more with callgrind collecting
only those (``--toggle-collect`` on ``sys.call_tracing``, which wraps them and nothing else) and
the cyclic garbage collector off (a collection lands wherever the allocation count says, which
would make the count depend on the past). Python's hash seed is fixed.

What is counted: the provider's Python process, the views and the framework, plus the in-process
driver (the browser's requests and the phone's ES256 signatures, the same on both sides).
PostgreSQL, Redis, granian's Rust side and the garbage collector are not, nor the kernel: of a
round trip to PostgreSQL or Redis only the client library's part is counted, not the system time
(loopback TCP, wake-ups: ~80 µs per Redis GET on this machine, as much as the user time), so a
change that saves round trips saves more than this count says (docs/benchmarks.md, stop 10).
Use ``bench.login`` or ``bench.compare`` for throughput and latency, this for "does this change
make the provider's own code cheaper, and by how much".
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import compare
from bench import run as common

_COLLECTED = re.compile(r"Collected : (\d+)")
ROOT_PYTHON = compare.ROOT / ".venv" / "bin" / "python"


# --- one side: prepare, then count under valgrind -------------------------------------------------


def prepare(work: Path, professionals: int) -> None:
    """A fresh bench database and the card apps, their settings in ``work``."""
    (work / "keys").mkdir(parents=True)
    (work / "var").mkdir()
    env = common.caducee_env(work / "keys", work / "var")
    tokens = common.prepare_caducee(env, work, 0)
    users = work / "users.json"
    common.run(
        [common.PYTHON, "-m", "bench.login_setup", str(users), "--count", str(professionals)], env
    )
    (work / "env.json").write_text(json.dumps(env))
    (work / "tokens.json").write_text(json.dumps(tokens))


def drive(work: Path, logins: int, warmup: int) -> None:
    """Run ``warmup`` logins, then ``logins`` inside ``sys.call_tracing`` (what is counted)."""
    from bench import profile_login

    env = json.loads((work / "env.json").read_text())
    setup = profile_login.in_process_setup(env, json.loads((work / "tokens.json").read_text()))
    users = json.loads((work / "users.json").read_text())["users"]

    def one(n: int) -> None:
        # Each login its own professional (the per-idNat limits are meant for people).
        profile_login.login_in_process(setup, users[n], n)

    for n in range(warmup):
        one(n)

    def counted() -> None:
        for n in range(warmup, warmup + logins):
            one(n)

    gc.collect()
    gc.freeze()
    gc.disable()
    sys.call_tracing(counted, ())
    print(f"counted {logins} logins", flush=True)


def count(checkout: Path, logins: int, warmup: int) -> int:
    """Instructions of ``logins`` logins in ``checkout`` (its bench/ and code)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    python = str(ROOT_PYTHON)
    work = Path(tempfile.mkdtemp(prefix="caducee-instructions-"))
    try:
        done = subprocess.run(  # noqa: S603 (our own module, bench only)
            [python, "-m", "bench.instructions", "--prepare", str(work),
             "--professionals", str(warmup + logins)],
            cwd=checkout, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"preparing in {checkout} failed:\n{done.stdout}\n{done.stderr}")
        done = subprocess.run(  # noqa: S603 (fixed arguments, bench only)
            [valgrind, "--tool=callgrind", "--collect-atstart=no",
             "--toggle-collect=sys_call_tracing", f"--callgrind-out-file={work / 'callgrind.out'}",
             python, "-m", "bench.instructions", "--drive", str(work),
             "--logins", str(logins), "--warmup", str(warmup)],
            cwd=checkout, capture_output=True, text=True, check=False,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )  # fmt: skip
        found = _COLLECTED.search(done.stderr)
        if done.returncode != 0 or not found or "counted" not in done.stdout:
            tail = done.stderr[-3000:]
            raise SystemExit(f"counting in {checkout} failed:\n{done.stdout}\n{tail}")
        return int(found.group(1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rev", nargs="?", help="A baseline commit to compare with (optional).")
    parser.add_argument("--logins", type=int, default=20, help="Logins counted (20).")
    parser.add_argument("--warmup", type=int, default=10, help="Logins before counting (10).")
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--professionals", type=int, default=30, help=argparse.SUPPRESS)
    parser.add_argument("--drive", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare:
        prepare(args.prepare, args.professionals)
        return 0
    if args.drive:
        drive(args.drive, args.logins, args.warmup)
        return 0

    sides: list[tuple[str, int]] = []
    if args.rev:
        where = Path(tempfile.mkdtemp(prefix="caducee-baseline-")) / "tree"
        try:
            commit = compare.make_baseline(args.rev, where)
            sides.append((commit[:12], count(where, args.logins, args.warmup)))
        finally:
            if where.exists():
                compare._git("worktree", "remove", "--force", str(where))
            shutil.rmtree(where.parent, ignore_errors=True)
    sides.append(("current", count(compare.ROOT, args.logins, args.warmup)))
    for name, total in sides:
        print(f"{name:<14} {total / args.logins / 1e6:9.2f} M instructions per login")
    if len(sides) == 2:
        print(f"{'ratio':<14} {sides[1][1] / sides[0][1]:9.4f} (current / baseline)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
