"""Use case: reconcile the cache. Walks the invoice keys in chunks (memory does not grow with the cache), loads a
chunk's records of both systems (a Xero refund is already on the invoice its credit note names: storage places it
when either is stored), runs the pure engine, applies people's decisions on top, and stores the chunk's items, all in
one process and one transaction. After an incremental sync only the invoice keys the sync touched are redone, and
what they need (duplicate numbers, linked keys) is found through indexes on those keys only.

A decision holds while its fingerprint equals the item's: a hash of the item's status and of what was decided on
(the differing fields' values on both sides; for a one-sided item, the record's own key values; for an invalid one,
its reason). When the data changes, the fingerprint changes, the decision lapses and the item shows its new status.
A manual match is handed to the engine (which pairs the two records); the invoice keys of its two records are
reconciled in the same chunk, like the keys `_key_groups` links.
Must not: talk to the network, import Qt, or compare fields itself (the engine does).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise

from app.domain.keys import invoice_key as normalize
from app.domain.money import MoneyError, fmt, to_minor
from app.domain.progress import CancelToken, ProgressEvent
from app.domain.records import Invoice, Payment
from app.domain.status import ItemStatus, Kind, Role, System, system_for
from app.reconcile.diff import canonical_ledger_invoice
from app.reconcile.engine import ItemResult, reconcile
from app.reconcile.explain import Sides, item_reason
from app.reconcile.rules import Rules, natural_id, norm_ci
from app.services.signoff import flag_drift
from app.settings import Settings
from app.storage import decisions as decision_repo
from app.storage import items as item_repo
from app.storage import records as record_repo
from app.storage import signoffs as signoff_repo
from app.storage.db import Database, Tx
from app.storage.models import Decision, ItemData

log = logging.getLogger(__name__)

SIDES = Sides(system_for(Role.SOURCE).label, system_for(Role.LEDGER).label)

RESOLVABLE = frozenset({ItemStatus.DIFFERS, ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER})


def rules_from(settings: Settings) -> Rules:
    return Rules(
        money_tolerance=settings.money_tolerance,
        method_accounts=dict(settings.method_accounts),
        duplicate_window_days=max(0, settings.duplicate_window_days),
        money_tolerance_percent=settings.money_tolerance_percent,
        payment_date_window_days=max(0, settings.payment_date_window_days),
        contact_ignore_suffixes=settings.contact_ignore_suffixes,
    )


ITEM_SHAPE = "0012_item_difference"
"""What reconciling writes on an item, by the migration that last added to it: part of the rules digest, so the first
sync after such a migration reconciles every key once and no item keeps the new column empty."""


def rules_digest(settings: Settings) -> str:
    """A short name for the matching rules (tolerance, method accounts) and the item shape: equal, equal digest."""
    rules = rules_from(settings)
    parts: list[object] = [
        str(rules.money_tolerance),
        sorted(rules.method_accounts.items()),
        rules.duplicate_window_days,
        ITEM_SHAPE,
    ]
    # Settings added later join the digest only when set, so a cache at their defaults keeps its digest.
    extra = {
        "money_tolerance_percent": str(rules.money_tolerance_percent) if rules.money_tolerance_percent else None,
        "payment_date_window_days": rules.payment_date_window_days or None,
        "contact_ignore_suffixes": rules.contact_ignore_suffixes or None,
    }
    parts += [[k, v] for k, v in extra.items() if v is not None]
    text = json.dumps(parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(result: ItemResult) -> str:
    """What a decision on this item was made on, as a short stable hash (see the module docstring)."""
    parts: list[object] = [result.kind.value, result.key, result.status.value]
    if result.invalid is not None:
        parts.append(result.invalid.reason)
    elif result.status is ItemStatus.MATCHED:
        pass  # nothing to decide on; and formatting every field of every matched item is most of a run's cost
    elif result.source is not None and result.ledger is not None:
        parts.extend([c.field, c.source_value, c.ledger_value] for c in result.comparisons if not c.equal)
    else:
        rec = result.source or result.ledger
        if isinstance(rec, Invoice):
            parts.extend(
                [
                    rec.number,
                    rec.currency,
                    fmt(rec.total, rec.currency),
                    rec.state.value,
                    fmt(rec.paid, rec.currency),
                    str(rec.issue_date),
                    str(rec.due_date),
                    rec.po_number,
                ]
            )
        elif isinstance(rec, Payment):
            parts.extend(
                [
                    rec.invoice_number,
                    rec.currency,
                    fmt(rec.amount, rec.currency),
                    str(rec.date),
                    rec.reference,
                    rec.method,
                    rec.direction.value,
                ]
            )
    if result.credit_note is not None:  # a decision on a ledger-only credit holds while its amounts do
        cn = result.credit_note
        parts.extend([cn.number, cn.currency, fmt(cn.total, cn.currency), fmt(cn.remaining, cn.currency)])
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _minor(amount: Decimal, currency: str) -> int | None:
    try:
        return to_minor(amount, currency)
    except MoneyError:
        return None


AMOUNT_FIELDS = ("total", "net", "tax", "paid", "due", "amount")
"""The amounts whose difference an item carries (ledger minus source), the first differing one in this order."""


def difference_minor(result: ItemResult) -> int | None:
    """Ledger minus source of the item's first differing amount, in minor units of its currency (the ledger's
    invoice canonical: its refunds applied, as compared); None when no amount differs or a side is missing."""
    name = next((f for f in AMOUNT_FIELDS if f in result.fields), None)
    src, led = result.source, result.ledger
    if name is None or src is None or led is None or result.invalid is not None or type(src) is not type(led):
        return None
    if isinstance(led, Invoice) and result.rules is not None:
        led = canonical_ledger_invoice(led, result.rules, result.ledger_refunds)
    a, b = getattr(src, name, None), getattr(led, name, None)
    if not isinstance(a, Decimal) or not isinstance(b, Decimal):
        return None
    return _minor(b - a, src.currency)


def to_item_data(
    result: ItemResult,
    record_ids: Mapping[tuple[str, str, str], int],
    contacts: Mapping[str, str],
    decision: Decision | None = None,
    match: Decision | None = None,
) -> ItemData:
    """The stored form of one engine result, with a person's decision applied when it still holds."""
    src, led, bad = result.source, result.ledger, result.invalid
    first = src or led
    fp = fingerprint(result)
    status, note = result.status, ""
    if decision is not None and decision.fingerprint == fp and result.status in RESOLVABLE:
        status, note = ItemStatus.RESOLVED, decision.note
    elif result.manual:
        note = "Matched by hand"
    number, contact, day, currency, amount, reference = "", "", None, "", None, ""
    if isinstance(first, Invoice):
        number, contact, day, currency = first.number, first.contact, first.issue_date, first.currency
        amount, reference = _minor(first.total, currency), first.po_number
    elif isinstance(first, Payment):
        number = (src.invoice_number if isinstance(src, Payment) else None) or first.invoice_number or ""
        contact = contacts.get(result.invoice_key, "")
        day, currency, reference = first.date, first.currency, first.reference
        amount = _minor(first.amount, currency)
    elif bad is not None:
        number, day = bad.number or "", bad.date
        contact = contacts.get(result.invoice_key, "")
    note_rec = result.credit_note
    if note_rec is not None:
        # The invoice it names (its Reference), as payments show theirs; the key carries its own number.
        number, contact, day, currency = note_rec.reference, note_rec.contact, note_rec.date, note_rec.currency
        amount, reference = _minor(note_rec.total, currency), note_rec.reference

    def rid(rec: Invoice | Payment | None) -> int | None:
        return None if rec is None else record_ids.get((rec.system.value, rec.kind.value, rec.id))

    source_id = src.id if src is not None else None
    ledger_id = led.id if led is not None else note_rec.id if note_rec is not None else None
    invalid_id = None
    if bad is not None:
        invalid_id = record_ids.get((bad.system.value, bad.kind.value, bad.id))
        if bad.system.role is Role.SOURCE:
            source_id = bad.id
        else:
            ledger_id = bad.id
    return ItemData(
        kind=result.kind,
        key=result.key,
        status=status,
        fields=result.fields,
        invoice_key=result.invoice_key,
        invoice=number,
        period=result.period,
        contact=contact,
        date=day,
        currency=currency,
        amount_minor=amount,
        reference=reference,
        source_id=source_id,
        ledger_id=ledger_id,
        source_record_id=rid(src),
        ledger_record_id=rid(led)
        if note_rec is None
        else record_ids.get((note_rec.system.value, note_rec.kind.value, note_rec.id)),
        invalid_record_id=invalid_id,
        note=note,
        fingerprint=fp,
        flags=result.flags,
        twin=result.twin.id if result.twin is not None else None,
        reason=(
            credit_note_reason(result)
            if note_rec is not None
            else item_reason(result, SIDES, by=match.who, note=match.note)
            if match
            else item_reason(result, SIDES)
        ),
        difference_minor=difference_minor(result),
    )


