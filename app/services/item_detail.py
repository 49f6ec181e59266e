"""The item panel: one item's side-by-side diff, lines, raw payloads, pushes, audit and the actions offered now.

Must not: write anything, or decide what differs (the reconcile rule table and `diff` do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from app.domain.keys import invoice_key
from app.domain.money import fmt
from app.domain.records import CreditNote, Invoice, Line, Payment, allocated_from
from app.domain.status import CREDIT_KINDS, ItemStatus, Kind, PushState, Resolution, Role, System
from app.reconcile import diff
from app.reconcile.rules import INVOICE_FIELDS, PAYMENT_FIELDS, Rules
from app.services import plans, signoff
from app.services.api import (
    ActionSpec,
    AuditEntry,
    DriftRow,
    FieldDiff,
    ItemDetail,
    Match,
    PushField,
    PushRecord,
    PushRow,
    Reopen,
    Resolve,
    RetryPush,
    Revert,
    Unmatch,
)
from app.services.item_queries import ROLES, ItemAccess, to_row
from app.services.resolve import RESOLUTION_LABELS, RESOLVABLE, is_matched_by_hand
from app.storage import audit as audit_repo
from app.storage import outbox
from app.storage import records as records_repo
from app.storage import signoffs as signoff_repo
from app.storage.db import Database
from app.storage.models import ItemRecord
from app.storage.models import PushRecord as StoredPush

_RETRYABLE = (PushState.FAILED, PushState.UNCERTAIN, PushState.SENDING)


def to_push_row(p: StoredPush) -> PushRow:
    return PushRow(
        push_id=p.id,
        action=p.action,
        target=System(p.target),
        state=PushState(p.state),
        attempts=p.attempts,
        last_error=p.last_error,
        idempotency_key=p.idempotency_key,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def _lines(lines: Sequence[Line], currency: str) -> tuple[tuple[str, str, str], ...]:
    return tuple((ln.description, fmt(ln.net, currency), fmt(ln.tax, currency)) for ln in diff.sorted_lines(lines))


class ItemDetails(ItemAccess):
    """Builds `ItemDetail`s with the matching rules in force."""

    def __init__(self, db: Database, rules: Rules) -> None:
        super().__init__(db)
        self.rules = rules

    def _ledger_refunds(self, number_key: str) -> Decimal:
        """R of docs/reconciliation.md section 4 for one invoice, for the diff panel's canonical ledger values."""
        with self.db.transaction(readonly=True) as tx:
            return records_repo.ledger_refunds_on_key(tx, number_key)

    def item_detail(self, item_id: int) -> ItemDetail:
        item = self._item(item_id)
        src, led, bad = self._records(item)
        a = src.record if src is not None else None
        b = led.record if led is not None else None
        diffs: list[FieldDiff] = []
        lines_a: tuple[tuple[str, str, str], ...] = ()
        lines_b: tuple[tuple[str, str, str], ...] = ()
        if item.kind is Kind.INVOICE and (isinstance(a, Invoice) or isinstance(b, Invoice)):
            ia = a if isinstance(a, Invoice) else None
            ib = b if isinstance(b, Invoice) else None
            refunds = self._ledger_refunds(item.invoice_key) if ib is not None else Decimal(0)
            comps = diff.compare_invoice(ia, ib, self.rules, ledger_refunds=refunds)
            pushable = {r.name: ROLES.systems(r.pushable_to) for r in INVOICE_FIELDS}
            diffs = [self._field_diff(c, pushable, both=ia is not None and ib is not None) for c in comps]
            lines_a = _lines(ia.lines, ia.currency) if ia else ()
            lines_b = _lines(ib.lines, ib.currency) if ib else ()
        elif item.kind is Kind.PAYMENT and (isinstance(a, Payment) or isinstance(b, Payment)):
            pa = a if isinstance(a, Payment) else None
            pb = b if isinstance(b, Payment) else None
            pushable = {r.name: ROLES.systems(r.pushable_to) for r in PAYMENT_FIELDS}
            comps = diff.compare_payment(pa, pb, self.rules)
            diffs = [self._field_diff(c, pushable, both=pa is not None and pb is not None) for c in comps]
        with self.db.transaction(readonly=True) as tx:
            pushes = outbox.pushes_for(tx, item.kind, item.key)
            audit = audit_repo.list_audit(tx, 200, item_key=item.key)
        raw_a = _pretty(src.raw) if src is not None else ""
        raw_b = _pretty(led.raw) if led is not None else ""
        error = ""
        if bad is not None:
            error = bad.invalid_reason or ""
            if bad.system is ROLES.source:
                raw_a = _pretty(bad.raw)
            else:
                raw_b = _pretty(bad.raw)
        actions = self._actions(item, a, b, pushes)
        # A flagged item is never offered for push: its pushes are held back, to be overridden with a note.
        held = [s for s in actions if item.flags and isinstance(s.action, (PushRecord, PushField))]
        actions = suggest([s for s in actions if s not in held], item.flags)
        twin_label, twin_values = self._twin(item, a if a is not None else b)
        return ItemDetail(
            row=to_row(item),
            diffs=tuple(diffs),
            lines_source=lines_a,
            lines_ledger=lines_b,
            actions=tuple(actions),
            pushes=tuple(to_push_row(p) for p in pushes),
            audit=tuple(audit_entry(e) for e in audit),
            error=error,
            raw_source=raw_a,
            raw_ledger=raw_b,
            twin_label=twin_label,
            twin_values=twin_values,
            held_back=tuple(held),
            notes=self._notes(item, a, b),
            **self._drift(item),
        )

    def _notes(self, item: ItemRecord, *recs: object) -> tuple[str, ...]:
        """Combined payments, credit notes (of a credit note item, or behind a refund) and foreign-currency rates,
        one sentence each."""
        notes: list[str] = []
        with self.db.transaction(readonly=True) as tx:
            if item.kind in CREDIT_KINDS and item.ledger_id:
                note = records_repo.credit_note(tx, ROLES.ledger, item.ledger_id)
                if note is not None:
                    notes.append(_credit_note_text(note, f"{note.system.label} {_credit_label(note.kind)}"))
            for rec in recs:
                if isinstance(rec, Invoice) and rec.rate is not None:
                    notes.append(
                        f"{rec.system.label} invoice in {rec.currency} at rate {rec.rate} (compared in "
                        f"{rec.currency}; nothing is converted)."
                    )
                if not isinstance(rec, Payment):
                    continue
                credit = allocated_from(rec)
                if credit is not None:
                    note = records_repo.credit_note(tx, rec.system, credit[1])
                    what = f"{rec.system.label} {_credit_label(credit[0])}"
                    head = f"An allocation to {rec.invoice_number or '?'} of {what}"
                    notes.append(_credit_note_text(note, head) if note is not None else f"{head} {credit[1]}.")
                elif rec.group:
                    parts = records_repo.payments_in_group(tx, rec.system, rec.group)
                    total = sum((p.amount for p in parts), Decimal(0))
                    on = ", ".join(sorted({p.invoice_number or "?" for p in parts}))
                    notes.append(
                        f"Part of a combined {rec.system.label} payment {rec.group}: {fmt(total, rec.currency)} "
                        f"{rec.currency} in all over {len(parts)} invoices ({on}); this part "
                        f"{fmt(rec.amount, rec.currency)} on {rec.invoice_number or '?'}."
                    )
                if rec.credit_note_id:
                    note = records_repo.credit_note(tx, rec.system, rec.credit_note_id)
                    if note is not None:
                        notes.append(_credit_note_text(note, f"Paid out of {rec.system.label} credit note"))
        return tuple(notes)

    def _drift(self, item: ItemRecord) -> dict[str, Any]:
        """A `reopened` item's three-way view: per moved field, the agreed value at sign-off, each side now, and
        which side moved (`signoff.field_drift`); nothing for other items."""
        if signoff.REOPENED not in item.flags or item.period is None:
            return {}
        with self.db.transaction(readonly=True) as tx:
            record = signoff_repo.current_signoff(tx, item.period)
            if record is None:
                return {}
            agreed = signoff_repo.agreed_items(tx, record.id, [(item.kind.value, item.key)])
            now = signoff.current_values(tx, [item], self.rules)[item.id]
        was = agreed.get((item.kind.value, item.key))
        labels = {f.name: f.label for f in INVOICE_FIELDS} | {f.name: f.label for f in PAYMENT_FIELDS}
        rows = []
        for f in signoff.field_drift(was.agreed if was else None, now):
            same = f.agreed_source == f.agreed_ledger
            rows.append(
                DriftRow(
                    label=labels.get(f.field, f.field),
                    agreed=f.agreed_source if same else f"{f.agreed_source} / {f.agreed_ledger}",
                    source_now=f.source_now,
                    ledger_now=f.ledger_now,
                    moved=tuple(Role.SOURCE if s == signoff.SOURCE else Role.LEDGER for s in f.moved),
                )
            )
        moved = sorted({ROLES.system(r).label for d in rows for r in d.moved})
        when = record.at.strftime("%Y-%m-%d %H:%M")
        note = f"Signed off by {record.who} on {when} UTC"
        note += f"; {' and '.join(moved)} moved since." if moved else "; new in the period since."
        return {"drift": tuple(rows), "drift_note": note}

    def _twin(self, item: ItemRecord, rec: object) -> tuple[str, tuple[tuple[str, str], ...]]:
        """A flagged item's twin for people ("accessplanit payment 88059") and its values, field by field."""
        if item.twin is None or not isinstance(rec, (Invoice, Payment)):
            return "", ()
        with self.db.transaction(readonly=True) as tx:
            found = records_repo.find_record(tx, rec.system, item.kind, item.twin)
        twin = found.record if found is not None else None
        what = f"{rec.system.label} {item.kind.value} {item.twin}"
        if isinstance(twin, Invoice):
            what = f"{rec.system.label} invoice {twin.number}"
            comps = diff.compare_invoice(twin, None, self.rules)
        elif isinstance(twin, Payment):
            comps = diff.compare_payment(twin, None, self.rules)
        else:
            return what, ()
        # compare_* put the first record's values on the source side, whatever its system.
        return what, tuple((c.label, c.source_value) for c in comps if c.field != "lines")

    @staticmethod
    def _field_diff(c: diff.FieldComparison, pushable: dict[str, tuple[System, ...]], *, both: bool) -> FieldDiff:
        differs = both and not c.equal
        return FieldDiff(
            field=c.field,
            label=c.label,
            source=c.source_value,
            ledger=c.ledger_value,
            differs=differs,
            pushable_to=pushable.get(c.field, ()) if differs else (),
        )

    def _actions(self, item: ItemRecord, a: object, b: object, pushes: Sequence[StoredPush]) -> list[ActionSpec]:
        """What the user can do with this item now: pushes the rules allow, retries, resolutions."""
        out: list[ActionSpec] = []
        status = ItemStatus(item.status)
        source, ledger = ROLES.source, ROLES.ledger
        v = item.version  # each decision names the version shown: refused if someone changed the item since
        if item.kind is Kind.INVOICE:
            if status is ItemStatus.ONLY_IN_SOURCE and isinstance(a, Invoice) and a.lines:
                out.append(
                    ActionSpec(
                        PushRecord(item.id, ledger, expected_version=v),
                        f"Create this invoice in {ledger.label}",
                        ledger,
                    )
                )
            if status is ItemStatus.DIFFERS and isinstance(a, Invoice) and isinstance(b, Invoice):
                for rule in INVOICE_FIELDS:
                    if rule.name not in item.fields:
                        continue
                    for target in ROLES.systems(rule.pushable_to):
                        label = f"Push {rule.label} from {target.other.label} to {target.label}"
                        out.append(
                            ActionSpec(
                                PushField(item.id, rule.name, target, expected_version=v), label, target, rule.name
                            )
                        )
        elif item.kind is Kind.PAYMENT:
            if status is ItemStatus.ONLY_IN_SOURCE and isinstance(a, Payment):
                if self._invoice_on(ledger, invoice_key(a.invoice_number)) is not None:
                    out.append(
                        ActionSpec(
                            PushRecord(item.id, ledger, expected_version=v),
                            f"Record this payment in {ledger.label}",
                            ledger,
                        )
                    )
            if status is ItemStatus.ONLY_IN_LEDGER and isinstance(b, Payment):
                if self._invoice_on(source, invoice_key(b.invoice_number)) is not None:
                    out.append(
                        ActionSpec(
                            PushRecord(item.id, source, expected_version=v),
                            f"Record this payment in {source.label}",
                            source,
                        )
                    )
        latest: dict[str, StoredPush] = {}
        for p in sorted(pushes, key=lambda p: p.id):
            latest[p.action] = p
        for p in latest.values():
            if PushState(p.state) in _RETRYABLE and self._still_needed(p, item):
                label = f"Retry: {plans.describe_push(p.action)} ({p.state})"
                out.append(ActionSpec(RetryPush(p.id), label, System(p.target)))
            kind, field_name, target = plans.action_parts(p.action)
            if (
                kind == plans.PUSH_FIELD
                and PushState(p.state) is PushState.SUCCEEDED
                and not p.payload.get("revert_of")
            ):
                label = f"Revert: {plans.describe_push(p.action)}"
                out.append(ActionSpec(Revert(p.id), label, target, field_name))
        if status in RESOLVABLE:
            for res, label in RESOLUTION_LABELS.items():
                out.append(ActionSpec(Resolve(item.id, res, expected_version=v), label))
        by_hand = is_matched_by_hand(self.db, item)
        if status is ItemStatus.RESOLVED or by_hand:
            out.append(ActionSpec(Reopen(item.id, expected_version=v), "Reopen (undo the decision)"))
        if by_hand:
            out.append(ActionSpec(Unmatch(item.id, expected_version=v), "Unmatch"))
        if status in (ItemStatus.ONLY_IN_SOURCE, ItemStatus.ONLY_IN_LEDGER) and item.kind not in CREDIT_KINDS:
            # 0: the person picks the other item
            out.append(ActionSpec(Match(item.id, 0, expected_version=v), "Match with…"))
        return out


