"""The card login of this checkout against a baseline commit, in alternating runs, as ratios.

    .venv/bin/python -m bench.compare REV [--rounds 4] [--duration 20] [--users 8] [--env N=V]

This machine's speed drifts by a fifth from one minute to the next (other tenants), more than
most changes are worth: two bench.login runs minutes apart compare nothing. So the baseline and
this checkout are measured in turn, ABBA (the order flips each round, cancelling a steady
drift), and each round gives a ratio of two neighbouring runs; the median ratio is the verdict.

The baseline is a detached git worktree of REV (under the system temp directory, removed at the
end) driven by *this* checkout's bench/ (same load generator, same measurement) with this
checkout's virtualenv: REV must be recent enough for the current bench to set it up. The peer is
not run (it does not change between the two). Dependencies are this checkout's on both sides:
a change of dependency is not what this compares. ``--env`` settings apply to both,
``--env-current`` to this checkout only (to compare a setting with its default: REV = HEAD).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_RESULTS = re.compile(r"^results: (.+\.json)$", re.M)
#: (key in bench.login's results, label, True if more is better)
MEASURES = (
    ("logins_per_s", "logins/s", True),
    ("p99_ms", "p99 ms", False),
    ("cpu_ms_per_login", "CPU ms", False),
    ("store_cpu_ms_per_login", "+DB ms", False),
    ("load_cpu_ms_per_login", "load ms", False),
)


def _git(*args: str) -> str:
    git = shutil.which("git") or "git"
    return subprocess.run(  # noqa: S603 (fixed git arguments, bench only)
        [git, *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def make_baseline(rev: str, into: Path) -> str:
    """A worktree of ``rev`` at ``into`` with this checkout's bench/ and virtualenv."""
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    _git("worktree", "add", "--detach", "--quiet", str(into), commit)
    shutil.rmtree(into / "bench")
    shutil.copytree(ROOT / "bench", into / "bench", ignore=shutil.ignore_patterns("results"))
    (into / ".venv").symlink_to(ROOT / ".venv")
    return commit


def run_once(checkout: Path, args: argparse.Namespace, env: list[str]) -> dict[str, Any]:
    """One bench.login run (no peer) in ``checkout``; its Caducée results."""
    command = [
        str(ROOT / ".venv" / "bin" / "python"), "-m", "bench.login", "--no-peer",
        "--duration", str(args.duration), "--users", str(args.users),
    ]  # fmt: skip
    for item in env:
        command += ["--env", item]
    done = subprocess.run(  # noqa: S603 (our own module, bench only)
        command, cwd=checkout, capture_output=True, text=True, check=False
    )
    found = _RESULTS.search(done.stdout)
    if done.returncode != 0 or not found:
        raise SystemExit(f"bench.login failed in {checkout}:\n{done.stdout}\n{done.stderr}")
    return json.loads(Path(found.group(1)).read_text())["caducee"]


def ratios(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, float]:
    """Median over the rounds of current / baseline, per measure."""
    found = {
        key: [cur[key] / base[key] for base, cur in pairs if base[key]]
        for key, _label, _more in MEASURES
    }
    return {
        key: statistics.median(values) if values else float("nan") for key, values in found.items()
    }


def table(pairs: list[tuple[dict[str, Any], dict[str, Any]]], commit: str) -> str:
    head = f"{'round':<7}" + "".join(f"{label:>20}" for _key, label, _more in MEASURES)
    lines = [f"baseline {commit[:12]} -> current (baseline / current)", head, "-" * len(head)]
    for n, (base, cur) in enumerate(pairs, 1):
        cells = "".join(
            f"{f'{base[key]:.1f} / {cur[key]:.1f}':>20}" for key, _label, _more in MEASURES
        )
        lines.append(f"{n:<7}{cells}")
    median = ratios(pairs)
    lines.append(
        f"{'ratio':<7}" + "".join(f"{median[key]:>20.3f}" for key, _label, _more in MEASURES)
    )
    lines.append("ratio = median of current / baseline over the rounds (errors: none, or it stops)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rev", help="The baseline commit (e.g. HEAD~3, a tag, a hash).")
    parser.add_argument("--rounds", type=int, default=4, help="Even: ABBA balanced (4).")
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--env-current", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    where = Path(tempfile.mkdtemp(prefix="caducee-baseline-")) / "tree"
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    try:
        commit = make_baseline(args.rev, where)
        for n in range(args.rounds):
            order = ("base", "current") if n % 2 == 0 else ("current", "base")
            got: dict[str, dict[str, Any]] = {}
            for side in order:
                if side == "base":
                    got[side] = run_once(where, args, args.env)
                else:
                    got[side] = run_once(ROOT, args, args.env + args.env_current)
                print(
                    f"round {n + 1} {side:<7} {got[side]['logins_per_s']:.1f} logins/s "
                    f"p99 {got[side]['p99_ms']:.0f} ms errors {got[side]['errors']}",
                    file=sys.stderr,
                    flush=True,
                )
                if got[side]["errors"]:
                    raise SystemExit(f"errors in the {side} run: {got[side]['error_samples']}")
            pairs.append((got["base"], got["current"]))
    finally:
        if where.exists():
            _git("worktree", "remove", "--force", str(where))
        shutil.rmtree(where.parent, ignore_errors=True)
    print(table(pairs, commit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