def credit_note_reason(result: ItemResult) -> str:
    """The `reason` of a credit note item: its number, total, what was allocated or refunded, and what remains."""
    cn = result.credit_note
    assert cn is not None
    cur = cn.currency
    used = f"{fmt(cn.total - cn.remaining, cur)} allocated or refunded"
    head = f"{SIDES.ledger} credit note {cn.number} of {fmt(cn.total, cur)} {cur}"
    on = f" (reference {cn.reference})" if cn.reference else ""
    if cn.kind is not Kind.CREDIT_NOTE:  # an overpayment or a prepayment: money received, not a credit raised
        what = "overpayment" if cn.kind is Kind.OVERPAYMENT else "prepayment"
        head = f"{SIDES.ledger} {what}{' ' + cn.number if cn.number else ''} of {fmt(cn.total, cur)} {cur}"
        used = f"{fmt(cn.total - cn.remaining, cur)} allocated to invoices"
        on = f" (first allocated to {cn.reference})" if cn.reference else ""
    if result.status is ItemStatus.MATCHED:
        return f"{head}{on} is used up: {used}, nothing remains."
    return (
        f"{head}{on} has {fmt(cn.remaining, cur)} {cur} left unallocated ({used}): a credit only "
        f"{SIDES.ledger} holds; {SIDES.source} has no record of it."
    )