def _credit_label(kind: Kind) -> str:
    return kind.value.replace("_", " ")  # credit note, overpayment, prepayment


def _credit_note_text(note: CreditNote, head: str) -> str:
    cur = note.currency
    used = fmt(note.total - note.remaining, cur)
    on = f" (reference {note.reference})" if note.reference else ""
    if note.kind is not Kind.CREDIT_NOTE:  # an overpayment's or prepayment's number is its Reference
        on = f" (first allocated to {note.reference})" if note.reference else ""
    return (
        f"{head} {note.number}{on}: total {fmt(note.total, cur)}, allocated or refunded {used}, "
        f"remaining {fmt(note.remaining, cur)} {cur}."
    )


def suggest(offered: Sequence[ActionSpec], flags: Sequence[str]) -> list[ActionSpec]:
    """Mark the action keyboard triage takes on Enter ("OK and next"); at most one, and none when no safe default
    exists. A possible duplicate: ignore it (the note dialog is the second step). A flagged item otherwise (blocked,
    reopened): none, a person must look. Else the push that brings the ledger in line with the source: create the
    invoice or record the payment there, or, for a difference, the first differing field pushable to the ledger;
    failing that a push to the source (a ledger-only payment recorded in the source). Accepting a side is never
    suggested: it has no preview, so Enter would decide without a second step."""

    def first(test: Any) -> int | None:
        return next((i for i, s in enumerate(offered) if test(s)), None)

    if signoff.REOPENED in flags or "blocked" in flags:
        pick = None
    elif "possible_duplicate" in flags:
        pick = first(lambda s: isinstance(s.action, Resolve) and s.action.resolution is Resolution.IGNORE)
    else:
        pushes = (PushRecord, PushField)
        pick = first(lambda s: isinstance(s.action, pushes) and s.target is not None and s.target.role is Role.LEDGER)
        if pick is None:
            pick = first(lambda s: isinstance(s.action, pushes))
    return [replace(s, suggested=True) if i == pick else s for i, s in enumerate(offered)]


def audit_entry(e: Any) -> AuditEntry:
    return AuditEntry(
        at=e.at, who=e.who, action=e.action, item_key=e.item_key, before=e.before, after=e.after, note=e.note
    )


def _pretty(raw: str) -> str:
    """The stored payload as indented JSON for people (Decimals kept digit for digit)."""
    import json

    from app.storage.jsontext import loads

    try:
        data = loads(raw)
    except ValueError:
        return raw
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)
