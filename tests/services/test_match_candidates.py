"""Candidates for a match by hand over a synced generated month (real SQLite cache, both emulators): ranked with
per-field scores and why the rules did not pair them; accepting one is a `Match` whose reason names who and why."""

from __future__ import annotations

from services_world import World

from app.domain.status import ItemStatus, Kind
from app.services.api import ItemFilter, Match


def test_candidates_are_ranked_scored_and_explained_and_accepting_one_matches(world: World) -> None:
    src = world.item(world.number("only_in_source"), Kind.INVOICE, ItemStatus.ONLY_IN_SOURCE)
    led = world.item(world.number("only_in_ledger"), Kind.INVOICE, ItemStatus.ONLY_IN_LEDGER)
    found = world.ws.match_candidates(src.item_id)
    assert found and led.item_id in {c.item_id for c in found}
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    assert all(0 <= c.score <= 100 and c.band in ("good", "fair", "poor") for c in found)
    assert all(c.row.status is ItemStatus.ONLY_IN_LEDGER and c.row.currency == src.currency for c in found)
    mine = next(c for c in found if c.item_id == led.item_id)
    assert {name for name, _s in mine.scores} == {"number", "amount", "date", "contact", "reference"}
    assert mine.why_not.startswith("number differs: ")
    # The old list (nearest amount first) still answers for its callers.
    assert led.item_id in {r.item_id for r in world.ws.one_sided_candidates(src.item_id)}

    result = world.ws.act(Match(src.item_id, led.item_id, "renumbered in Xero"))
    assert result.ok, result.message
    assert result.item is not None and result.item.reason.startswith("Matched by hand by tester: renumbered in Xero")
    assert world.ws.match_candidates(result.item.item_id) == []  # no longer one-sided
    assert world.ws.sync().ok
    [again] = world.ws.rows([src.item_id])
    assert again.ledger_id == led.ledger_id and again.reason.startswith("Matched by hand by tester")


def test_payment_candidates_and_a_paired_items_reason(world: World) -> None:
    flt = ItemFilter(kind=Kind.PAYMENT, statuses=(ItemStatus.ONLY_IN_SOURCE,))
    one = next(r for r in world.ws.rows(world.ws.item_ids(flt)) if world.ws.match_candidates(r.item_id))
    best = world.ws.match_candidates(one.item_id)[0]
    assert best.row.kind is Kind.PAYMENT and best.row.status is ItemStatus.ONLY_IN_LEDGER and best.why_not
    matched = world.ws.rows(world.ws.item_ids(ItemFilter(kind=Kind.PAYMENT, statuses=(ItemStatus.MATCHED,))))
    assert matched and all(r.reason.startswith("Payment paired on ") and "(tier " in r.reason for r in matched)