def _contacts(*invoice_lists: Sequence[Invoice]) -> dict[str, str]:
    out: dict[str, str] = {}
    for invoices in invoice_lists:
        for inv in invoices:
            out.setdefault(normalize(inv.number), inv.contact)
    return out


CHUNK_KEYS = 2000  # invoice keys reconciled at a time: bounds a run's memory, whatever the size of the cache


def match_keys(match: Decision) -> tuple[str, str]:
    """The invoice keys of a manual match's two records: the source's (from the item key) and the ledger's."""
    own = match.key if match.kind.value == "invoice" else match.key.rsplit(":", 2)[0]
    return normalize(own), normalize(match.link_key or own)


def _repeat_invoice_keys(tx: Tx, scope: Collection[str] | None) -> list[set[str]]:
    """Sets of invoice keys the engine must see together to flag invoices that repeat each other under other numbers
    (`rules.invoices_repeat`: one system, issue date, total, currency and contact as compared), among those an
    invoice in `scope` (None: any) takes part in. Only a one-sided invoice is flagged, and its twin is the first
    matched one (lowest id) or an earlier one-sided one: a set is the one-sided keys and that first matched key."""
    out: list[set[str]] = []
    for (system, *_rest), found in record_repo.same_date_and_total(tx, scope).items():
        by_contact: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key, contact, rid in found:
            who = norm_ci(contact)
            if who:
                by_contact[who].append((key, rid))
        role = System(system).role
        other = system_for(Role.LEDGER if role is Role.SOURCE else Role.SOURCE)
        for members in by_contact.values():
            keys = {k for k, _r in members}
            if len(keys) < 2:
                continue
            in_both = record_repo.keys_with_invoices(tx, other, keys)
            linked = keys - in_both
            if not linked:
                continue  # every one is matched: nothing to flag
            paired = [(natural_id(rid), k) for k, rid in members if k in in_both]
            if paired:
                linked.add(min(paired)[1])
            if len(linked) > 1:
                out.append(linked)
    return out


