"""Run a benchmark's worker with an earlier commit's code and with this tree's, side by side.

The earlier commit is checked out with `git worktree`; each run is its own process with its
own code on PYTHONPATH, the two sides alternating for the given rounds. A worker prints its
figures as the last line of its output, a JSON object with "code": the file of the module it
measured, which must lie in its own tree (an editable install must not win).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def side_by_side(base: str, rounds: int, worker_args: Callable[[Path], list[str]],
                 timeout: float = 1800) -> dict[str, list[dict[str, Any]]]:
    """{"base": [figures per round], "this": [...]}. `worker_args(workdir)` gives the worker's
    command line (script and arguments); each run gets a fresh empty work directory."""
    figures: dict[str, list[dict[str, Any]]] = {"base": [], "this": []}
    with tempfile.TemporaryDirectory(prefix="egov-bench-") as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(base_tree), base],
                       check=True)
        try:
            for i in range(rounds):
                for side, tree in (("base", base_tree), ("this", ROOT)):
                    work = Path(tmp) / f"{side}-{i}"
                    work.mkdir()
                    env = {**os.environ, "PYTHONPATH": str(tree), "SE_OFFLINE": "true", "SE_AVOID_STATS": "true"}
                    out = subprocess.run([sys.executable, *worker_args(work)], cwd=tree, env=env,
                                         capture_output=True, text=True, check=True, timeout=timeout)
                    row = json.loads(out.stdout.strip().splitlines()[-1])
                    assert str(row.pop("code")).startswith(str(tree)), f"{side} ran another tree's code"
                    figures[side].append(row)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], check=False)
    return figures


def page_pass_compare(script: Path, base: str, description: str) -> tuple[Any, dict[str, list[float]], list[dict[str, Any]]]:
    """The command line of a page-pass comparison (bench.gdpr_compare, bench.a11y_compare):
    `--base --rounds --pages --pool`; each side runs `script --worker`. Returns the arguments,
    pages per minute per side and round, and this tree's raw rows."""
    import argparse

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=base, help="commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--pool", type=int, default=2)
    args = parser.parse_args()
    runs = side_by_side(args.base, args.rounds, lambda _work: [
        str(script), "--worker", "--pages", str(args.pages), "--pool", str(args.pool)], timeout=900)
    for run in runs["base"] + runs["this"]:
        assert run["pages"] == args.pages, run
    return args, {side: [args.pages / run["seconds"] * 60 for run in rows] for side, rows in runs.items()}, runs["this"]
