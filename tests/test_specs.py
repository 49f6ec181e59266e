"""Xero's OpenAPI files in `tests/specs` are the upstream files, byte for byte: their SHA-256 is the one SOURCE.md
records for the upstream commit (a local edit would make the spec tests check against something Xero never wrote)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

SPECS = Path(__file__).resolve().parent / "specs"


@pytest.mark.parametrize("name", ["xero_accounting.yaml", "xero-identity.yaml"])
def test_the_spec_copies_are_the_upstream_files(name: str) -> None:
    source = (SPECS / "SOURCE.md").read_text(encoding="utf-8")
    recorded = re.search(rf"^\| `{re.escape(name)}`.*\| `([0-9a-f]{{64}})` \|$", source, re.MULTILINE)
    assert recorded is not None, f"SOURCE.md records no SHA-256 for {name}"
    assert hashlib.sha256((SPECS / name).read_bytes()).hexdigest() == recorded.group(1)
