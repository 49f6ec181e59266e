"""The reconciliation engine: records of both systems in, one `ItemResult` per item out.

It decides `matched`, `differs`, `only_in_source`, `only_in_ledger` and `invalid` (docs/reconciliation.md).
It also flags possible duplicates (`flag_duplicates`: a one-sided record that repeats another of its own system).
It does NOT decide `resolved`: people's decisions live in the services, which apply them on top of these
results (and drop a decision when the data it was made on has changed). The one decision it honours itself is a
manual match (`manual_pairs`): two one-sided items of the same kind and currency that a person paired become one
item, compared field by field like any pair (under the source's key); a pair whose records are gone or already
paired is left alone. Deleted records take no part.
Everything is grouped through dicts, so 100,000 invoices and 150,000 payments take seconds, not hours.
Must not: do I/O, read settings or the clock, or keep state between calls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from app.domain.keys import credit_note_key, invalid_key, invoice_key, payment_key
from app.domain.records import CreditNote, InvalidRecord, Invoice, Payment
from app.domain.status import Direction, ItemStatus, Kind, Role
from app.reconcile.diff import (
    FieldComparison,
    compare_invoice,
    compare_payment,
    invoice_differences,
    payment_differences,
)
from app.reconcile.match import match_invoices, match_payments
from app.reconcile.rules import (
    POSSIBLE_DUPLICATE,
    Rules,
    invoices_repeat,
    natural_id,
    norm_ci,
    payments_repeat,
)

REASON_DUPLICATE = "duplicate invoice number"
REASON_NO_NUMBER = "missing invoice number"
REASON_INVOICE_NOT_KNOWN = "payment on an invoice that is not known (missing, unreadable or a duplicate)"


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One reconciliation item. `key` is the report key (product.md section 5); `fields` lists the canonical
    names of the differing fields, in canonical order (exactly the comparisons that are not equal)."""

    kind: Kind
    key: str
    status: ItemStatus
    fields: tuple[str, ...]
    source: Invoice | Payment | None  # the source's record
    ledger: Invoice | Payment | None  # the ledger's record
    invoice_key: str  # the invoice's normalized number ("" when unknown); for payments, the invoice it is on
    period: str | None  # YYYY-MM (section 6); None when no date is known
    invalid: InvalidRecord | None  # set for `invalid` items
    tier: int | None = None  # payment pairs: the matching tier (1-4) that paired them
    ledger_refunds: Decimal = Decimal(0)  # invoices: R of section 4 used in the comparison
    rules: Rules | None = None  # the rules the item was reconciled with (for `comparisons`)
    manual: bool = False  # paired by a person's match decision, not by the matching rules
    flags: tuple[str, ...] = ()  # product.md section 7; the engine sets `possible_duplicate` only
    twin: Invoice | Payment | None = None  # the record a `possible_duplicate` repeats (same system)
    credit_note: CreditNote | None = None  # `credit_note` items: the ledger's credit note (source/ledger are None)

    @property
    def comparisons(self) -> tuple[FieldComparison, ...]:
        """Field-by-field comparison with display values (`diff.compare_*`); empty for one-sided and invalid
        items. Built on demand: formatting every field of every item is most of a run's cost, and only the
        items someone opens need it. Its unequal fields are exactly `fields`."""
        if self.source is None or self.ledger is None or self.rules is None or self.invalid is not None:
            return ()
        if isinstance(self.source, Invoice) and isinstance(self.ledger, Invoice):
            return compare_invoice(self.source, self.ledger, self.rules, ledger_refunds=self.ledger_refunds)
        if isinstance(self.source, Payment) and isinstance(self.ledger, Payment):
            return compare_payment(self.source, self.ledger, self.rules)
        return ()


def month(day: date | None) -> str | None:
    """`YYYY-MM` of a date (the item's period), None without a date."""
    return f"{day.year:04d}-{day.month:02d}" if day is not None else None


def ledger_refunds(ledger_payments: Iterable[Payment]) -> dict[str, Decimal]:
    """R of section 4 per invoice key: the sum of the non-deleted ledger refunds on that invoice."""
    totals: dict[str, Decimal] = {}
    for p in ledger_payments:
        if p.direction is Direction.REFUND and not p.deleted:
            key = invoice_key(p.invoice_number)
            if key:  # a refund on invoice `?` adjusts nothing
                totals[key] = totals.get(key, Decimal(0)) + p.amount
    return totals


