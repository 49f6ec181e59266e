"""The import contracts of pyproject.toml can fail: one forbidden import planted per rule in a copy of the tree.

Each plant appends one import to one module of a temporary copy of `app/` and `pyproject.toml`, runs
`lint-imports` there and expects the named contract to be broken. The unmodified copy must pass, and every
contract must be broken by at least one plant, so a rule added without a plant (a rule that may never fail) is
caught too. Must not: touch the real tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

LAYERS = "layers: cli > composition"
CONNECTORS_APART = "one system's connector does not import another's"
SHARED_CONNECTORS = "the shared connector modules know no system"
SERVICES_CONNECTORS = "services reach connectors only through app.connectors.base"
UI_SERVICES = "ui goes through services"
SANDBOX_STARTED = "only the composition root starts the sandboxes"
PURE_3P = "domain, reconcile and settings: no I/O, storage or GUI libraries"
CREDENTIALS_3P = "credentials: the keyring and nothing else third-party"
CONNECTORS_3P = "connectors: requests and msgspec"
STORAGE_3P = "storage: sqlalchemy and alembic"
SERVICES_3P = "services: no HTTP"
UI_3P = "ui: PySide6"
SANDBOX_3P = "sandbox: the standard library"
ROOT_3P = "cli and composition: the database only through app.storage"

# (module file under app/, what it imports, the contract that must break)
PLANTS: list[tuple[str, str, str]] = [
    # the layer table
    ("reconcile/rules.py", "app.settings", LAYERS),
    ("reconcile/engine.py", "app.storage.db", LAYERS),
    ("reconcile/match.py", "app.credentials", LAYERS),
    ("domain/records.py", "app.services.api", LAYERS),
    ("domain/money.py", "app.reconcile.rules", LAYERS),
    ("storage/items.py", "app.connectors.base", LAYERS),
    ("storage/outbox.py", "app.services.push", LAYERS),
    ("connectors/xero/mapping.py", "app.storage.db", LAYERS),
    ("connectors/accessplanit/streams.py", "app.services.api", LAYERS),
    ("services/push.py", "app.ui.style", LAYERS),
    ("services/report.py", "app.composition", LAYERS),
    ("ui/style.py", "app.composition", LAYERS),
    ("ui/tasks.py", "app.cli", LAYERS),
    ("composition.py", "app.cli", LAYERS),
    ("sandbox/common.py", "app.composition", LAYERS),
    ("sandbox/xero/ledger.py", "app.domain.money", LAYERS),
    ("sandbox/generator/oracle.py", "app.reconcile.rules", LAYERS),  # the oracle stays independent of the engine
    # connectors among themselves
    ("connectors/xero/mapping.py", "app.connectors.accessplanit.mapping", CONNECTORS_APART),
    ("connectors/http.py", "app.connectors.xero.client", SHARED_CONNECTORS),
    # services see connectors only through their base types
    ("services/push.py", "app.connectors.xero.client", SERVICES_CONNECTORS),
    ("services/sync.py", "app.connectors.http", SERVICES_CONNECTORS),
    # ui sees services, domain and settings only
    ("ui/main_window.py", "app.storage.db", UI_SERVICES),
    ("ui/style.py", "app.connectors.base", UI_SERVICES),
    ("ui/tasks.py", "app.credentials", UI_SERVICES),
    ("ui/style.py", "app.reconcile.rules", UI_SERVICES),
    ("services/api.py", "app.sandbox.runner", SANDBOX_STARTED),
    # third-party libraries per layer
    ("domain/money.py", "sqlalchemy", PURE_3P),
    ("reconcile/diff.py", "requests", PURE_3P),
    ("settings.py", "keyring", PURE_3P),
    ("credentials.py", "requests", CREDENTIALS_3P),
    ("connectors/xero/client.py", "sqlalchemy", CONNECTORS_3P),
    ("connectors/http.py", "keyring", CONNECTORS_3P),
    ("storage/db.py", "requests", STORAGE_3P),
    ("services/push.py", "requests", SERVICES_3P),
    ("services/sync.py", "PySide6", SERVICES_3P),
    ("services/resolve.py", "sqlalchemy", SERVICES_3P),
    ("ui/style.py", "sqlalchemy", UI_3P),
    ("ui/tasks.py", "requests", UI_3P),
    ("sandbox/runner.py", "requests", SANDBOX_3P),
    ("sandbox/common.py", "PySide6", SANDBOX_3P),
    ("composition.py", "sqlalchemy", ROOT_3P),
    ("cli.py", "alembic", ROOT_3P),
]


def _contract_names() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [c["name"] for c in config["tool"]["importlinter"]["contracts"]]


def _copy_tree(dest: Path) -> Path:
    shutil.copytree(ROOT / "app", dest / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, so the graph is built from it and not from the installed package.
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "200"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


def test_every_contract_has_a_plant() -> None:
    names = _contract_names()
    for name in names:
        assert any(name.startswith(prefix) for _, _, prefix in PLANTS), f"no plant breaks contract {name!r}"
    for _, _, prefix in PLANTS:
        assert sum(name.startswith(prefix) for name in names) == 1, f"{prefix!r} names no single contract"


def test_unmodified_copy_passes(tmp_path: Path) -> None:
    result = _lint(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(_verdict(result.stdout, name) == "KEPT" for name in _contract_names())


@pytest.mark.parametrize(("module", "target", "contract"), PLANTS, ids=[f"{m}->{t}" for m, t, _ in PLANTS])
def test_planted_import_breaks_its_contract(tmp_path: Path, module: str, target: str, contract: str) -> None:
    tree = _copy_tree(tmp_path)
    path = tree / "app" / module
    assert path.is_file(), f"plant target {module} is gone: pick another module of the same layer"
    with path.open("a", encoding="utf-8") as f:
        f.write(f"\nimport {target}  # planted by tests/test_layers.py\n")
    result = _lint(tree)
    assert result.returncode != 0, f"import of {target} in {module} passed every contract:\n{result.stdout}"
    assert _verdict(result.stdout, contract) == "BROKEN", result.stdout


def _verdict(report: str, contract: str) -> str:
    """KEPT or BROKEN: the word after the contract's name in the summary (the report wraps long names)."""
    text = " ".join(report.split())
    start = text.index(contract)
    kept, broken = (text.find(word, start) for word in (" KEPT", " BROKEN"))
    return "KEPT" if kept != -1 and (broken == -1 or kept < broken) else "BROKEN"
