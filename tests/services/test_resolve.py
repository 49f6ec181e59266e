"""Resolving items: accept a side or ignore with a note; a decision with the item's fingerprint, the item
`resolved`, and an audit row with before and after. Real SQLite cache."""

from __future__ import annotations

import json

import pytest
from services_samples import month_fixture

from app.domain.status import ItemStatus, Resolution
from app.services.resolve import ResolveError, item_fingerprint, resolve_item
from app.storage import audit, decisions, items
from app.storage.db import Database


def test_ignore_needs_a_note(cache: Database) -> None:
    ids = month_fixture(cache)
    with pytest.raises(ResolveError, match="needs a note"):
        resolve_item(cache, "ana", ids["differs"], Resolution.IGNORE, "   ")
    with cache.transaction() as tx:
        assert items.item_rows(tx, [ids["differs"]])[0].status is ItemStatus.DIFFERS
        assert decisions.active_decisions(tx) == {}
        assert audit.list_audit(tx) == []


def test_ignore_with_note_resolves_and_audits(cache: Database) -> None:
    ids = month_fixture(cache)
    now = resolve_item(cache, "ana", ids["differs"], Resolution.IGNORE, "PO corrected on paper")
    assert now.status is ItemStatus.RESOLVED and "PO corrected on paper" in now.note
    with cache.transaction() as tx:
        found = decisions.active_decisions(tx)[("invoice", "INV-2")]
        entries = audit.list_audit(tx, item_key="INV-2")
    # The reconciling service's fingerprint of the item's data is what the decision was taken on.
    assert found.fingerprint == "fp-inv2" and found.resolution == "ignore" and found.who == "ana"
    assert len(entries) == 1
    entry = entries[0]
    assert entry.action == "resolve:ignore" and entry.who == "ana" and entry.note == "PO corrected on paper"
    assert json.loads(entry.before)["status"] == "differs" and json.loads(entry.before)["fields"] == ["po_number"]
    assert json.loads(entry.after)["status"] == "resolved"


def test_accept_a_side(cache: Database) -> None:
    ids = month_fixture(cache)
    now = resolve_item(cache, "bo", ids["only_ledger"], Resolution.ACCEPT_LEDGER, "")
    assert now.status is ItemStatus.RESOLVED
    with cache.transaction() as tx:
        d = decisions.active_decisions(tx)[("invoice", "INV-4")]
        row = items.item_rows(tx, [ids["only_ledger"]])[0]
    assert d.resolution == "accept_xero"
    assert d.fingerprint == item_fingerprint(row) != ""  # no stored fingerprint: a digest of what was shown


def test_matched_and_invalid_items_are_refused(cache: Database) -> None:
    ids = month_fixture(cache)
    with pytest.raises(ResolveError, match="nothing to resolve"):
        resolve_item(cache, "ana", ids["matched"], Resolution.ACCEPT_SOURCE, "")
    with pytest.raises(ResolveError, match="cannot be resolved here"):
        resolve_item(cache, "ana", ids["invalid"], Resolution.IGNORE, "test record")
    with cache.transaction() as tx:
        assert items.item_rows(tx, [ids["invalid"]])[0].status is ItemStatus.INVALID
        assert audit.list_audit(tx) == []


def test_audit_keeps_every_decision(cache: Database) -> None:
    ids = month_fixture(cache)
    resolve_item(cache, "ana", ids["only_source"], Resolution.ACCEPT_SOURCE, "first")
    with cache.transaction() as tx:  # a sync makes it one-sided again; the person decides again
        items.set_item_status(tx, ids["only_source"], ItemStatus.ONLY_IN_SOURCE)
    resolve_item(cache, "bo", ids["only_source"], Resolution.IGNORE, "second")
    with cache.transaction() as tx:
        entries = audit.list_audit(tx, item_key="INV-3")
        history = decisions.decisions_for(tx, "invoice", "INV-3")
    assert [e.note for e in entries] == ["second", "first"]  # newest first, the first one untouched
    assert [d.resolution for d in history] == ["accept_accessplanit", "ignore"]