def _key_groups(tx: Tx, keys: Collection[str] | None, matches: Iterable[Decision] = ()) -> dict[str, frozenset[str]]:
    """Invoice keys that must be reconciled in the same chunk. The engine sets aside an accessplanit payment that
    hangs (by invoice id) on an invoice set aside as a duplicate, even when the payment's own invoice number has
    another key (a number changed since the payment was read): both keys then go together. Invoices that may repeat
    each other under different numbers (same system, contact, issue date and total) go together too, so the engine
    sees both and flags one `possible_duplicate`. Rare; usually empty.

    `keys`: only the groups these keys take part in (closed over: a linked key brings its own links), found through
    the indexes on those keys; None: every group of the cache."""
    ap = system_for(Role.SOURCE)
    scope = None if keys is None else set(keys)
    match_links: dict[str, set[str]] = defaultdict(set)
    for m in matches:
        a, b = match_keys(m)
        if a != b:
            match_links[a].add(b)
            match_links[b].add(a)
    while True:
        duplicate_of: dict[str, str] = {}  # remote id of a duplicate accessplanit invoice -> its key
        for key, ids in record_repo.shared_invoice_keys(tx, ap, scope).items():
            if key:  # invoices without a number are all invalid; their payments too
                for rid in sorted(ids, key=natural_id)[1:]:  # the lowest id takes part (match._by_key)
                    duplicate_of[rid] = key
        neighbours: dict[str, set[str]] = defaultdict(set)
        for a, linked in match_links.items():
            if scope is None or a in scope:
                neighbours[a] |= linked
                for b in linked:
                    neighbours[b].add(a)
        for iid, payment_keys in record_repo.payment_keys_on_invoice_ids(tx, ap, duplicate_of).items():
            for pk in payment_keys:
                if pk != duplicate_of[iid]:
                    neighbours[pk].add(duplicate_of[iid])
                    neighbours[duplicate_of[iid]].add(pk)
        # Invoices that may repeat each other under other numbers (the engine's `possible_duplicate`) are compared in
        # one chunk; an item flagged against an invoice in scope is redone with it (the twin may have changed).
        for repeats in _repeat_invoice_keys(tx, scope):
            ordered = sorted(repeats)
            for a, b in pairwise(ordered):
                neighbours[a].add(b)
                neighbours[b].add(a)
        if scope is None:
            break
        for flagged, twin_key in item_repo.invoice_twin_keys(tx):
            if twin_key in scope and flagged != twin_key:
                neighbours[flagged].add(twin_key)
                neighbours[twin_key].add(flagged)
        # A payment on a key in scope may hang on a duplicate on a key outside it: take that key in and look again.
        wider = scope | set(neighbours) | record_repo.invoice_keys_behind_payments(tx, ap, scope)
        if wider == scope:
            break
        scope = wider
    groups: dict[str, frozenset[str]] = {}
    for start in neighbours:
        if start in groups:
            continue
        seen, todo = {start}, [start]
        while todo:
            for nxt in neighbours[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        group = frozenset(seen)
        groups.update(dict.fromkeys(group, group))
    return groups


def _chunks(keys: Sequence[str], groups: Mapping[str, frozenset[str]], size: int) -> Iterator[list[str]]:
    """`keys` (sorted) in runs of about `size`, linked keys kept in one run."""
    placed: set[str] = set()  # only keys of groups: few
    chunk: list[str] = []
    for key in keys:
        if key in placed:
            continue
        group = groups.get(key)
        if group is None:
            chunk.append(key)
        else:
            chunk.extend(sorted(group - placed))
            placed |= group
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True, slots=True)
class _Context:
    """What every chunk of one run shares: the rules and people's decisions."""

    rules: Rules
    decisions: Mapping[tuple[str, str], Decision]
    matches: Sequence[Decision] = ()
    signed: Mapping[str, signoff_repo.SignoffRecord] = field(default_factory=dict)  # period -> sign-off in force


def _context(tx: Tx, settings: Settings) -> _Context:
    return _Context(
        rules=rules_from(settings),
        decisions=decision_repo.active_decisions(tx),
        matches=tuple(decision_repo.active_matches(tx).values()),
        signed=signoff_repo.current_signoffs(tx),
    )


def _run_keys(tx: Tx, ctx: _Context, keys: Sequence[str]) -> list[ItemData]:
    """Reconcile the records of these invoice keys ("" = records without a number) and nothing else.

    Every rule of the engine looks within one invoice key, so a run over all keys in chunks gives exactly the items
    of one run over everything (the one exception is linked by `_key_groups`). A Xero refund is stored on the key of
    its credit note's reference (`records.place_refunds`), wherever its own invoice number points."""
    ap, xero = system_for(Role.SOURCE), system_for(Role.LEDGER)
    found = record_repo.load_on_keys(tx, set(keys))
    src_inv, led_inv = found.invoices[ap], found.invoices[xero]
    results = reconcile(
        source_invoices=src_inv,
        ledger_invoices=led_inv,
        source_payments=found.payments[ap],
        ledger_payments=found.payments[xero],
        invalid=found.invalid,
        rules=ctx.rules,
        manual_pairs=[(m.kind, m.source_id, m.ledger_id) for m in ctx.matches if m.source_id and m.ledger_id],
        ledger_credit_notes=[cn for cn in found.credit_notes if cn.system is xero],
    )
    contacts = _contacts(src_inv, led_inv)
    by_hand: dict[object, Decision] = {(m.kind, m.source_id, m.ledger_id): m for m in ctx.matches}  # who, and why
    data = [
        to_item_data(r, found.ids, contacts, ctx.decisions.get((r.kind.value, r.key)), by_hand.get(_pair(r)))
        for r in results
    ]
    # Drift: items of a signed-off period whose values moved since get `reopened` (these keys only, no rescan).
    return flag_drift(tx, ctx.signed, results, data, ctx.rules)


