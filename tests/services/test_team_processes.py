"""Two people as two processes on one PostgreSQL database (benchmarks/team_concurrency.py at a small size): they
decide and push on the same few items at once, one is killed with SIGKILL right after a write reached Xero. No
update is lost (no two decisions succeed on one version of an item), every refusal says why, each push reaches Xero
once, and the survivor finishes the dead one's claims after the lease."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(300)


def test_two_people_collide_and_one_dies_mid_push_without_a_lost_update_or_a_duplicate(pg_url: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "team_concurrency.py"), "--invoices", "60", "--ops", "300",
         "--items", "10", "--think", "5", "--lease", "1", "--db", pg_url],
        capture_output=True, text=True, cwd=ROOT, timeout=280, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["database"] == "postgresql+psycopg"
    together = out["two_people"]["outcomes"]
    assert out["lost_updates"] == 0, out
    assert together.get("refused_changed_since", 0) > 0, out  # they did collide, and were refused
    assert out["refused_without_a_message"] == 0 and together.get("failed", 0) == 0, out
    killed = out["killed"]
    assert killed["ben_exit"] == -9 and killed["ana_took_over"]["retried"] >= 1, killed
    assert killed["ana_took_over"]["ok"] == killed["ana_took_over"]["retried"], killed
    assert out["duplicate_writes"] == 0 and out["succeeded_but_not_written"] == 0, out
    assert out["unfinished"] == 0 and out["xero_write_keys"] == out["succeeded_pushes"] > 0, out
