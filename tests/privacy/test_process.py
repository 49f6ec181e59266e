"""Process hardening at the entry points: a process started as the command line or the GUI starts (through
`app.cli.main` / `app.ui.app.run_gui`) has no core dumps (RLIMIT_CORE 0, not dumpable) and an owner-only umask,
whatever its parent had."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_REPORT = """
import json, os, resource, sys
from app.process import dumpable
def state():
    mask = os.umask(0o077)
    os.umask(mask)
    return {"core": list(resource.getrlimit(resource.RLIMIT_CORE)), "dumpable": dumpable(), "umask": mask}
before = state()
"""

_CLI = (
    _REPORT
    + """
from app.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "before": before, **state()}))
"""
)

_GUI = (
    _REPORT
    + """
from PySide6.QtCore import QTimer
from app import composition
from app.credentials import MemoryCredentialStore
from app.ui.app import ensure_application, run_gui
ws = composition.build_workspace(sys.argv[1], "gui", MemoryCredentialStore(), keep_settings=False)
app = ensure_application()
QTimer.singleShot(0, app.quit)
code = run_gui(ws)
print(json.dumps({"code": code, "before": before, **state()}))
"""
)


def _child(script: str, *args: str, tmp_path: Path) -> dict[str, object]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env[var] = str(tmp_path / var.lower())
    r = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        umask=0o022,  # a usual default: the app must tighten it itself
    )
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout.strip().splitlines()[-1]))


def test_the_command_line_turns_core_dumps_off_and_files_owner_only(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    found = _child(_CLI, "items", "--db", db, "--json", tmp_path=tmp_path)
    before = found.pop("before")
    assert before["dumpable"] == 1 and before["umask"] == 0o022  # an ordinary process until main() runs
    assert found == {"code": 0, "core": [0, 0], "dumpable": 0, "umask": 0o077}
    assert (tmp_path / "c.sqlite3").stat().st_mode & 0o777 == 0o600


def test_the_gui_turns_core_dumps_off_and_files_owner_only(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'g.sqlite3'}"
    found = _child(_GUI, db, tmp_path=tmp_path)
    assert found.pop("before")["dumpable"] == 1
    assert found == {"code": 0, "core": [0, 0], "dumpable": 0, "umask": 0o077}


def test_a_child_of_the_command_line_keeps_no_core_dumps(tmp_path: Path) -> None:
    # RLIMIT_CORE is inherited: a process the app starts (a browser, a helper) cannot write a core either.
    script = (
        _REPORT
        + """
import subprocess
from app.cli import main
main(["items", "--db", sys.argv[1], "--json"])
out = subprocess.run([sys.executable, "-c", "import resource; print(resource.getrlimit(resource.RLIMIT_CORE))"],
                     capture_output=True, text=True).stdout.strip()
print(json.dumps({"child_core": out}))
"""
    )
    found = _child(script, f"sqlite:///{tmp_path / 'k.sqlite3'}", tmp_path=tmp_path)
    assert found == {"child_core": "(0, 0)"}
