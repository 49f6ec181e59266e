"""Reopen, match and unmatch over a synced generated month (real SQLite cache, both emulators): the decision holds
on every later sync, is undone by reopen/unmatch, and each step leaves an audit entry that the chain verifies."""

from __future__ import annotations

import json

from services_world import World

from app.domain.status import ItemStatus, Kind, Resolution
from app.services.api import ItemFilter, Match, Reopen, Resolve, Unmatch
from app.storage import audit


def _entries(world: World, key: str) -> list[audit.AuditRecord]:
    with world.db.transaction(readonly=True) as tx:
        return audit.list_audit(tx, 50, item_key=key)


def test_reopen_undoes_a_resolve_and_holds_across_syncs(world: World) -> None:
    number = world.number("po_changed_source")
    row = world.item(number, Kind.INVOICE, ItemStatus.DIFFERS)
    assert world.ws.act(Reopen(row.item_id, "nothing to undo")).ok is False  # neither resolved nor matched
    assert world.ws.act(Resolve(row.item_id, Resolution.ACCEPT_LEDGER)).ok
    assert any(s.label.startswith("Reopen") for s in world.ws.item_detail(row.item_id).actions)
    refused = world.ws.act(Reopen(row.item_id, "  "))
    assert not refused.ok and "needs a note" in refused.message
    result = world.ws.act(Reopen(row.item_id, "accepted the wrong side"))
    assert result.ok and result.item is not None and result.item.status is ItemStatus.DIFFERS
    assert result.item.item_id == row.item_id and row.item_id in result.changes.changed and result.changes.audit
    assert world.ws.sync(full=True).ok
    assert world.item(number, Kind.INVOICE).status is ItemStatus.DIFFERS  # the resolve stays undone
    [reopen, resolve] = _entries(world, row.key)[:2]
    assert reopen.action == "reopen" and reopen.who == "tester" and reopen.note == "accepted the wrong side"
    assert json.loads(reopen.before)["status"] == "resolved" and json.loads(reopen.after)["status"] == "differs"
    assert resolve.action == "resolve:accept_xero"
    assert world.ws.verify_audit().ok


def test_match_two_invoices_by_hand_then_unmatch(world: World) -> None:
    src = world.item(world.number("only_in_source"), Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    led = world.item(world.number("only_in_ledger"), Kind.INVOICE, ItemStatus.ONLY_IN_LEDGER)
    assert src.currency == led.currency
    assert led.item_id in {r.item_id for r in world.ws.one_sided_candidates(src.item_id)}
    assert any(s.label.startswith("Match") for s in world.ws.item_detail(src.item_id).actions)
    result = world.ws.act(Match(led.item_id, src.item_id, "renumbered by hand in Xero"))
    assert result.ok, result.message
    paired = result.item
    assert paired is not None and paired.key == src.key and paired.item_id == src.item_id
    assert paired.source_id == src.source_id and paired.ledger_id == led.ledger_id
    assert paired.status in (ItemStatus.MATCHED, ItemStatus.DIFFERS) and paired.note == "Matched by hand"
    assert led.item_id in result.changes.removed
    # Every later sync honours it: one item, not two one-sided ones.
    assert world.ws.sync(full=True).ok
    assert world.ws.sync().ok
    [again] = world.ws.rows([src.item_id])
    assert again.ledger_id == led.ledger_id and again.status is paired.status
    assert not world.ws.rows([led.item_id])
    labels = [s.label for s in world.ws.item_detail(src.item_id).actions]
    assert "Unmatch" in labels and any(label.startswith("Reopen") for label in labels)
    undone = world.ws.act(Unmatch(src.item_id, "wrong pair"))
    assert undone.ok and undone.item is not None and undone.item.status is ItemStatus.ONLY_IN_SOURCE
    assert world.ws.sync(full=True).ok
    back = world.item(world.number("only_in_ledger"), Kind.INVOICE, ItemStatus.ONLY_IN_LEDGER)
    assert back.ledger_id == led.ledger_id
    actions = [e.action for e in _entries(world, src.key)]
    assert actions[:2] == ["unmatch", "match"]
    assert world.ws.verify_audit().ok


def test_match_two_payments_and_reopen_it(world: World) -> None:
    only_src = world.ws.rows(world.ws.item_ids(ItemFilter(kind=Kind.PAYMENT, statuses=(ItemStatus.ONLY_IN_SOURCE,))))
    only_led = world.ws.rows(world.ws.item_ids(ItemFilter(kind=Kind.PAYMENT, statuses=(ItemStatus.ONLY_IN_LEDGER,))))
    a = next(r for r in only_src if any(o.currency == r.currency for o in only_led))
    b = next(o for o in only_led if o.currency == a.currency)
    result = world.ws.act(Match(a.item_id, b.item_id, "the same receipt"))
    assert result.ok and result.item is not None, result.message
    assert result.item.source_id == a.source_id and result.item.ledger_id == b.ledger_id
    assert {a.item_id, b.item_id} <= result.changes.removed and result.item.item_id in result.changes.added
    assert world.ws.sync(full=True).ok
    assert world.ws.rows([result.item.item_id])[0].ledger_id == b.ledger_id
    reopened = world.ws.act(Reopen(result.item.item_id, "not the same after all"))
    assert reopened.ok and reopened.item is not None and reopened.item.status is ItemStatus.ONLY_IN_SOURCE
    assert reopened.item.source_id == a.source_id


def test_match_refuses_what_cannot_pair(world: World) -> None:
    src = world.item(world.number("only_in_source"), Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    matched = world.item(world.number("matched_open"), Kind.INVOICE, ItemStatus.MATCHED)
    pay = world.ws.rows(world.ws.item_ids(ItemFilter(kind=Kind.PAYMENT, statuses=(ItemStatus.ONLY_IN_LEDGER,))))[0]
    for other, words in ((matched, "only one-sided"), (pay, "same kind"), (src, "itself")):
        r = world.ws.act(Match(src.item_id, other.item_id, "x"))
        assert not r.ok and words in r.message, r.message
    assert not world.ws.act(Match(src.item_id, matched.item_id, "")).ok
    with world.db.transaction(readonly=True) as tx:
        assert audit.list_audit(tx, 10) == []