def reconcile(
    *,
    source_invoices: Iterable[Invoice],
    ledger_invoices: Iterable[Invoice],
    source_payments: Iterable[Payment],
    ledger_payments: Iterable[Payment],
    invalid: Iterable[InvalidRecord],
    rules: Rules,
    ledger_refunds_by_invoice: Mapping[str, Decimal] | None = None,
    manual_pairs: Collection[tuple[Kind, str, str]] = (),
    ledger_credit_notes: Iterable[CreditNote] = (),
) -> list[ItemResult]:
    """Reconcile everything. Order of the result: invoices by key, then payments by (invoice key, direction),
    then invalid items (those made here, by kind, system and natural id; then the given ones, in their order).

    `ledger_refunds_by_invoice` (keys are invoice numbers, normalized here) overrides R of section 4; when
    None it is computed from `ledger_payments`. `manual_pairs`: (kind, source record id, ledger record id) of
    the manual matches to honour. `ledger_credit_notes` become `credit_note` items after the payments
    (`credit_note_items`)."""
    ledger_payments = list(ledger_payments)
    if ledger_refunds_by_invoice is None:
        refunds = ledger_refunds(ledger_payments)
    else:
        refunds = {}
        for number, amount in ledger_refunds_by_invoice.items():
            key = invoice_key(number)
            refunds[key] = refunds.get(key, Decimal(0)) + amount

    items: list[ItemResult] = []
    made_invalid: list[ItemResult] = []
    zero = Decimal(0)

    taking_part: set[str] = set()  # keys of the source invoices that take part
    duplicate_ids: set[str] = set()  # source ids of invoices set aside as duplicates
    for pair in match_invoices(source_invoices, ledger_invoices):
        if pair.key and pair.source is not None:
            taking_part.add(pair.key)
            duplicate_ids.update(inv.id for inv in pair.source_duplicates)
        s, g = pair.source, pair.ledger
        if not pair.key:
            # No number to match on: each such record is unreadable for reconciliation.
            for inv in (s, g, *pair.source_duplicates, *pair.ledger_duplicates):
                if inv is not None:
                    made_invalid.append(_invalid_invoice(inv, REASON_NO_NUMBER))
            continue
        for inv in (*pair.source_duplicates, *pair.ledger_duplicates):
            made_invalid.append(_invalid_invoice(inv, REASON_DUPLICATE))
        # The source's issue date decides the period; the ledger's only when the source has none.
        issued = s.issue_date if s is not None else None
        period = month(issued if issued is not None else (g.issue_date if g is not None else None))
        r = zero
        if s is not None and g is not None:
            r = refunds.get(pair.key, zero)
            fields = invoice_differences(s, g, rules, ledger_refunds=r)
            status = ItemStatus.DIFFERS if fields else ItemStatus.MATCHED
        else:
            fields = ()
            status = ItemStatus.ONLY_IN_SOURCE if s is not None else ItemStatus.ONLY_IN_LEDGER
        items.append(
            ItemResult(
                kind=Kind.INVOICE,
                key=pair.key,
                status=status,
                fields=fields,
                source=s,
                ledger=g,
                invoice_key=pair.key,
                period=period,
                invalid=None,
                ledger_refunds=r,
                rules=rules,
            )
        )

    # accessplanit transactions always hang on one of its invoices. Without a number, or on an invoice that
    # takes no part (not read, unreadable, or set aside as a duplicate), a payment is "on an invoice id that
    # is not known" (section 5): pairing it under that number would compare it with another invoice's
    # payments.
    source_ok: list[Payment] = []
    for p in source_payments:
        if p.deleted:
            continue
        key = invoice_key(p.invoice_number)
        if not key:
            made_invalid.append(_invalid_payment(p, REASON_NO_NUMBER))
        elif key not in taking_part or (p.invoice_id is not None and p.invoice_id in duplicate_ids):
            made_invalid.append(_invalid_payment(p, REASON_INVOICE_NOT_KNOWN))
        else:
            source_ok.append(p)

    for pp in match_payments(source_ok, ledger_payments, rules):
        sp, lp = pp.source, pp.ledger
        key = payment_key(pp.invoice_key, sp.id if sp else None, lp.id if lp else None)
        period = month(sp.date if sp is not None else (lp.date if lp is not None else None))
        if sp is not None and lp is not None:
            fields = payment_differences(sp, lp, rules)
            status = ItemStatus.DIFFERS if fields else ItemStatus.MATCHED
        else:
            fields = ()
            status = ItemStatus.ONLY_IN_SOURCE if sp is not None else ItemStatus.ONLY_IN_LEDGER
        items.append(
            ItemResult(
                kind=Kind.PAYMENT,
                key=key,
                status=status,
                fields=fields,
                source=sp,
                ledger=lp,
                invoice_key=pp.invoice_key,
                period=period,
                invalid=None,
                tier=pp.tier,
                rules=rules,
            )
        )

    items.extend(credit_note_items(ledger_credit_notes, rules))
    if manual_pairs:
        items = _pair_by_hand(items, manual_pairs, refunds, rules)
    items = flag_duplicates(items, rules)
    # Deterministic whatever the input order: by kind, system and natural id.
    made_invalid.sort(key=_invalid_order)
    items.extend(made_invalid)
    for rec in invalid:
        items.append(
            ItemResult(
                rec.kind,
                invalid_key(rec.system.value, rec.kind.value, rec.id),
                ItemStatus.INVALID,
                (),
                None,
                None,
                invoice_key(rec.number),
                month(rec.date),
                rec,
            )
        )
    return items


