"""`recondesk sandbox --fixtures DIR --expected FILE`: the expected statuses of records loaded from wire-format files
are computed by the same oracle as for a generated month, so a hand-made fixture set can be checked end to end."""

from __future__ import annotations

from pathlib import Path

from app.sandbox.generator import generate, write_fixtures
from app.sandbox.runner import SandboxOptions, start_sandboxes


def _by_key(items: list[dict]) -> dict[tuple[str, str], tuple[str, tuple[str, ...]]]:
    return {(i["kind"], i["key"]): (i["status"], tuple(i.get("fields", ()))) for i in items}


def test_fixtures_get_the_same_expected_statuses_as_the_month_they_came_from(tmp_path: Path) -> None:
    month = generate(seed=5, invoices=60, month="2026-10")
    write_fixtures(month, tmp_path / "fixtures")
    sandboxes = start_sandboxes(SandboxOptions(fixtures=str(tmp_path / "fixtures")))
    try:
        assert sandboxes.expected is not None
        assert _by_key(sandboxes.expected) == _by_key(month.expected)
    finally:
        sandboxes.stop()


def test_an_empty_fixture_directory_serves_nothing_and_expects_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    sandboxes = start_sandboxes(SandboxOptions(fixtures=str(tmp_path / "empty")))
    try:
        assert sandboxes.expected == []
    finally:
        sandboxes.stop()