def _pair(result: ItemResult) -> tuple[Kind, str | None, str | None] | None:
    """(kind, source id, ledger id) of an item a person matched by hand; None for any other item."""
    if not result.manual or result.source is None or result.ledger is None:
        return None
    return (result.kind, result.source.id, result.ledger.id)


RECONCILING = "reconciling"  # the stage of its progress events
LINING_UP = "Lining up both systems"


def reconcile_all(
    db: Database,
    settings: Settings,
    keys: Collection[str] | None = None,
    *,
    chunk_keys: int = CHUNK_KEYS,
    progress: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, int]:
    """Reconcile the cache and store the items; returns the item count per status (all items).

    `keys`: only the items of these invoice keys (normalized here; "" = records without a number) are redone,
    e.g. those an incremental sync touched; None redoes everything and drops items of keys no record carries.
    Works in chunks of `chunk_keys` invoice keys, so memory does not grow with the cache, in one transaction.

    `progress` hears of each chunk stored (invoice keys done, of all, and the time left); `cancel` is checked
    before each chunk: a cancelled run raises `CancelledError` and its transaction is rolled back, so the items stay
    exactly as the last complete reconcile left them."""
    with db.transaction() as tx:
        return reconcile_in(tx, settings, keys, chunk_keys=chunk_keys, progress=progress, cancel=cancel)


def reconcile_in(
    tx: Tx,
    settings: Settings,
    keys: Collection[str] | None = None,
    *,
    chunk_keys: int = CHUNK_KEYS,
    progress: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, int]:
    """`reconcile_all` inside the caller's transaction (a decision and the items it changes commit together)."""
    ctx = _context(tx, settings)
    if keys is None:
        groups = _key_groups(tx, None, ctx.matches)
        todo = record_repo.invoice_keys(tx)
    else:
        asked = {normalize(k) for k in keys}
        groups = _key_groups(tx, asked, ctx.matches)
        todo = sorted(asked.union(*(groups.get(k, frozenset()) for k in asked)))
    token = cancel or CancelToken()
    token.check()
    total, started, done = len(todo), time.monotonic(), 0

    def tell(eta: float | None = None) -> None:
        if progress is not None:
            event = ProgressEvent(RECONCILING, done, total, eta_seconds=eta, message=LINING_UP, unit="invoices")
            progress(event)

    tell()
    stale: set[int] = set()
    for chunk in _chunks(todo, groups, max(1, chunk_keys)):
        token.check()
        gone, claimed = item_repo.upsert_items_for_keys(tx, chunk, _run_keys(tx, ctx, chunk))
        # An item dropped by one chunk may reappear in a later one (an invalid record whose number changed):
        # it is deleted only when no chunk produced it.
        stale = (stale - claimed) | gone
        done += len(chunk)
        tell((time.monotonic() - started) / done * (total - done) if done else None)
    item_repo.delete_items(tx, stale)
    if keys is None:
        item_repo.delete_items_on_keys(tx, item_repo.item_invoice_keys(tx) - set(todo))
    return item_repo.count_by_status(tx)


def reconcile_invoice(db: Database, settings: Settings, invoice_key: str) -> list[ItemData]:
    """Re-reconcile one invoice and its payments (after a push) and store those items only."""
    key = normalize(invoice_key)
    with db.transaction() as tx:
        ctx = _context(tx, settings)
        if key and any(key in match_keys(m) for m in ctx.matches):
            linked = sorted(_key_groups(tx, [key], ctx.matches).get(key, frozenset({key})))
            data = _run_keys(tx, ctx, linked)
            stale, _claimed = item_repo.upsert_items_for_keys(tx, linked, data)  # a match spans two invoice keys
            item_repo.delete_items(tx, stale)
            return data
        if key:
            data = _run_keys(tx, ctx, [key])
        else:
            data = []  # records without a readable number (key "") only take part in a full reconcile
        item_repo.upsert_items_for_invoice(tx, key, data)
        return data