CREDIT_NOTE_STATUSES = frozenset({"AUTHORISED", "PAID"})
"""The credit notes that are items: approved ones. Drafts, voided and deleted ones are stored, not reconciled."""


def credit_note_items(notes: Iterable[CreditNote], rules: Rules) -> list[ItemResult]:
    """One item per approved credit note (docs/reconciliation.md section 9), by key: `matched` when nothing of it
    remains (its allocations are in the invoices' credited amounts, its refunds are reconciled as refunds),
    `only_in_ledger` when credit remains that the source knows nothing of (a ledger-only credit). Overpayments and
    prepayments (`CreditNote.kind`) are items by the same rule; their allocations are payments on the invoices."""
    out: list[ItemResult] = []
    for cn in notes:
        if cn.status.strip().upper() not in CREDIT_NOTE_STATUSES:
            continue
        remains = abs(cn.remaining) > rules.money_tolerance
        out.append(
            ItemResult(
                cn.kind,  # credit_note, overpayment or prepayment: the same rule
                credit_note_key(cn.number, cn.id),
                ItemStatus.ONLY_IN_LEDGER if remains else ItemStatus.MATCHED,
                (),
                None,
                None,
                invoice_key(cn.reference),
                month(cn.date),
                None,
                rules=rules,
                credit_note=cn,
            )
        )
    out.sort(key=lambda i: i.key)
    return out


def _pair_by_hand(
    items: list[ItemResult],
    pairs: Collection[tuple[Kind, str, str]],
    refunds: Mapping[str, Decimal],
    rules: Rules,
) -> list[ItemResult]:
    """Join the one-sided items a person matched; each pair takes the place of its source item."""
    only_source = {
        (i.kind, i.source.id): n for n, i in enumerate(items) if i.status is ItemStatus.ONLY_IN_SOURCE and i.source
    }
    only_ledger = {
        (i.kind, i.ledger.id): n for n, i in enumerate(items) if i.status is ItemStatus.ONLY_IN_LEDGER and i.ledger
    }
    out: dict[int, ItemResult | None] = dict(enumerate(items))
    for kind, source_id, ledger_id in pairs:
        ns, nl = only_source.get((kind, source_id)), only_ledger.get((kind, ledger_id))
        if ns is None or nl is None or out[ns] is None or out[nl] is None:
            continue  # a record is gone, or the rules (or another match) already paired it
        s_item, l_item = items[ns], items[nl]
        s, g = s_item.source, l_item.ledger
        if isinstance(s, Invoice) and isinstance(g, Invoice) and s.currency == g.currency:
            r = refunds.get(l_item.key, Decimal(0))
            fields = invoice_differences(s, g, rules, ledger_refunds=r)
            key, tier = s_item.key, None
        elif isinstance(s, Payment) and isinstance(g, Payment) and s.currency == g.currency:
            r = Decimal(0)
            fields = payment_differences(s, g, rules)
            key, tier = payment_key(s_item.invoice_key, s.id, g.id), None
        else:
            continue
        status = ItemStatus.DIFFERS if fields else ItemStatus.MATCHED
        out[ns] = ItemResult(
            kind, key, status, fields, s, g, s_item.invoice_key, s_item.period, None, tier, r, rules, manual=True
        )
        out[nl] = None
    return [i for i in out.values() if i is not None]


