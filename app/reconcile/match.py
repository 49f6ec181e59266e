"""Matching: which source record goes with which ledger record (docs/reconciliation.md sections 2 and 3).

Invoices pair by normalized number; payments pair within (invoice key, direction) groups in four tiers, never
across currencies, and an empty reference is never "the same reference".
Everything is grouped through dicts first, so the cost grows with the number of records, not its square.
Must not: compare fields (see `diff`), decide statuses (see `engine`) or do I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from app.domain.keys import invoice_key
from app.domain.records import Invoice, Payment
from app.domain.status import Direction
from app.reconcile.rules import Rules, natural_id, norm_ref


@dataclass(frozen=True, slots=True)
class InvoicePair:
    """The invoices of one key. `source`/`ledger` are the ones taking part (None: absent on that side);
    `*_duplicates` are further records with the same key on that side, which become `invalid` items."""

    key: str
    source: Invoice | None
    ledger: Invoice | None
    source_duplicates: tuple[Invoice, ...] = ()
    ledger_duplicates: tuple[Invoice, ...] = ()


@dataclass(frozen=True, slots=True)
class PaymentPair:
    """A matched pair or a one-sided payment. `tier`: the tier (1-4) that paired them, None when one-sided."""

    invoice_key: str
    direction: Direction
    source: Payment | None
    ledger: Payment | None
    tier: int | None = None


def _by_key(invoices: Iterable[Invoice]) -> dict[str, list[Invoice]]:
    groups: dict[str, list[Invoice]] = {}
    for inv in invoices:
        if not inv.deleted:  # tombstones take no part
            groups.setdefault(invoice_key(inv.number), []).append(inv)
    for group in groups.values():
        if len(group) > 1:
            group.sort(key=lambda inv: natural_id(inv.id))  # the lowest id takes part
    return groups


def match_invoices(source: Iterable[Invoice], ledger: Iterable[Invoice]) -> list[InvoicePair]:
    """Pair invoices by `invoice_key(number)`, sorted by key. Deleted invoices are left out.

    An empty key (no number) still forms a pair here; the engine turns such records into `invalid` items.
    """
    src, led = _by_key(source), _by_key(ledger)
    pairs: list[InvoicePair] = []
    for key in sorted(src.keys() | led.keys()):
        s, g = src.get(key, ()), led.get(key, ())
        pairs.append(
            InvoicePair(
                key,
                s[0] if s else None,
                g[0] if g else None,
                tuple(s[1:]),
                tuple(g[1:]),
            )
        )
    return pairs


def _order(p: Payment) -> tuple[date, Decimal, tuple[int, int, str]]:
    return (p.date, p.amount, natural_id(p.id))


def _cur(p: Payment) -> str:
    return p.currency.strip().upper()


def _ref(p: Payment) -> str | None:
    """The reference as the tiers compare it; None when empty (no reference is never "the same reference")."""
    return norm_ref(p.reference) or None


# Each tier: (the exact part of its test, used to bucket the ledger side; whether amounts must agree).
# Every tier has an exact date or reference, and every bucket its currency, so a bucket holds only plausible
# candidates. A bucket of None (an empty reference) holds nothing.
_Bucket = Callable[[Payment], Hashable]
_TIERS: tuple[tuple[int, _Bucket, bool], ...] = (
    (1, lambda p: (_cur(p), p.date, r) if (r := _ref(p)) else None, True),  # same amount, date and reference
    (2, lambda p: (_cur(p), r) if (r := _ref(p)) else None, True),  # same amount, same reference
    (3, lambda p: (_cur(p), p.date), True),  # same amount, same date
    (4, lambda p: (_cur(p), p.date, r) if (r := _ref(p)) else None, False),  # same date, same reference
)


def match_payments(source: Iterable[Payment], ledger: Iterable[Payment], rules: Rules) -> list[PaymentPair]:
    """Pair payments within (invoice key, direction) groups by the doc's four tiers (deleted ones: none).

    Within a tier, source payments are visited in (date, amount, natural id) order and each takes the first
    unpaired ledger payment in the same order that fits. Payments with no invoice key (a ledger refund whose
    credit note names no invoice) are never paired: they belong to invoice `?`. Output: groups sorted by (key,
    direction); in a group, pairs in source order, then leftover source, then leftover ledger payments."""
    groups: dict[tuple[str, Direction], tuple[list[Payment], list[Payment]]] = {}
    keys: dict[str | None, str] = {}  # invoice numbers repeat across payments: normalize each once
    for side, payments in ((0, source), (1, ledger)):
        for p in payments:
            if p.deleted:
                continue
            key = keys.get(p.invoice_number)
            if key is None:
                key = keys[p.invoice_number] = invoice_key(p.invoice_number)
            group = groups.get((key, p.direction))
            if group is None:
                group = groups[(key, p.direction)] = ([], [])
            group[side].append(p)

    out: list[PaymentPair] = []
    for key, direction in sorted(groups):
        src, led = groups[(key, direction)]
        if len(src) > 1:  # most groups hold one payment a side: no sort keys to build
            src.sort(key=_order)
        if len(led) > 1:
            led.sort(key=_order)
        if key and len(src) == 1 and len(led) == 1:
            # One against one: the first tier that fits decides, if any does.
            s, g = src[0], led[0]
            tier = next((t for t in (1, 2, 3, 4) if _fits(t, s, g, rules)), None)
            if tier is not None:
                out.append(PaymentPair(key, direction, s, g, tier))
            else:
                out += (PaymentPair(key, direction, s, None), PaymentPair(key, direction, None, g))
        elif key and src and led:
            out.extend(_pair_group(key, direction, src, led, rules))
        else:
            out.extend(PaymentPair(key, direction, p, None) for p in src)
            out.extend(PaymentPair(key, direction, None, p) for p in led)
    return out


def _fits(tier: int, s: Payment, g: Payment, rules: Rules) -> bool:
    """The doc's tier tests, literally (the small-group path and the oracle of the bucketed path). "Same date" is
    `rules.dates_close` (the same day unless a payment date window is set). Payments in different currencies never
    fit: they are different payments, whatever their amounts say."""
    if _cur(s) != _cur(g):
        return False
    if tier == 1:
        return rules.dates_close(s.date, g.date) and _same_ref(s, g) and rules.amounts_equal(s.amount, g.amount)
    if tier == 2:
        return _same_ref(s, g) and rules.amounts_equal(s.amount, g.amount)
    if tier == 3:
        return rules.dates_close(s.date, g.date) and rules.amounts_equal(s.amount, g.amount)
    return rules.dates_close(s.date, g.date) and _same_ref(s, g)


def _same_ref(s: Payment, g: Payment) -> bool:
    """Trimmed, case-folded and not empty: two payments without a reference do not share one."""
    ref = _ref(s)
    return ref is not None and ref == _ref(g)


_SMALL = 16  # below this many candidate pairs, plain loops beat building buckets


def _pair_group(
    key: str, direction: Direction, src: list[Payment], led: list[Payment], rules: Rules
) -> list[PaymentPair]:
    partner: dict[int, tuple[int, int]] = {}  # source index -> (ledger index, tier)
    taken = [False] * len(led)
    if len(src) * len(led) <= _SMALL or rules.payment_date_window_days:
        # Most groups are one payment against one payment: the literal tier loops, no dicts. A date window makes
        # "same date" a range, which the buckets (by exact date) cannot find.
        for tier in (1, 2, 3, 4):
            for i, s in enumerate(src):
                if i in partner:
                    continue
                for j, g in enumerate(led):
                    if not taken[j] and _fits(tier, s, g, rules):
                        taken[j] = True
                        partner[i] = (j, tier)
                        break
        return _pairs(key, direction, src, led, partner, taken)
    for tier, bucket_of, need_amount in _TIERS:
        if len(partner) == len(src) or all(taken):
            break
        # Unpaired ledger payments per bucket, in ledger order (led is sorted already).
        buckets: dict[Hashable, list[int]] = {}
        for j, p in enumerate(led):
            if not taken[j] and (b := bucket_of(p)) is not None:
                buckets.setdefault(b, []).append(j)
        for i, s in enumerate(src):
            if i in partner:
                continue
            b = bucket_of(s)
            candidates = buckets.get(b) if b is not None else None
            if not candidates:
                continue
            for pos, j in enumerate(candidates):
                if not need_amount or rules.amounts_equal(s.amount, led[j].amount):
                    del candidates[pos]
                    taken[j] = True
                    partner[i] = (j, tier)
                    break
    return _pairs(key, direction, src, led, partner, taken)


def _pairs(
    key: str,
    direction: Direction,
    src: list[Payment],
    led: list[Payment],
    partner: dict[int, tuple[int, int]],
    taken: list[bool],
) -> list[PaymentPair]:
    pairs: list[PaymentPair] = []
    for i, s in enumerate(src):
        if i in partner:
            j, tier = partner[i]
            pairs.append(PaymentPair(key, direction, s, led[j], tier))
    pairs.extend(PaymentPair(key, direction, s, None) for i, s in enumerate(src) if i not in partner)
    pairs.extend(PaymentPair(key, direction, None, p) for j, p in enumerate(led) if not taken[j])
    return pairs
