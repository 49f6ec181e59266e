"""The money view over a synced generated month (both emulators over HTTP, a real SQLite cache): per-currency totals
that agree with the report and with a sum made independently from the sandboxes' own state, differences per
currency, value by status, the trend across syncs, connection health; and the item list's difference column and
its sort, done by the database."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from services_world import MONTH, World

from app.domain.status import ItemStatus, System
from app.services.api import ItemFilter
from app.services.report import build_report


def test_per_currency_totals_match_the_report_and_never_mix_currencies(world: World) -> None:
    dash = world.ws.dashboard(MONTH)
    report = build_report(world.db, MONTH)
    currencies = {t.currency for t in dash.totals}
    assert len(currencies) >= 2, currencies  # the month has GBP and foreign-currency invoices
    for system in System:
        by_currency = report["totals"][system.value]["by_currency"]
        mine = {t.currency: t for t in dash.totals if t.system is system}
        assert sorted(mine) == sorted(by_currency)
        for currency, theirs in by_currency.items():
            t = mine[currency]
            places = dash.decimals[currency]
            assert f"{t.total:.{places}f}" == theirs["total"]
            assert f"{t.paid:.{places}f}" == theirs["paid"]
            if "due" in theirs:
                assert f"{t.due:.{places}f}" == theirs["due"]
            if "invoices" in theirs:
                assert t.invoices == int(theirs["invoices"])  # the report writes counts as strings
        assert sum(t.invoices for t in mine.values()) == report["totals"][system.value]["invoices"]


def test_source_totals_agree_with_a_sum_over_the_sandbox_state(world: World) -> None:
    """Independently of our connectors and storage: accessplanit's own invoices of the month, summed per currency
    by this test from the emulator's state (readable ones with a date in the month)."""
    state = world.admin(System.ACCESSPLANIT, "state")
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for inv in state["Invoice"]["results"]:
        net, tax, currency = inv.get("Amount"), inv.get("Tax"), str(inv.get("CurrencyCode") or "").strip().upper()
        readable = str(inv.get("Reference") or "").strip() and str(inv.get("Status") or "").strip()
        if readable and isinstance(net, Decimal) and isinstance(tax, Decimal) and currency:
            if str(inv.get("DateCreated") or "").startswith(MONTH):
                expected[currency] += net + tax
    dash = world.ws.dashboard(MONTH)
    mine = {t.currency: t.total for t in dash.totals if t.system is System.ACCESSPLANIT}
    assert expected and mine == dict(expected)


def test_differences_are_ledger_minus_source_per_currency(world: World) -> None:
    dash = world.ws.dashboard(MONTH)
    source = {t.currency: t for t in dash.totals if t.system is dash.roles.source}
    ledger = {t.currency: t for t in dash.totals if t.system is dash.roles.ledger}
    assert [d.currency for d in dash.differences] == sorted(set(source) | set(ledger))
    for d in dash.differences:
        s, led = source.get(d.currency), ledger.get(d.currency)
        assert d.total == (led.total if led else 0) - (s.total if s else 0)
        assert d.paid == (led.paid if led else 0) - (s.paid if s else 0)
        assert d.due == (led.due if led else 0) - (s.due if s else 0)
    assert any(d.total != 0 or d.paid != 0 for d in dash.differences)  # the month has amount differences


def test_value_by_status_counts_every_item_of_the_month_once(world: World) -> None:
    dash = world.ws.dashboard(MONTH)
    counts = world.ws.list_counts(ItemFilter(period=MONTH)).by_status
    got: dict[str, int] = defaultdict(int)
    for v in dash.by_status:
        got[v.status.value] += v.items
        assert v.open is (v.status not in (ItemStatus.MATCHED, ItemStatus.RESOLVED))
    assert {k: n for k, n in counts.items() if n} == dict(got)


def test_each_sync_notes_open_items_and_open_value(world: World) -> None:
    world.ws.sync()
    dash = world.ws.dashboard(None)
    assert len(dash.runs) == 2
    last = dash.runs[-1]
    assert dash.runs[0].run_id < last.run_id
    open_now: dict[str, Decimal] = defaultdict(Decimal)
    for v in dash.by_status:
        if v.open:
            open_now[v.currency] += v.value
    assert last.open_value == dict(open_now)
    counts = world.ws.list_counts(ItemFilter()).by_status
    assert last.open_items == {s: counts[s] for s in last.open_items}
    assert dash.last_sync == last.finished_at and dash.last_sync_ok is True


def test_connection_health_and_budget_of_the_last_run(world: World) -> None:
    dash = world.ws.dashboard(MONTH)
    health = {h.system: h for h in dash.health}
    assert set(health) == {System.ACCESSPLANIT, System.XERO}
    assert all(h.configured and h.last_error == "" for h in health.values())
    assert health[System.XERO].budget, "the Xero client reports its remaining calls"
    assert not any(k.startswith("xero.") for k in health[System.XERO].budget)


def test_difference_column_matches_the_report_and_sorts_in_the_database(world: World) -> None:
    report = build_report(world.db, MONTH)
    expected = {(i["kind"], i["key"]): i["difference"] for i in report["items"] if "difference" in i}
    assert expected, "the month has items whose amounts differ"
    rows = world.ws.rows(world.ws.item_ids(ItemFilter(period=MONTH)))
    got = {(r.kind.value, r.key): r.difference for r in rows if r.difference}
    assert got == {k: v for k, v in expected.items() if v is not None}

    def ordered(order: str) -> list[str]:
        out, after = [], None
        while True:
            page = world.ws.page(ItemFilter(period=MONTH), order, after, limit=7)
            out.extend(r.difference for r in page.rows)
            if page.next is None:
                return out
            after = page.next

    ascending = ordered("difference")
    with_values = [Decimal(d) for d in ascending if d]
    assert ascending[: len(ascending) - len(with_values)] == [""] * (len(ascending) - len(with_values))  # NULLs first
    assert with_values == sorted(with_values) and len(with_values) == len(got)
    descending = [Decimal(d) for d in ordered("-difference") if d]
    assert descending == sorted(with_values, reverse=True)