def flag_duplicates(items: list[ItemResult], rules: Rules) -> list[ItemResult]:
    """Flag `possible_duplicate` on each one-sided item whose record repeats another record of its system
    (`rules.payments_repeat`, `rules.invoices_repeat`) among `items`; `twin` is that other record.

    Of two records that repeat each other, the one left one-sided by matching is the duplicate: its twin is a record
    that was matched, or else the earlier one (date, amount, then natural id), so exactly one of a pair is flagged.
    Payments are compared within their (invoice key, direction, system) group, invoices within (system, contact,
    issue date): the cost grows with the groups, not the square of the items."""
    groups: dict[tuple[object, ...], list[tuple[Invoice | Payment, bool]]] = {}
    for item in items:
        if item.invalid is not None:
            continue
        paired = item.source is not None and item.ledger is not None
        for rec in (item.source, item.ledger):
            if isinstance(rec, Payment):
                group: tuple[object, ...] = (Kind.PAYMENT, item.invoice_key, rec.direction, rec.system)
            elif isinstance(rec, Invoice) and rec.issue_date is not None:
                group = (Kind.INVOICE, rec.system, norm_ci(rec.contact), rec.issue_date)
            else:
                continue
            groups.setdefault(group, []).append((rec, paired))
    twins: dict[tuple[str, str, str], Invoice | Payment] = {}  # (system, kind, id) of a flagged record -> its twin
    for members in groups.values():
        if len(members) < 2 or all(paired for _r, paired in members):
            continue
        members.sort(key=lambda m: (0 if m[1] else 1, _when(m[0]), natural_id(m[0].id)))
        for pos, (rec, paired) in enumerate(members):
            if paired:
                continue
            # Matched records first, then the one-sided records before this one: the first that repeats it.
            for other, _ in members[:pos]:
                if _repeats(rec, other, rules):
                    twins[(rec.system.value, rec.kind.value, rec.id)] = other
                    break
    if not twins:
        return items
    out: list[ItemResult] = []
    for item in items:
        rec = item.source if item.source is not None else item.ledger
        twin = None
        if item.invalid is None and (item.source is None or item.ledger is None) and rec is not None:
            twin = twins.get((rec.system.value, rec.kind.value, rec.id))
        out.append(item if twin is None else dataclasses.replace(item, flags=(POSSIBLE_DUPLICATE,), twin=twin))
    return out


def _when(rec: Invoice | Payment) -> tuple[date, Decimal]:
    if isinstance(rec, Payment):
        return (rec.date, rec.amount)
    return (rec.issue_date or date.min, rec.total)


def _repeats(a: Invoice | Payment, b: Invoice | Payment, rules: Rules) -> bool:
    if isinstance(a, Payment) and isinstance(b, Payment):
        return payments_repeat(a, b, rules)
    if isinstance(a, Invoice) and isinstance(b, Invoice):
        return invoices_repeat(a, b, rules)
    return False


def _invalid_order(item: ItemResult) -> tuple[str, str, tuple[int, int, str]]:
    rec = item.invalid
    assert rec is not None
    return (rec.kind.value, rec.system.value, natural_id(rec.id))


def _invalid_invoice(inv: Invoice, reason: str) -> ItemResult:
    rec = InvalidRecord(inv.system, Kind.INVOICE, inv.id, reason, inv.number or None)
    source, ledger = (inv, None) if inv.system.role is Role.SOURCE else (None, inv)
    return ItemResult(
        Kind.INVOICE,
        invalid_key(inv.system.value, Kind.INVOICE.value, inv.id),
        ItemStatus.INVALID,
        (),
        source,
        ledger,
        invoice_key(inv.number),
        month(inv.issue_date),
        rec,
    )


def _invalid_payment(p: Payment, reason: str) -> ItemResult:
    rec = InvalidRecord(p.system, Kind.PAYMENT, p.id, reason, p.invoice_number)
    source, ledger = (p, None) if p.system.role is Role.SOURCE else (None, p)
    return ItemResult(
        Kind.PAYMENT,
        invalid_key(p.system.value, Kind.PAYMENT.value, p.id),
        ItemStatus.INVALID,
        (),
        source,
        ledger,
        invoice_key(p.invoice_number),
        month(p.date),
        rec,
    )
